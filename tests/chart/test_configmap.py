"""templates/configmap.yaml and dashboards/vllm.json: the vLLM dashboard."""

from __future__ import annotations

import json
import re

import pytest

from paths import CHART
from support.manifests import of_kind, one, render, serving_pod_spec, vllm_container
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
