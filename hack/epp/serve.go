package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sort"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"sigs.k8s.io/gateway-api-inference-extension/cmd/epp/runner"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/datastore"
	runserver "sigs.k8s.io/gateway-api-inference-extension/pkg/epp/server"
)

// serveRequest asks the picker to start against a real API server, as the identity its Deployment runs as.
type serveRequest struct {
	Kubeconfig string   `json:"kubeconfig"` // an admin kubeconfig of the cluster
	As         string   `json:"as"`         // the user to impersonate: the picker's ServiceAccount
	Args       []string `json:"args"`       // the picker's argv, as the chart renders it
	Config     string   `json:"config"`     // its --config-file's text
	Ports      []int    `json:"ports"`      // free local ports for ext-proc, health and metrics
	Objectives []string `json:"objectives"` // InferenceObjectives to wait for
	Pods       int      `json:"pods"`       // serving pods to wait for
	WaitMs     int      `json:"waitMs"`     // how long to wait for all of it
}

type serveVerdict struct {
	Error      string         `json:"error"`      // why the picker did not start, or stopped
	PoolSynced bool           `json:"poolSynced"` // it read its InferencePool
	Endpoints  []string       `json:"endpoints"`  // the serving pods it tracks, as name=address:port
	Objectives map[string]int `json:"objectives"` // the InferenceObjectives it holds, with their priorities
	Health     string         `json:"health"`     // its gRPC health answer for the probes' service name
	Metrics    int            `json:"metrics"`    // the HTTP status of its /metrics to a scraper without a token
}

// serve runs the picker as cmd/epp's runner sets it up (runner.NewTestRunnerSetup: the same flag handling,
// config loading, controller manager, reconcilers, datastore, ext-proc and health servers), against the API
// server of the kubeconfig, as the user it impersonates, until it has synced its pool and holds the pods and
// objectives asked for, or waitMs passes.
func serve(req serveRequest) serveVerdict {
	// Errors only, without stack traces: a forbidden list or watch then reads plainly at the log's end.
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel), zap.StacktraceLevel(zapcore.PanicLevel)))
	cfg, err := clientcmd.BuildConfigFromFlags("", req.Kubeconfig)
	if err != nil {
		return serveVerdict{Error: err.Error()}
	}
	cfg.Impersonate.UserName = req.As
	opts := runserver.NewOptions()
	fs := pflag.NewFlagSet("epp", pflag.ContinueOnError)
	opts.AddFlags(fs)
	if err := fs.Parse(req.Args); err != nil {
		return serveVerdict{Error: err.Error()}
	}
	file, err := os.CreateTemp("", "epp-config-*.yaml")
	if err != nil {
		return serveVerdict{Error: err.Error()}
	}
	defer os.Remove(file.Name())
	if _, err := file.WriteString(req.Config); err != nil {
		return serveVerdict{Error: err.Error()}
	}
	file.Close()
	// Where the pod mounts its ConfigMap, and the ports the pod has to itself, are this process's to choose.
	opts.ConfigFile = file.Name()
	opts.GRPCPort, opts.GRPCHealthPort, opts.MetricsPort = req.Ports[0], req.Ports[1], req.Ports[2]
	if err := opts.Complete(); err != nil {
		return serveVerdict{Error: err.Error()}
	}
	if err := opts.Validate(); err != nil {
		return serveVerdict{Error: err.Error()}
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	mgr, ds, err := runner.NewTestRunnerSetup(ctx, cfg, opts, nil, nil)
	if err != nil {
		return serveVerdict{Error: err.Error()}
	}
	stopped := make(chan error, 1)
	go func() { stopped <- mgr.Start(ctx) }()

	verdict := serveVerdict{Objectives: map[string]int{}}
	deadline := time.Now().Add(time.Duration(req.WaitMs) * time.Millisecond)
	for {
		verdict.PoolSynced = ds.PoolHasSynced()
		verdict.Endpoints = verdict.Endpoints[:0]
		for _, endpoint := range ds.PodList(datastore.AllPodsPredicate) {
			meta := endpoint.GetMetadata()
			verdict.Endpoints = append(verdict.Endpoints, fmt.Sprintf("%s=%s:%s", meta.PodName, meta.Address, meta.Port))
		}
		sort.Strings(verdict.Endpoints)
		verdict.Objectives = map[string]int{}
		for _, objective := range ds.ObjectiveGetAll() {
			priority := 0
			if objective.Spec.Priority != nil {
				priority = *objective.Spec.Priority
			}
			verdict.Objectives[objective.Name] = priority
		}
		complete := verdict.PoolSynced && len(verdict.Endpoints) >= req.Pods
		for _, name := range req.Objectives {
			_, held := verdict.Objectives[name]
			complete = complete && held
		}
		if complete {
			break
		}
		select {
		case err := <-stopped:
			verdict.Error = fmt.Sprintf("the picker stopped: %v", err)
			return verdict
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			verdict.Error = fmt.Sprintf("not ready after %d ms", req.WaitMs)
			break
		}
	}
	verdict.Health = health(ctx, opts.GRPCHealthPort)
	verdict.Metrics = scrape(opts.MetricsPort)
	return verdict
}

// scrape asks for the picker's metrics as Google Managed Prometheus's collector does: plain HTTP, no token.
func scrape(port int) int {
	response, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		return 0
	}
	defer response.Body.Close()
	return response.StatusCode
}

// health asks the picker's gRPC health server what the kubelet's probes and GKE's health check ask.
func health(ctx context.Context, port int) string {
	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", port), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err.Error()
	}
	defer conn.Close()
	ask, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	answer, err := healthpb.NewHealthClient(conn).Check(ask, &healthpb.HealthCheckRequest{Service: "inference-extension"})
	if err != nil {
		return err.Error()
	}
	return answer.GetStatus().String()
}
