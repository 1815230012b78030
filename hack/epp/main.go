// Command eppflags checks endpoint-picker (EPP) argument lists with the EPP's own flag set: the
// Options of sigs.k8s.io/gateway-api-inference-extension/pkg/epp/server at the version go.mod pins,
// registered, parsed, completed and validated exactly as cmd/epp's runner does before it starts.
//
// It reads a JSON array of argv arrays on stdin and writes one JSON object per argv:
// {"ok": bool, "error": string, "flags": {name: value} of the flags the argv set}.
//
// With the argument "config" it reads a JSON array of EndpointPickerConfig texts instead and loads each
// through the EPP's config loader (pkg/epp/config/loader): strict decoding, the feature gates the runner
// registers, then the plugins and scheduling profiles instantiated from the in-tree plugin factories.
// One object per text: {"ok": bool, "error": string, "featureGates": [the gates it turns on]}.
//
// With "hold" it reads one request {config, pool, model, waitMs, peekMs} and plays the EPP's request path
// for it at a pool with no pod (hold.go).
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
	dlmetrics "sigs.k8s.io/gateway-api-inference-extension/pkg/epp/datalayer/metrics"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/flowcontrol"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/plugins"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/scheduling/framework/plugins/multi/prefix"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/scheduling/framework/plugins/picker"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/scheduling/framework/plugins/profile"
	"sigs.k8s.io/gateway-api-inference-extension/pkg/epp/scheduling/framework/plugins/scorer"
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

// registerConfigurables registers what cmd/epp's runner registers before it loads a config file: its
// feature gates and its in-tree plugin types (those meant for production; the runner also registers
// test-only plugins and the latency-predictor router, which no chart config names).
func registerConfigurables() {
	for _, gate := range []string{
		datalayer.ExperimentalDatalayerFeatureGate, flowcontrol.FeatureGate, datalayer.PrepareDataPluginsFeatureGate,
	} {
		loader.RegisterFeatureGate(gate)
	}
	plugins.Register(prefix.PrefixCachePluginType, prefix.PrefixCachePluginFactory)
	plugins.Register(picker.MaxScorePickerType, picker.MaxScorePickerFactory)
	plugins.Register(picker.RandomPickerType, picker.RandomPickerFactory)
	plugins.Register(picker.WeightedRandomPickerType, picker.WeightedRandomPickerFactory)
	plugins.Register(profile.SingleProfileHandlerType, profile.SingleProfileHandlerFactory)
	plugins.Register(scorer.KvCacheUtilizationScorerType, scorer.KvCacheUtilizationScorerFactory)
	plugins.Register(scorer.QueueScorerType, scorer.QueueScorerFactory)
	plugins.Register(scorer.RunningRequestsSizeScorerType, scorer.RunningRequestsSizeScorerFactory)
	plugins.Register(scorer.LoraAffinityScorerType, scorer.LoraAffinityScorerFactory)
	plugins.Register(dlmetrics.MetricsDataSourceType, dlmetrics.MetricsDataSourceFactory)
	plugins.Register(dlmetrics.MetricsExtractorType, dlmetrics.ModelServerExtractorFactory)
}

func checkConfig(text string) configVerdict {
	raw, gates, err := loader.LoadRawConfig([]byte(text), logr.Discard())
	if err != nil {
		return configVerdict{Error: err.Error()}
	}
	handle := plugins.NewEppHandle(context.Background(), func() []types.NamespacedName { return nil })
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
	if len(os.Args) > 1 && os.Args[1] == "hold" {
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
