package main

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	errcommon "sigs.k8s.io/gateway-api-inference-extension/pkg/common/error"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/config/loader"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/datalayer"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/datastore"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/flowcontrol"
	fccontroller "sigs.k8s.io/gateway-api-inference-extension/pkg/epp/flowcontrol/controller"
	fcregistry "sigs.k8s.io/gateway-api-inference-extension/pkg/epp/flowcontrol/registry"
	fwkdl "sigs.k8s.io/gateway-api-inference-extension/pkg/epp/framework/interface/datalayer"
	fwkplugin "sigs.k8s.io/gateway-api-inference-extension/pkg/epp/framework/interface/plugin"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/handlers"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/metadata"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/metrics"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/requestcontrol"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/scheduling"
	runserver "sigs.k8s.io/gateway-api-inference-extension/pkg/epp/server"
)

// holdRequest asks for one request's fate at a pool that has no pod when the request arrives.
type holdRequest struct {
	Config      string   `json:"config"`      // the EndpointPickerConfig text (--config-file)
	Args        []string `json:"args"`        // the picker's argv (its --pool-name, --disable-endpoint-subset-filter)
	Model       string   `json:"model"`       // the request body's model
	WaitMs      int      `json:"waitMs"`      // how long the gateway keeps the request open
	PeekMs      int      `json:"peekMs"`      // when to read the picker's metrics while the request is open
	PodAfterMs  int      `json:"podAfterMs"`  // when a serving pod joins the pool (0: none does)
	EmptySubset bool     `json:"emptySubset"` // the gateway's endpoint-subset hint, empty as sent while the pool had no endpoint
}

type series struct {
	Labels  map[string]string `json:"labels"`
	Samples [][2]float64      `json:"samples"`
}

type holdVerdict struct {
	Error     string   `json:"error"`     // why the setup failed (not the request's outcome)
	HeldMs    int64    `json:"heldMs"`    // how long the picker kept the request
	Code      string   `json:"code"`      // the picker's error code for the request ("" if routed)
	Message   string   `json:"message"`   // its message
	Endpoint  string   `json:"endpoint"`  // where the picker sent the request ("" if it did not)
	WhileHeld []series `json:"whileHeld"` // the picker's gauges and counters at peekMs
}

// The pod that joins the pool: a serving pod of the release at its API port.
const (
	podIP   = "10.0.0.7"
	podPort = 8000
)

// hold plays the picker's request path as cmd/epp's runner wires it (runner.setup: the endpoint candidates with
// the --disable-endpoint-subset-filter option, cached when flow control is on; the admission controller the
// config's feature gates choose; the Director with the config's scheduler and parser) for one request at a pool
// whose datastore holds no pod, the gateway giving up after waitMs. With podAfterMs a serving pod joins the pool
// then, with the reading the picker's first scrape of an idle vLLM would give it.
func hold(req holdRequest) holdVerdict {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	opts := runserver.NewOptions()
	fs := pflag.NewFlagSet("epp", pflag.ContinueOnError)
	opts.AddFlags(fs)
	if err := fs.Parse(req.Args); err != nil {
		return holdVerdict{Error: err.Error()}
	}
	raw, gates, err := loader.LoadRawConfig([]byte(req.Config), logr.Discard())
	if err != nil {
		return holdVerdict{Error: err.Error()}
	}
	runtime := datalayer.NewRuntime(opts.RefreshMetricsInterval)
	pool := datalayer.NewEndpointPool("default", opts.PoolName)
	pool.Selector = map[string]string{"app.kubernetes.io/component": "server"}
	pool.TargetPorts = []int{podPort}
	ds := datastore.NewDatastore(ctx, runtime, 0).WithEndpointPool(pool)
	handle := fwkplugin.NewEppHandle(ctx, func() []types.NamespacedName { return nil })
	cfg, err := loader.InstantiateAndConfigure(raw, handle, logr.Discard())
	if err != nil {
		return holdVerdict{Error: err.Error()}
	}
	metrics.Register()
	var candidates interface {
		Locate(context.Context, map[string]any) []fwkdl.Endpoint
	} = requestcontrol.NewDatastoreEndpointCandidates(ds, requestcontrol.WithDisableEndpointSubsetFilter(opts.DisableEndpointSubsetFilter))
	var admission requestcontrol.AdmissionController
	if gates[flowcontrol.FeatureGate] {
		cached := requestcontrol.NewCachedEndpointCandidates(ctx, candidates, 50*time.Millisecond)
		candidates = cached
		registry, err := fcregistry.NewFlowRegistry(cfg.FlowControlConfig.Registry, logr.Discard())
		if err != nil {
			return holdVerdict{Error: err.Error()}
		}
		fc, err := fccontroller.NewFlowController(ctx, opts.PoolName, cfg.FlowControlConfig.Controller, fccontroller.Deps{
			Registry:           registry,
			SaturationDetector: cfg.SaturationDetector,
			EndpointCandidates: cached,
			UsageLimitPolicy:   cfg.FlowControlConfig.UsageLimitPolicy,
		})
		if err != nil {
			return holdVerdict{Error: err.Error()}
		}
		go registry.Run(ctx)
		admission = requestcontrol.NewFlowControlAdmissionController(fc, opts.PoolName)
	} else {
		admission = requestcontrol.NewLegacyAdmissionController(cfg.SaturationDetector, candidates)
	}
	control := requestcontrol.NewConfig()
	control.AddPlugins(handle.GetAllPlugins()...)
	director := requestcontrol.NewDirectorWithConfig(
		ds, scheduling.NewSchedulerWithConfig(cfg.SchedulerConfig), admission, handlers.NewParser(cfg.ParserConfig),
		candidates, control)

	body, _ := json.Marshal(map[string]any{"model": req.Model, "prompt": "hello"})
	requestMetadata := map[string]any{}
	if req.EmptySubset {
		requestMetadata[metadata.SubsetFilterNamespace] = map[string]any{metadata.SubsetFilterKey: []any{}}
	}
	// As the ext-proc handler leaves a request without fairness or objective headers (the default flow).
	reqCtx := &handlers.RequestContext{
		FairnessID:  "default-flow",
		RequestSize: len(body),
		Request:     &handlers.Request{Headers: map[string]string{}, RawBody: body, Metadata: requestMetadata},
	}
	if req.PodAfterMs > 0 {
		go func() {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(req.PodAfterMs) * time.Millisecond):
			}
			ds.PodUpdateOrAddIfNotExist(ctx, servingPod())
			for _, endpoint := range ds.PodList(datastore.AllPodsPredicate) {
				endpoint.UpdateMetrics(&fwkdl.Metrics{UpdateTime: time.Now(), MaxActiveModels: 0})
			}
		}()
	}
	gateway, giveUp := context.WithTimeout(ctx, time.Duration(req.WaitMs)*time.Millisecond)
	defer giveUp()
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		_, err := director.HandleRequest(gateway, reqCtx)
		done <- err
	}()
	var peek []series
	var outcome error
	select {
	case outcome = <-done:
	case <-time.After(time.Duration(req.PeekMs) * time.Millisecond):
		peek = gather()
		outcome = <-done
	}
	verdict := holdVerdict{HeldMs: time.Since(start).Milliseconds(), WhileHeld: peek, Endpoint: reqCtx.TargetEndpoint}
	var epp errcommon.Error
	if errors.As(outcome, &epp) {
		verdict.Code, verdict.Message = epp.Code, epp.Msg
	} else if outcome != nil {
		verdict.Code, verdict.Message = "?", outcome.Error()
	}
	return verdict
}

// servingPod is a Ready serving pod of the pool, as the pod reconciler hands it to the datastore.
func servingPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "vllm-0", Namespace: "default", Labels: map[string]string{"app.kubernetes.io/component": "server"},
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "vllm", Ports: []corev1.ContainerPort{{ContainerPort: podPort}}}}},
		Status: corev1.PodStatus{
			PodIP:      podIP,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		},
	}
}

// gather reads the picker's own metrics (inference_* families) as the /metrics endpoint would serve them.
func gather() []series {
	families, err := crmetrics.Registry.Gather()
	if err != nil {
		return nil
	}
	var out []series
	for _, family := range families {
		for _, m := range family.GetMetric() {
			var value float64
			switch {
			case m.GetGauge() != nil:
				value = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				value = m.GetCounter().GetValue()
			default:
				continue
			}
			labels := map[string]string{"__name__": family.GetName()}
			for _, pair := range m.GetLabel() {
				labels[pair.GetName()] = pair.GetValue()
			}
			out = append(out, series{Labels: labels, Samples: [][2]float64{{0, value}}})
		}
	}
	return out
}
