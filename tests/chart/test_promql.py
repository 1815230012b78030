"""Every PromQL query the chart can emit, through Prometheus's own parser (hack/promql), checked against
Google Managed Prometheus's documented differences: an exact metric name in every selector, and
functions at parity with Prometheus 2.44
(https://cloud.google.com/stackdriver/docs/managed-prometheus/promql-differences). Their values over
GMP-shaped series are asserted in test_scaledobject.py (KEDA) and test_configmap.py (dashboard)."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from gmp_series import VLLM_COUNTERS, VLLM_GAUGES, VLLM_HISTOGRAMS, grafana
from paths import CHART, CI_FILES, VALUES_FILES
from support import promql
from support.manifests import of_kind, render, render_file
from vllm_serving.vllm_parser import parser_env, pinned_vllm_version


def dashboard_queries() -> list[str]:
    dashboard = json.loads((CHART / "dashboards" / "vllm.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return [grafana(e) for e in exprs]


def trigger_queries(objects: list[dict]) -> list[str]:
    return [
        t["metadata"]["query"]
        for scaled in of_kind(objects, "ScaledObject")
        for t in scaled["spec"]["triggers"]
        if t["type"] == "prometheus"
    ]


def rendered_queries() -> list[str]:
    """Every KEDA trigger query of every values file (the extra triggers users add included), and of
    every signal the chart knows on either workload kind."""
    found = [q for path in VALUES_FILES + CI_FILES for q in trigger_queries(render_file(path))]
    signals = yaml.safe_load((CHART / "rules.yaml").read_text())["autoscalingMetrics"]
    keda = {"enabled": True, "provider": "keda", "keda": {"serverAddress": "http://frontend.gmp.svc:9090"}}
    multinode = {"parallelism": {"tensor": 8, "pipeline": 2}, "gke": {"accelerator": "nvidia-h100-80gb"}}
    for shape in ({}, multinode):
        metrics = [{"type": kind, "target": 50} for kind in signals]
        found += trigger_queries(render({**shape, "autoscaling": {**keda, "metrics": metrics}}))
    return found


@pytest.mark.promql
class TestEveryQuery:
    def test_keda_triggers_of_every_values_file(self):
        queries = rendered_queries()
        assert len(queries) >= 12
        results = promql.run([], [(q, 0) for q in queries])
        assert [p for r in results for p in promql.gmp_problems(r)] == []
        assert not any(re.search(r"__name__\s*=~", q) for q in queries)

    def test_dashboard(self):
        queries = dashboard_queries()
        assert len(queries) >= 20
        results = promql.run([], [(q, 0) for q in queries])
        assert [p for r in results for p in promql.gmp_problems(r)] == []

    def test_the_check_catches_what_gmp_refuses(self):
        """The check itself: a regex on the metric name and a function newer than 2.44 are reported."""
        bad = [
            'sum({__name__=~"vllm:num_requests_(running|waiting)"})',
            "histogram_avg(vllm:e2e_request_latency_seconds)",
        ]
        problems = [p for r in promql.run([], [(q, 0) for q in bad]) for p in promql.gmp_problems(r)]
        assert problems == [
            f'{bad[0]}: selector {{__name__=~"vllm:num_requests_(running|waiting)"}} does not match the metric'
            " name exactly; GMP supports only exact metric names",
            f"{bad[1]}: function histogram_avg is newer than Prometheus 2.44, which GMP's PromQL is at parity with",
        ]


@pytest.mark.vllm_parser
def test_gmp_fixture_series_exist_in_the_pinned_vllm():
    """The series the PromQL tests evaluate over carry the pinned vLLM's metric names and labels."""
    metrics = next(parser_env(pinned_vllm_version(CHART)).glob("lib/python3*/site-packages/vllm/v1/metrics"))
    source = "\n".join(path.read_text() for path in metrics.glob("*.py"))
    bases = [*VLLM_GAUGES, *(c.removesuffix("_total") for c in VLLM_COUNTERS), *VLLM_HISTOGRAMS]
    assert [b for b in bases if f'"{b}"' not in source] == []
    assert 'labelnames = ["model_name", "engine"]' in source
