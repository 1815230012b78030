package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/config/loader"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/datastore"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/flowcontrol"
	fccontroller "sigs.k8s.io/gateway-api-inference-extension/pkg/epp/flowcontrol/controller"
	fcregistry "sigs.k8s.io/gateway-api-inference-extension/pkg/epp/flowcontrol/registry"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/handlers"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/metrics"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/plugins"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/requestcontrol"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/saturationdetector/framework/plugins/utilizationdetector"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/scheduling"
	errutil "sigs.k8s.io/gateway-api-inference-extension/pkg/epp/util/error"
)

// holdRequest asks for one request's fate at a pool that has no pod.
type holdRequest struct {
	Config string `json:"config"` // the EndpointPickerConfig text (--config-file)
	Pool   string `json:"pool"`   // --pool-name
	Model  string `json:"model"`  // the request body's model
	WaitMs int    `json:"waitMs"` // how long the gateway keeps the request open
	PeekMs int    `json:"peekMs"` // when to read the picker's metrics while the request is open
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
	WhileHeld []series `json:"whileHeld"` // the picker's gauges and counters at peekMs
}

// hold plays the picker's request path (pkg/epp/requestcontrol.Director, as cmd/epp/runner wires it: the
// admission controller the config's feature gates choose, the datastore's pod locator) for one request
// at a pool whose datastore holds no pod, with the gateway giving up after waitMs.
func hold(req holdRequest) holdVerdict {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	raw, gates, err := loader.LoadRawConfig([]byte(req.Config), logr.Discard())
	if err != nil {
		return holdVerdict{Error: err.Error()}
	}
	handle := plugins.NewEppHandle(ctx, func() []types.NamespacedName { return nil })
	cfg, err := loader.InstantiateAndConfigure(raw, handle, logr.Discard())
	if err != nil {
		return holdVerdict{Error: err.Error()}
	}
	metrics.Register()
	ds := datastore.NewDatastore(ctx, nil, 0)
	podLocator := requestcontrol.NewDatastorePodLocator(ds)
	detector := utilizationdetector.NewDetector(cfg.SaturationDetectorConfig, logr.Discard())
	var admission requestcontrol.AdmissionController
	if gates[flowcontrol.FeatureGate] {
		cached := requestcontrol.NewCachedPodLocator(ctx, podLocator, 50*time.Millisecond)
		fcCfg, err := (&flowcontrol.Config{Controller: fccontroller.Config{}, Registry: mustRegistryConfig()}).ValidateAndApplyDefaults()
		if err != nil {
			return holdVerdict{Error: err.Error()}
		}
		registry, err := fcregistry.NewFlowRegistry(fcCfg.Registry, logr.Discard())
		if err != nil {
			return holdVerdict{Error: err.Error()}
		}
		fc, err := fccontroller.NewFlowController(ctx, fcCfg.Controller, registry, detector, cached)
		if err != nil {
			return holdVerdict{Error: err.Error()}
		}
		go registry.Run(ctx)
		admission = requestcontrol.NewFlowControlAdmissionController(fc, req.Pool)
	} else {
		admission = requestcontrol.NewLegacyAdmissionController(detector, podLocator)
	}
	director := requestcontrol.NewDirectorWithConfig(
		ds, scheduling.NewSchedulerWithConfig(cfg.SchedulerConfig), admission, podLocator, requestcontrol.NewConfig())

	// As the ext-proc handler leaves a request without fairness or objective headers
	// (pkg/epp/handlers/request.go: the default flow "default-flow").
	reqCtx := &handlers.RequestContext{
		FairnessID: "default-flow",
		Request: &handlers.Request{
			Headers:  map[string]string{},
			Body:     map[string]any{"model": req.Model, "prompt": "hello"},
			Metadata: map[string]any{},
		},
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
	verdict := holdVerdict{HeldMs: time.Since(start).Milliseconds(), WhileHeld: peek}
	var epp errutil.Error
	if errors.As(outcome, &epp) {
		verdict.Code, verdict.Message = epp.Code, epp.Msg
	} else if outcome != nil {
		verdict.Code, verdict.Message = "?", outcome.Error()
	}
	return verdict
}

func mustRegistryConfig() *fcregistry.Config {
	cfg, err := fcregistry.NewConfig()
	if err != nil {
		panic(fmt.Sprintf("the flow registry's default config: %v", err))
	}
	return cfg
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
