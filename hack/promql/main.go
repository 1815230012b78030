// Command promql parses and evaluates PromQL with Prometheus's own parser and engine
// (github.com/prometheus/prometheus/promql), so the chart's tests run every query the chart emits
// through the code Prometheus runs. It reads one JSON request on stdin and writes one JSON reply:
//
//	{"series": [{"labels": {"__name__": "vllm:num_requests_waiting", "pod": "p"}, "samples": [[0, 2]]}],
//	 "queries": [{"expr": "sum(vllm:num_requests_waiting)", "time": 60}]}
//
// Sample times and query times are in seconds. "metric_relabel_configs" (Prometheus's relabel_config
// list, as YAML or JSON) is applied to every input series first, as a scrape applies it to the samples
// it reads; "relabeled" in the reply lists the label sets that survive. Each query's reply carries its parse error or its
// selectors (metric name matchers included), the functions and aggregations it calls, and its value
// at the given time: a vector of {labels, value}, or a scalar.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v2"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
)

type request struct {
	Series        []seriesIn `json:"series"`
	Queries       []queryIn  `json:"queries"`
	MetricRelabel string     `json:"metric_relabel_configs"`
}

type seriesIn struct {
	Labels  map[string]string `json:"labels"`
	Samples [][2]float64      `json:"samples"`
}

type queryIn struct {
	Expr string  `json:"expr"`
	Time float64 `json:"time"`
}

type matcherOut struct {
	Label string `json:"label"`
	Type  string `json:"type"`
	Value string `json:"value"`
}

type selectorOut struct {
	Text     string       `json:"text"`
	Name     string       `json:"name"` // the metric name, when matched exactly
	Matchers []matcherOut `json:"matchers"`
	Range    float64      `json:"range_seconds,omitempty"`
}

type sampleOut struct {
	Labels map[string]string `json:"labels"`
	Value  jsonFloat         `json:"value"`
}

type queryOut struct {
	Expr         string        `json:"expr"`
	Error        string        `json:"error,omitempty"`
	Selectors    []selectorOut `json:"selectors"`
	Functions    []string      `json:"functions"`
	Aggregations []string      `json:"aggregations"`
	Type         string        `json:"type,omitempty"`
	Vector       []sampleOut   `json:"vector,omitempty"`
	Scalar       *jsonFloat    `json:"scalar,omitempty"`
	Warnings     []string      `json:"warnings,omitempty"`
}

// jsonFloat writes NaN and infinities as strings, which JSON numbers cannot hold.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return json.Marshal(fmt.Sprint(v))
	}
	return json.Marshal(v)
}

// sample is one float sample of an input series.
type sample struct {
	t int64
	f float64
}

func (s sample) T() int64                      { return s.t }
func (s sample) ST() int64                     { return 0 }
func (s sample) F() float64                    { return s.f }
func (s sample) H() *histogram.Histogram       { return nil }
func (s sample) FH() *histogram.FloatHistogram { return nil }
func (s sample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s sample) Copy() chunks.Sample           { return s }

// memory is a storage.Queryable over the request's series.
type memory struct{ series []storage.Series }

func (m *memory) Querier(int64, int64) (storage.Querier, error) { return m, nil }

func (m *memory) Select(_ context.Context, _ bool, _ *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	var out []storage.Series
	for _, s := range m.series {
		lset := s.Labels()
		ok := true
		for _, matcher := range ms {
			if !matcher.Matches(lset.Get(matcher.Name)) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return labels.Compare(out[i].Labels(), out[j].Labels()) < 0 })
	return &seriesSet{series: out, i: -1}
}

func (m *memory) LabelValues(context.Context, string, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}

func (m *memory) LabelNames(context.Context, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}

func (m *memory) Close() error { return nil }

type seriesSet struct {
	series []storage.Series
	i      int
}

func (s *seriesSet) Next() bool                        { s.i++; return s.i < len(s.series) }
func (s *seriesSet) At() storage.Series                { return s.series[s.i] }
func (s *seriesSet) Err() error                        { return nil }
func (s *seriesSet) Warnings() annotations.Annotations { return nil }

func describe(expr parser.Expr, out *queryOut) {
	seenFn := map[string]bool{}
	seenAgg := map[string]bool{}
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			sel := selectorOut{Text: n.String(), Matchers: []matcherOut{}}
			for _, m := range n.LabelMatchers {
				sel.Matchers = append(sel.Matchers, matcherOut{Label: m.Name, Type: m.Type.String(), Value: m.Value})
				if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
					sel.Name = m.Value
				}
			}
			out.Selectors = append(out.Selectors, sel)
		case *parser.Call:
			if !seenFn[n.Func.Name] {
				seenFn[n.Func.Name] = true
				out.Functions = append(out.Functions, n.Func.Name)
			}
		case *parser.AggregateExpr:
			name := n.Op.String()
			if !seenAgg[name] {
				seenAgg[name] = true
				out.Aggregations = append(out.Aggregations, name)
			}
		}
		return nil
	})
	// Ranges of matrix selectors, matched to their selectors by text.
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		if m, ok := node.(*parser.MatrixSelector); ok {
			vs := m.VectorSelector.(*parser.VectorSelector).String()
			for i := range out.Selectors {
				if out.Selectors[i].Text == vs && out.Selectors[i].Range == 0 {
					out.Selectors[i].Range = m.Range.Seconds()
					break
				}
			}
		}
		return nil
	})
}

func labelMap(l labels.Labels) map[string]string {
	m := map[string]string{}
	l.Range(func(lb labels.Label) { m[lb.Name] = lb.Value })
	return m
}

func run(req request) ([]queryOut, []map[string]string, error) {
	var configs []*relabel.Config
	if req.MetricRelabel != "" {
		if err := yaml.UnmarshalStrict([]byte(req.MetricRelabel), &configs); err != nil {
			return nil, nil, fmt.Errorf("metric_relabel_configs: %w", err)
		}
		for i, c := range configs {
			if err := c.Validate(model.UTF8Validation); err != nil {
				return nil, nil, fmt.Errorf("metric_relabel_configs[%d]: %w", i, err)
			}
		}
	}
	store := &memory{}
	relabeled := []map[string]string{}
	for i, s := range req.Series {
		if len(s.Labels) == 0 {
			return nil, nil, fmt.Errorf("series %d has no labels", i)
		}
		lset := labels.FromMap(s.Labels)
		if configs != nil {
			builder := labels.NewBuilder(lset)
			if !relabel.ProcessBuilder(builder, configs...) {
				continue
			}
			lset = builder.Labels()
			relabeled = append(relabeled, labelMap(lset))
		}
		samples := make([]chunks.Sample, 0, len(s.Samples))
		for _, p := range s.Samples {
			samples = append(samples, sample{t: int64(math.Round(p[0] * 1000)), f: p[1]})
		}
		sort.Slice(samples, func(a, b int) bool { return samples[a].T() < samples[b].T() })
		store.series = append(store.series, storage.NewListSeries(lset, samples))
	}
	p := parser.NewParser(parser.Options{})
	engine := promql.NewEngine(promql.EngineOpts{
		MaxSamples:           50000000,
		Timeout:              time.Minute,
		LookbackDelta:        5 * time.Minute,
		EnableAtModifier:     true,
		EnableNegativeOffset: true,
		Parser:               p,
	})
	var outs []queryOut
	for _, q := range req.Queries {
		out := queryOut{Expr: q.Expr, Selectors: []selectorOut{}, Functions: []string{}, Aggregations: []string{}}
		expr, err := p.ParseExpr(q.Expr)
		if err != nil {
			out.Error = err.Error()
			outs = append(outs, out)
			continue
		}
		describe(expr, &out)
		ts := time.UnixMilli(int64(math.Round(q.Time * 1000)))
		query, err := engine.NewInstantQuery(context.Background(), store, nil, q.Expr, ts)
		if err != nil {
			out.Error = err.Error()
			outs = append(outs, out)
			continue
		}
		res := query.Exec(context.Background())
		for _, w := range res.Warnings.AsErrors() {
			out.Warnings = append(out.Warnings, w.Error())
		}
		if res.Err != nil {
			out.Error = res.Err.Error()
		} else {
			switch v := res.Value.(type) {
			case promql.Vector:
				out.Type = "vector"
				out.Vector = []sampleOut{}
				for _, s := range v {
					out.Vector = append(out.Vector, sampleOut{Labels: labelMap(s.Metric), Value: jsonFloat(s.F)})
				}
			case promql.Scalar:
				out.Type = "scalar"
				f := jsonFloat(v.V)
				out.Scalar = &f
			default:
				out.Type = string(res.Value.Type())
			}
		}
		query.Close()
		outs = append(outs, out)
	}
	return outs, relabeled, nil
}

func main() {
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, "promql: reading the request:", err)
		os.Exit(2)
	}
	outs, relabeled, err := run(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "promql:", err)
		os.Exit(2)
	}
	if err := json.NewEncoder(os.Stdout).Encode(map[string]any{"results": outs, "relabeled": relabeled}); err != nil {
		fmt.Fprintln(os.Stderr, "promql:", err)
		os.Exit(2)
	}
}
