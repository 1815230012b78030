"""Prometheus's own PromQL parser and engine, for checking the queries the chart emits.

``hack/promql`` is a small Go module around ``github.com/prometheus/prometheus/promql`` (the version
its go.mod pins). It is built once (``vllm_serving.gobuild``) and answers one JSON request per run: parse
each query, list its selectors, functions and aggregations, and evaluate it at a given time over
the series the request carries.

Google Managed Prometheus evaluates PromQL in Monarch with documented differences
(https://cloud.google.com/stackdriver/docs/managed-prometheus/promql-differences): only exact
metric-name matching, and functions at parity with Prometheus 2.44. ``gmp_problems`` checks a parsed
query against both.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from vllm_serving import gobuild
from vllm_serving.errors import ClusterError

# Functions and aggregations of Prometheus 2.44, the PromQL that GMP is at parity with
# (https://prometheus.io/docs/prometheus/2.44/querying/functions/ and .../querying/operators/).
_FUNCTIONS_2_44 = """abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil changes clamp
    clamp_max clamp_min cos cosh count_over_time day_of_month day_of_week day_of_year days_in_month deg delta deriv
    exp floor
    histogram_count histogram_fraction histogram_quantile histogram_sum holt_winters hour idelta increase irate
    label_join label_replace last_over_time ln log10 log2 max_over_time min_over_time minute month pi predict_linear
    present_over_time quantile_over_time rad rate resets round scalar sgn sin sinh sort sort_desc sqrt
    stddev_over_time stdvar_over_time sum_over_time tan tanh time timestamp vector year"""
_AGGREGATIONS_2_44 = "sum min max avg group stddev stdvar count count_values bottomk topk quantile"
GMP_FUNCTIONS = frozenset(_FUNCTIONS_2_44.split())
GMP_AGGREGATIONS = frozenset(_AGGREGATIONS_2_44.split())


TOOL = gobuild.GoTool(
    "promql",
    "the PromQL checker (hack/promql)",
    ("promql",),
    src=Path(__file__).resolve().parents[2] / "hack" / "promql",
)


def series(labels: Mapping[str, str], *samples: tuple[float, float]) -> dict:
    """One input series: its labels (``__name__`` included) and (seconds, value) samples."""
    return {"labels": dict(labels), "samples": [list(s) for s in samples]}


def _ask(request: dict) -> dict:
    proc = subprocess.run([str(TOOL.ensure() / "promql")], input=json.dumps(request), capture_output=True, text=True)
    if proc.returncode != 0:
        raise ClusterError(f"the PromQL helper failed: {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def run(series_list: Iterable[dict], queries: Sequence[tuple[str, float]]) -> list[dict]:
    """Parse and evaluate each (expr, time in seconds) over the series; one result dict per query."""
    request = {"series": list(series_list), "queries": [{"expr": e, "time": t} for e, t in queries]}
    return _ask(request)["results"]


# Google Managed Prometheus's RelabelingRule fields -> Prometheus's relabel_config keys
# (prometheus-engine pkg/operator/apis/monitoring/v1 convertRelabelingRule copies them one to one).
_RELABEL_KEYS = {
    "action": "action",
    "sourceLabels": "source_labels",
    "separator": "separator",
    "regex": "regex",
    "modulus": "modulus",
    "targetLabel": "target_label",
    "replacement": "replacement",
}


def relabel(label_sets: Iterable[Mapping[str, str]], rules: Sequence[Mapping]) -> list[dict[str, str]]:
    """Apply metric relabeling rules (a PodMonitoring's or ClusterPodMonitoring's metricRelabeling) to
    label sets with Prometheus's own relabel code; return the label sets that are kept, relabeled."""
    configs = [{_RELABEL_KEYS[k]: v for k, v in rule.items()} for rule in rules]
    request = {
        "series": [{"labels": dict(labels), "samples": []} for labels in label_sets],
        "queries": [],
        "metric_relabel_configs": json.dumps(configs),
    }
    return _ask(request)["relabeled"]


def value(result: Mapping) -> float | dict[tuple[tuple[str, str], ...], float] | None:
    """A result's value: a scalar, None for an empty vector, the number of a one-sample vector without
    labels, else {sorted label items: number}."""
    if result.get("error"):
        raise ValueError(f"{result['expr']}: {result['error']}")
    if result["type"] == "scalar":
        return result["scalar"]
    vector = result.get("vector") or []
    if not vector:
        return None
    if len(vector) == 1 and not vector[0]["labels"]:
        return vector[0]["value"]
    return {tuple(sorted(s["labels"].items())): s["value"] for s in vector}


def gmp_problems(result: Mapping) -> list[str]:
    """What Google Managed Prometheus would refuse or not support in one parsed query."""
    expr = result["expr"]
    if result.get("error") and not result.get("selectors"):
        return [f"{expr}: does not parse: {result['error']}"]
    problems = [
        f"{expr}: selector {s['text']} does not match the metric name exactly; GMP supports only exact metric names"
        for s in result["selectors"]
        if not s["name"]
    ]
    problems += [
        f"{expr}: function {f} is newer than Prometheus 2.44, which GMP's PromQL is at parity with"
        for f in result["functions"]
        if f not in GMP_FUNCTIONS
    ]
    problems += [
        f"{expr}: aggregation {a} is newer than Prometheus 2.44, which GMP's PromQL is at parity with"
        for a in result["aggregations"]
        if a not in GMP_AGGREGATIONS
    ]
    return problems
