"""templates/configmap.yaml and dashboards/vllm.json: the vLLM dashboard."""

from __future__ import annotations

import json
import re

import pytest

from gmp_series import GMP_RESOURCE, VLLM_HISTOGRAMS, Scrape, deployment_pod, grafana
from paths import CHART
from support import promql
from support.manifests import of_kind, one, render, render_file, serving_pod_spec, vllm_container
from vllm_serving.errors import InvalidValues
from vllm_serving.vllm_parser import parser_env, pinned_vllm_version

DASHBOARD = json.loads((CHART / "dashboards" / "vllm.json").read_text())
# Panel types Cloud Monitoring's Grafana importer converts (others fall back to a line chart).
IMPORTABLE = {"timeseries", "graph", "stat", "gauge", "singlestat", "table", "text", "bargauge", "heatmap", "piechart"}


class TestDashboardConfigMap:
    def test_off_by_default(self):
        assert of_kind(render({}), "ConfigMap") == []

    def test_carries_the_dashboard_with_the_sidecar_label(self):
        values = {
            "monitoring": {"dashboard": {"configMap": {"enabled": True, "annotations": {"grafana_folder": "LLM"}}}}
        }
        config_map = one(render(values), "ConfigMap")
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert config_map["metadata"]["annotations"] == {"grafana_folder": "LLM"}
        assert json.loads(config_map["data"]["vllm.json"]) == DASHBOARD


class TestDashboard:
    def test_panels_are_importable_into_cloud_monitoring(self):
        assert DASHBOARD["panels"]
        for panel in DASHBOARD["panels"]:
            assert panel["type"] in IMPORTABLE, panel["title"]
            assert panel["gridPos"]["h"] >= 2 and {"x", "y", "w"} <= panel["gridPos"].keys(), panel["title"]
            assert panel["targets"] and all(t["expr"] for t in panel["targets"]), panel["title"]

    def test_variables_are_label_values_queries(self):
        queries = [v for v in DASHBOARD["templating"]["list"] if v["type"] == "query"]
        assert {v["name"] for v in queries} == {"namespace", "model"}
        assert all(v["query"].startswith("label_values(") for v in queries)

    def test_covers_what_operators_watch(self):
        exprs = " ".join(t["expr"] for p in DASHBOARD["panels"] for t in p["targets"])
        for series in (
            "vllm:request_success_total",
            "vllm:num_requests_waiting",
            "vllm:num_requests_running",
            "vllm:time_to_first_token_seconds_bucket",
            "vllm:inter_token_latency_seconds_bucket",
            "vllm:kv_cache_usage_perc",
            "dcgm_fi_dev_gpu_util",
        ):
            assert series in exprs, series

    def test_the_gpu_panel_says_what_writes_its_series(self):
        """ci/monitoring-values.yaml: monitoring without a GPU autoscaler renders no ClusterPodMonitoring, so
        the GPU panel is empty; its description tells the operator why."""
        from paths import CHART

        objects = render_file(CHART / "ci" / "monitoring-values.yaml")
        assert of_kind(objects, "PodMonitoring") and not of_kind(objects, "ClusterPodMonitoring")
        (gpu,) = [p for p in DASHBOARD["panels"] if "dcgm_fi_dev_gpu_util" in p["targets"][0]["expr"]]
        assert "Empty unless a release autoscales on gpu-utilization with" in gpu["description"]
        assert "autoscaling.gpuUtilization.clusterPodMonitoring" in gpu["description"]

    def test_panels_do_not_overlap(self):
        cells = set()
        for panel in DASHBOARD["panels"]:
            g = panel["gridPos"]
            area = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
            assert not cells & area, panel["title"]
            cells |= area


def vllm_series() -> set[str]:
    exprs = " ".join(t["expr"] for p in DASHBOARD["panels"] for t in p["targets"])
    exprs += " ".join(v.get("query", "") for v in DASHBOARD["templating"]["list"])
    return set(re.findall(r"vllm:[a-z0-9_]+", exprs))


@pytest.mark.vllm_parser
def test_every_vllm_series_exists_in_the_pinned_vllm():
    """A metric renamed upstream (vLLM renamed gpu_cache_usage_perc to kv_cache_usage_perc) would leave a
    panel empty; check the names against the metrics module of exactly the pinned release."""
    version = pinned_vllm_version(CHART)
    metrics = next(parser_env(version).glob("lib/python3*/site-packages/vllm/v1/metrics"))
    source = "\n".join(path.read_text() for path in metrics.glob("*.py"))
    # prometheus_client adds _total to counters and _bucket/_sum/_count to histograms on exposition.
    bases = {re.sub(r"_(total|bucket|sum|count)$", "", series) for series in vllm_series()}
    assert len(bases) >= 10
    assert sorted(b for b in bases if f'"{b}"' not in source) == []


class TestChatTemplate:
    TEMPLATE = "{% for m in messages %}{{ m.content }}{% endfor %}"

    def test_inline_template_is_a_configmap_mounted_read_only_and_named_by_the_flag(self):
        objects = render({"vllm": {"chatTemplate": {"inline": self.TEMPLATE}}})
        config_map = one(objects, "ConfigMap")
        assert config_map["metadata"]["name"] == "vllm-vllm-serving-chat-template"
        assert config_map["data"] == {"chat-template.jinja": self.TEMPLATE}
        container = vllm_container(objects)
        args = container["args"]
        assert args[args.index("--chat-template") + 1] == "/etc/vllm/chat-template/chat-template.jinja"
        assert {"name": "chat-template", "mountPath": "/etc/vllm/chat-template", "readOnly": True} in container[
            "volumeMounts"
        ]
        volume = next(v for v in serving_pod_spec(objects)["volumes"] if v["name"] == "chat-template")
        assert volume["configMap"]["name"] == config_map["metadata"]["name"]

    def test_a_new_inline_template_rolls_the_serving_pods(self):
        """vLLM reads --chat-template once at start-up; only a changed pod template makes an upgrade restart it."""

        def pod_templates(template: str, **values) -> list[dict]:
            objects = render({"vllm": {"chatTemplate": {"inline": template}}, **values})
            found = [o["spec"]["template"] for o in of_kind(objects, "Deployment") if "vllm" in str(o["spec"])]
            for lws in of_kind(objects, "LeaderWorkerSet"):
                found += [lws["spec"]["leaderWorkerTemplate"][t] for t in ("leaderTemplate", "workerTemplate")]
            return found

        multinode = {"parallelism": {"tensor": 8, "pipeline": 2}, "gke": {"accelerator": "nvidia-h100-80gb"}}
        for values in ({}, multinode):
            old, same, new = (pod_templates(t, **values) for t in (self.TEMPLATE, self.TEMPLATE, self.TEMPLATE + "!"))
            assert old and old == same
            for before, after in zip(old, new, strict=True):
                assert before["metadata"]["annotations"] != after["metadata"]["annotations"]

    def test_existing_configmap_is_mounted_and_none_is_made(self):
        values = {"vllm": {"chatTemplate": {"existingConfigMap": "templates", "key": "llama.jinja"}}}
        objects = render(values)
        assert of_kind(objects, "ConfigMap") == []
        args = vllm_container(objects)["args"]
        assert args[args.index("--chat-template") + 1] == "/etc/vllm/chat-template/llama.jinja"
        volume = next(v for v in serving_pod_spec(objects)["volumes"] if v["name"] == "chat-template")
        assert volume["configMap"] == {"name": "templates", "items": [{"key": "llama.jinja", "path": "llama.jinja"}]}

    def test_no_template_no_flag(self):
        assert "--chat-template" not in vllm_container(render({}))["args"]

    def test_both_sources_refused(self):
        with pytest.raises(InvalidValues) as refused:
            render({"vllm": {"chatTemplate": {"inline": "x", "existingConfigMap": "cm"}}})
        assert "vllm.chatTemplate.existingConfigMap: set together with vllm.chatTemplate.inline; use one of them" in (
            refused.value.problems
        )


def gmp_dashboard_series() -> list[dict]:
    """Two serving pods of one release scraped every 15 s for two minutes (gmp_series labels), and a pod in
    a namespace the dashboard's variable leaves out."""
    scrape, other = Scrape({}), Scrape({}, namespace="other")
    name = "vllm-vllm-serving"
    times = range(0, 121, 15)
    out = []

    def add(s: Scrape, metric: str, pod: str, value_at, **labels: str) -> None:
        out.append({"labels": s.labels(metric, pod, name, **labels), "samples": [[t, value_at(t)] for t in times]})

    for s, pod, k in ((scrape, deployment_pod(name), 1), (scrape, deployment_pod(name), 2), (other, "x", 100)):
        add(s, "vllm:num_requests_waiting", pod, lambda t, k=k: 2 * k)
        add(s, "vllm:num_requests_running", pod, lambda t, k=k: 3 * k)
        add(s, "vllm:kv_cache_usage_perc", pod, lambda t, k=k: 0.25 * k)
        reason = "stop" if k == 1 else "length"
        add(s, "vllm:request_success_total", pod, lambda t, k=k: k * t, finished_reason=reason)
        add(s, "vllm:prompt_tokens_total", pod, lambda t, k=k: 10 * k * t)
        add(s, "vllm:generation_tokens_total", pod, lambda t, k=k: 20 * k * t)
        add(s, "vllm:prefix_cache_hits_total", pod, lambda t, k=k: k * t)
        add(s, "vllm:prefix_cache_queries_total", pod, lambda t, k=k: 4 * k * t)
        add(s, "vllm:num_preemptions_total", pod, lambda t, k=k: 0.5 * k * t)
        # Every request's latencies fall between 0.1 and 0.5 s.
        for histogram in VLLM_HISTOGRAMS:
            for le, per_second in (("0.1", 0), ("0.5", 5), ("1.0", 5), ("+Inf", 5)):
                add(s, f"{histogram}_bucket", pod, lambda t, k=k, r=per_second: k * r * t, le=le)
        out.append(
            {
                "labels": {"__name__": "dcgm_fi_dev_gpu_util", **GMP_RESOURCE, "namespace": s.namespace, "pod": pod},
                "samples": [[t, 40.0 * k] for t in times],
            }
        )
    return out


# What each panel shows for gmp_dashboard_series, by query (the namespaces llm and staging selected).
EXPECTED = {
    "Requests waiting": [6],
    "Requests running": [9],
    "Requests per second": [3],
    "KV cache used (max)": [0.5],
    "Request rate by finish reason": [{"finished_reason": "stop"}, 1, {"finished_reason": "length"}, 2],
    "Tokens per second": [30, 60],
    "Prefix cache hit rate": [0.25],
    "Time to first token": [0.3, 0.48, 0.496],
    "Inter-token latency": [0.3, 0.48, 0.496],
    "End-to-end request latency": [0.3, 0.48],
    # two pods of one GPU at 0.85 USD an hour, over 30 prompt tokens / 4 + 60 generated tokens a second
    "Cost per million output tokens": [round(2 * 1 * 0.85 / 3600 / (30 / 4 + 60) * 1e6, 6)],
}


@pytest.mark.promql
def test_every_panel_through_prometheus_engine_over_gmp_series():
    targets = [(p["title"], t["expr"]) for p in DASHBOARD["panels"] for t in p["targets"]]
    results = promql.run(gmp_dashboard_series(), [(grafana(expr), 120) for _, expr in targets])
    shown: dict[str, list] = {}
    for (title, _), result in zip(targets, results, strict=True):
        assert promql.gmp_problems(result) == [], title
        value = promql.value(result)
        assert value is not None, f"{title}: no data"
        if isinstance(value, dict):  # one series per pod or per reason
            shown.setdefault(title, []).append(value)
        else:
            shown.setdefault(title, []).append(round(value, 6))
    for title, expected in EXPECTED.items():
        if isinstance(expected[0], dict):
            (by,) = shown[title]
            got = {dict(k)["finished_reason"]: round(v, 6) for k, v in by.items()}
            assert got == {expected[0]["finished_reason"]: expected[1], expected[2]["finished_reason"]: expected[3]}
        else:
            assert shown[title] == expected, title
    # Per-pod panels: this release's two pods, not the other namespace's.
    (gpu,) = shown["GPU utilization"]
    assert sorted(gpu.values()) == [40, 80]
    assert sorted(round(v, 6) for v in shown["Preemptions per second"][0].values()) == [0.5, 1]
