// Command eppflags checks endpoint-picker (EPP) argument lists with the EPP's own flag set: the
// Options of sigs.k8s.io/gateway-api-inference-extension/pkg/epp/server at the version go.mod pins
// (v1.5.0, the newest Gateway API Inference Extension release that still ships the full EPP; its successor,
// github.com/llm-d/llm-d-router, is not served by the Go module proxy this project builds from),
// registered, parsed, completed and validated exactly as cmd/epp's runner does before it starts.
//
// It reads a JSON array of argv arrays on stdin and writes one JSON object per argv:
// {"ok": bool, "error": string, "flags": {name: value} of the flags the argv set}.
//
// With the argument "config" it reads a JSON array of EndpointPickerConfig texts instead and loads each
// through the EPP's config loader (pkg/epp/config/loader): strict decoding, the feature gates the runner
// registers, then the plugins, system defaults (saturation detector, data layer, parser) and scheduling
// profiles instantiated from the in-tree plugin factories.
// One object per text: {"ok": bool, "error": string, "featureGates": [the gates it turns on]}.
//
// With "hold" it reads one request {config, pool, model, waitMs, peekMs, podAfterMs, emptySubset, flags}
// and plays the EPP's request path for it at a pool with no pod, one appearing after podAfterMs (hold.go).
//
// With "serve" it reads one request {kubeconfig, as, args, config, ports, objectives, pods, waitMs} and runs
// the EPP itself, set up by cmd/epp's runner, against that API server as the impersonated user (serve.go).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/types"

	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/config/loader"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/datalayer"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/flowcontrol"
	fwkplugin "sigs.k8s.io/gateway-api-inference-extension/pkg/epp/framework/interface/plugin"
	extractormetrics "sigs.k8s.io/gateway-api-inference-extension/pkg/epp/framework/plugins/datalayer/extractor/metrics"
	sourcemetrics "sigs.k8s.io/gateway-api-inference-extension/pkg/epp/framework/plugins/datalayer/source/metrics"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/framework/plugins/flowcontrol/fairness"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/framework/plugins/flowcontrol/ordering"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/framework/plugins/flowcontrol/saturationdetector/concurrency"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/framework/plugins/flowcontrol/saturationdetector/utilization"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/framework/plugins/flowcontrol/usagelimits"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/framework/plugins/requesthandling/parsers/openai"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/framework/plugins/requesthandling/parsers/passthrough"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/framework/plugins/scheduling/picker"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/framework/plugins/scheduling/profile"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/framework/plugins/scheduling/scorer/kvcacheutilization"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/framework/plugins/scheduling/scorer/loraaffinity"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/framework/plugins/scheduling/scorer/prefix"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/framework/plugins/scheduling/scorer/queuedepth"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/framework/plugins/scheduling/scorer/runningrequests"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/framework/plugins/scheduling/scorer/tokenload"
	runserver "sigs.k8s.io/gateway-api-inference-extension/pkg/epp/server"
)

type verdict struct {
	OK    bool              `json:"ok"`
	Error string            `json:"error"`
	Flags map[string]string `json:"flags"`
}

func check(argv []string) verdict {
	opts := runserver.NewOptions()
	fs := pflag.NewFlagSet("epp", pflag.ContinueOnError)
	fs.SetOutput(nopWriter{})
	opts.AddFlags(fs)
	if err := fs.Parse(argv); err != nil {
		return verdict{Error: err.Error()}
	}
	if fs.NArg() > 0 {
		return verdict{Error: fmt.Sprintf("unexpected arguments: %v", fs.Args())}
	}
	if err := opts.Complete(); err != nil {
		return verdict{Error: err.Error()}
	}
	if err := opts.Validate(); err != nil {
		return verdict{Error: err.Error()}
	}
	set := map[string]string{}
	fs.Visit(func(f *pflag.Flag) { set[f.Name] = f.Value.String() })
	return verdict{OK: true, Flags: set}
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }

type configVerdict struct {
	OK           bool     `json:"ok"`
	Error        string   `json:"error"`
	FeatureGates []string `json:"featureGates"`
}

// registerConfigurables registers what cmd/epp's runner registers before it loads a config file
// (runner.parseConfigurationPhaseOne, registerInTreePlugins): its feature gates and its in-tree plugin types
// meant for production (the runner also registers test-only plugins and the latency-predictor plugins, which
// no chart config names).
func registerConfigurables() {
	for _, gate := range []string{
		datalayer.ExperimentalDatalayerFeatureGate, datalayer.EnableLegacyMetricsFeatureGate, flowcontrol.FeatureGate,
	} {
		loader.RegisterFeatureGate(gate)
	}
	fwkplugin.Register(prefix.PrefixCacheScorerPluginType, prefix.PrefixCachePluginFactory)
	fwkplugin.Register(picker.MaxScorePickerType, picker.MaxScorePickerFactory)
	fwkplugin.Register(picker.RandomPickerType, picker.RandomPickerFactory)
	fwkplugin.Register(picker.WeightedRandomPickerType, picker.WeightedRandomPickerFactory)
	fwkplugin.Register(profile.SingleProfileHandlerType, profile.SingleProfileHandlerFactory)
	fwkplugin.Register(kvcacheutilization.KvCacheUtilizationScorerType, kvcacheutilization.KvCacheUtilizationScorerFactory)
	fwkplugin.Register(queuedepth.QueueScorerType, queuedepth.QueueScorerFactory)
	fwkplugin.Register(runningrequests.RunningRequestsSizeScorerType, runningrequests.RunningRequestsSizeScorerFactory)
	fwkplugin.Register(loraaffinity.LoraAffinityScorerType, loraaffinity.LoraAffinityScorerFactory)
	fwkplugin.Register(tokenload.TokenLoadScorerType, tokenload.TokenLoadScorerFactory)
	fwkplugin.Register(fairness.GlobalStrictFairnessPolicyType, fairness.GlobalStrictFairnessPolicyFactory)
	fwkplugin.Register(fairness.RoundRobinFairnessPolicyType, fairness.RoundRobinFairnessPolicyFactory)
	fwkplugin.Register(ordering.FCFSOrderingPolicyType, ordering.FCFSOrderingPolicyFactory)
	fwkplugin.Register(ordering.EDFOrderingPolicyType, ordering.EDFOrderingPolicyFactory)
	fwkplugin.Register(usagelimits.StaticUsageLimitPolicyType, usagelimits.StaticPolicyFactory)
	fwkplugin.Register(sourcemetrics.MetricsDataSourceType, sourcemetrics.MetricsDataSourceFactory)
	fwkplugin.Register(extractormetrics.MetricsExtractorType, extractormetrics.CoreMetricsExtractorFactory)
	fwkplugin.Register(openai.OpenAIParserType, openai.OpenAIParserPluginFactory)
	fwkplugin.Register(passthrough.PassthroughParserType, passthrough.PassthroughParserPluginFactory)
	fwkplugin.Register(concurrency.ConcurrencyDetectorType, concurrency.ConcurrencyDetectorFactory)
	fwkplugin.Register(utilization.UtilizationDetectorType, utilization.UtilizationDetectorFactory)
}

func checkConfig(text string) configVerdict {
	raw, gates, err := loader.LoadRawConfig([]byte(text), logr.Discard())
	if err != nil {
		return configVerdict{Error: err.Error()}
	}
	handle := fwkplugin.NewEppHandle(context.Background(), func() []types.NamespacedName { return nil })
	if _, err := loader.InstantiateAndConfigure(raw, handle, logr.Discard()); err != nil {
		return configVerdict{Error: err.Error()}
	}
	on := []string{}
	for gate, enabled := range gates {
		if enabled {
			on = append(on, gate)
		}
	}
	sort.Strings(on)
	return configVerdict{OK: true, FeatureGates: on}
}

func main() {
	var out any
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		var req serveRequest
		if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
			fmt.Fprintln(os.Stderr, "eppflags serve: stdin is not a JSON request:", err)
			os.Exit(2)
		}
		out = serve(req)
	} else if len(os.Args) > 1 && os.Args[1] == "hold" {
		var req holdRequest
		if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
			fmt.Fprintln(os.Stderr, "eppflags hold: stdin is not a JSON request:", err)
			os.Exit(2)
		}
		registerConfigurables()
		out = hold(req)
	} else if len(os.Args) > 1 && os.Args[1] == "config" {
		var texts []string
		if err := json.NewDecoder(os.Stdin).Decode(&texts); err != nil {
			fmt.Fprintln(os.Stderr, "eppflags config: stdin is not a JSON array of config texts:", err)
			os.Exit(2)
		}
		registerConfigurables()
		verdicts := make([]configVerdict, 0, len(texts))
		for _, text := range texts {
			verdicts = append(verdicts, checkConfig(text))
		}
		out = verdicts
	} else {
		var argvs [][]string
		if err := json.NewDecoder(os.Stdin).Decode(&argvs); err != nil {
			fmt.Fprintln(os.Stderr, "eppflags: stdin is not a JSON array of argv arrays:", err)
			os.Exit(2)
		}
		verdicts := make([]verdict, 0, len(argvs))
		for _, argv := range argvs {
			verdicts = append(verdicts, check(argv))
		}
		out = verdicts
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(1)
	}
}
