package main

import (
	"crypto/tls"
	"flag"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	volcanov1beta1 "volcano.sh/apis/pkg/apis/scheduling/v1beta1"

	configapi "sigs.k8s.io/lws/api/config/v1alpha1"
	disaggregatedsetv1 "sigs.k8s.io/lws/api/disaggregatedset/v1"
	leaderworkersetv1 "sigs.k8s.io/lws/api/leaderworkerset/v1"
	lwsconfig "sigs.k8s.io/lws/pkg/config"
	"sigs.k8s.io/lws/pkg/controllers"
	disaggregatedsetcontroller "sigs.k8s.io/lws/pkg/controllers/disaggregatedset"
	"sigs.k8s.io/lws/pkg/schedulerprovider"
	"sigs.k8s.io/lws/pkg/utils/useragent"
	"sigs.k8s.io/lws/pkg/version"
	"sigs.k8s.io/lws/pkg/webhooks"
	disaggregatedsetwebhook "sigs.k8s.io/lws/pkg/webhooks/disaggregatedset"
)

// runLWS mirrors sigs.k8s.io/lws/cmd/main.go (the LeaderWorkerSet controller
// manager) with what the local cluster needs and nothing else:
//
//   - configuration only from --config (lws' Configuration file, including
//     clientConnection's QPS and burst); the upstream main's flags that
//     duplicate it (deprecated there) are not offered, nor leader election ones;
//   - no internal certificate management: cert-controller would issue a
//     certificate for lws-webhook-service.<namespace>.svc and patch the webhook
//     configurations to point there, which the kube-apiserver cannot reach
//     without a pod network. The caller issues a serving certificate for
//     127.0.0.1, writes it to webhook.certDir, and creates the webhook
//     configurations with clientConfig.url itself;
//   - --disaggregatedset=false leaves out the DisaggregatedSet controller and
//     webhook (upstream always runs them), so that a cluster that does not use
//     DisaggregatedSets need not carry their 1.5 MB CRD.
func runLWS(args []string) int {
	// As for kwok: the Kubernetes packages linked into this binary registered
	// flags on the global flag set; lws' binary has only controller-runtime's.
	flag.CommandLine = flag.NewFlagSet(args[0], flag.ExitOnError)
	ctrlconfig.RegisterFlags(flag.CommandLine) // --kubeconfig

	var (
		configFile    string
		printVersion  bool
		disaggregated bool
	)
	flag.BoolVar(&printVersion, "version", false, "Print version information and exit")
	flag.StringVar(&configFile, "config", "", "lws Configuration file (config.lws.x-k8s.io/v1alpha1); internalCertManagement.enable must be false")
	flag.BoolVar(&disaggregated, "disaggregatedset", true, "Run the DisaggregatedSet controller and webhook (needs the DisaggregatedSet CRD)")
	opts := zap.Options{Development: true}
	opts.BindFlags(flag.CommandLine)
	if err := flag.CommandLine.Parse(args[1:]); err != nil {
		return 2
	}
	if printVersion {
		fmt.Printf("Version: %s\n", version.GitVersion)
		return 0
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	setupLog := ctrl.Log.WithName("setup")

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(leaderworkersetv1.AddToScheme(scheme))
	utilruntime.Must(disaggregatedsetv1.AddToScheme(scheme))
	utilruntime.Must(configapi.AddToScheme(scheme))
	utilruntime.Must(volcanov1beta1.AddToScheme(scheme))

	options, cfg, err := lwsconfig.Load(scheme, configFile)
	if err != nil {
		setupLog.Error(err, "unable to load the configuration")
		return 1
	}
	if cfg.InternalCertManagement != nil && cfg.InternalCertManagement.Enable != nil && *cfg.InternalCertManagement.Enable {
		setupLog.Error(nil, "internalCertManagement.enable must be false in localkube: the caller provides the webhook certificate")
		return 1
	}

	// Upstream main: no HTTP/2 (CVE-2023-44487), TLS options from the configuration.
	serverTLSOpts := []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }}
	if cfg.TLS != nil {
		parsed, err := lwsconfig.ParseTLSOptions(cfg.TLS)
		if err != nil {
			setupLog.Error(err, "unable to parse TLS options from configuration")
			return 1
		}
		serverTLSOpts = append(serverTLSOpts, lwsconfig.BuildTLSOptions(parsed)...)
	}
	options.Metrics = metricsserver.Options{
		BindAddress:    cfg.Metrics.BindAddress,
		SecureServing:  true,
		FilterProvider: filters.WithAuthenticationAndAuthorization,
		TLSOpts:        serverTLSOpts,
	}
	if cfg.LeaderElection != nil && cfg.LeaderElection.ResourceNamespace != "" {
		options.LeaderElectionNamespace = cfg.LeaderElection.ResourceNamespace
	}
	lwsconfig.AddWebhookSettingsTo(&options, &cfg, serverTLSOpts)

	kubeConfig, err := ctrl.GetConfig()
	if err != nil {
		setupLog.Error(err, "unable to get kubeconfig")
		return 1
	}
	kubeConfig.QPS = *cfg.ClientConnection.QPS
	kubeConfig.Burst = int(*cfg.ClientConnection.Burst)
	if kubeConfig.UserAgent == "" {
		kubeConfig.UserAgent = useragent.Default()
	}
	setupLog.Info("Initializing", "gitVersion", version.GitVersion, "userAgent", kubeConfig.UserAgent)

	mgr, err := ctrl.NewManager(kubeConfig, options)
	if err != nil {
		setupLog.Error(err, "unable to start manager")
		return 1
	}
	if err := controllers.SetupIndexes(mgr.GetFieldIndexer()); err != nil {
		setupLog.Error(err, "unable to setup indexes")
	}
	if err := setupLWSControllers(mgr, cfg, disaggregated); err != nil {
		setupLog.Error(err, "unable to set up controllers and webhooks")
		return 1
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		setupLog.Error(err, "unable to set up health check")
		return 1
	}
	// Ready once the webhook server serves: the caller waits on /readyz before
	// creating webhook configurations that send pod admission here.
	if err := mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
		setupLog.Error(err, "unable to set up ready check")
		return 1
	}
	setupLog.Info("starting manager")
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		setupLog.Error(err, "problem running manager")
		return 1
	}
	return 0
}

// setupLWSControllers is upstream's setupControllers, called before the
// manager starts (the certificate is already in place).
func setupLWSControllers(mgr ctrl.Manager, cfg configapi.Configuration, disaggregated bool) error {
	if err := controllers.NewLeaderWorkerSetReconciler(mgr.GetClient(), mgr.GetScheme(), mgr.GetEventRecorder("leaderworkerset")).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("LeaderWorkerSet controller: %w", err)
	}
	if disaggregated {
		if err := (&disaggregatedsetcontroller.DisaggregatedSetReconciler{
			Client: mgr.GetClient(),
			Scheme: mgr.GetScheme(),
			Record: mgr.GetEventRecorder("disaggregatedset"),
		}).SetupWithManager(mgr); err != nil {
			return fmt.Errorf("DisaggregatedSet controller: %w", err)
		}
	}
	var sp schedulerprovider.SchedulerProvider
	if cfg.GangSchedulingManagement != nil {
		var err error
		sp, err = schedulerprovider.NewSchedulerProvider(schedulerprovider.ProviderType(*cfg.GangSchedulingManagement.SchedulerProvider), mgr.GetClient())
		if err != nil {
			return fmt.Errorf("scheduler provider %s: %w", *cfg.GangSchedulingManagement.SchedulerProvider, err)
		}
	}
	if err := controllers.NewPodReconciler(mgr.GetClient(), mgr.GetScheme(), mgr.GetEventRecorder("leaderworkerset"), sp).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("Pod controller: %w", err)
	}
	if err := webhooks.SetupLeaderWorkerSetWebhook(mgr); err != nil {
		return fmt.Errorf("LeaderWorkerSet webhook: %w", err)
	}
	if err := webhooks.NewPodWebhook(sp).Setup(mgr); err != nil {
		return fmt.Errorf("Pod webhook: %w", err)
	}
	if disaggregated {
		if err := disaggregatedsetwebhook.SetupDisaggregatedSetWebhook(mgr); err != nil {
			return fmt.Errorf("DisaggregatedSet webhook: %w", err)
		}
	}
	return nil
}
