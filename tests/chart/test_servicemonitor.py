"""templates/servicemonitor.yaml: a Prometheus Operator scrapes the Service's endpoints."""

from __future__ import annotations

from support.manifests import of_kind, one, render

MONITOR = {"monitoring": {"serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}}}}


class TestServiceMonitor:
    def test_off_by_default(self):
        assert of_kind(render({}), "ServiceMonitor") == []

    def test_selects_the_service_in_the_release_namespace(self):
        objects = render(MONITOR, namespace="llm")
        monitor, service = one(objects, "ServiceMonitor"), one(objects, "Service")
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["llm"]}
        selector = monitor["spec"]["selector"]["matchLabels"]
        assert selector.items() <= service["metadata"]["labels"].items()
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["port"] in [p["name"] for p in service["spec"]["ports"]]
        assert endpoint["scrapeTimeout"] == "10s"
        assert endpoint["metricRelabelings"][0]["action"] == "drop"
        assert "relabelings" not in endpoint

    def test_extra_target_relabelings(self):
        rule = {"action": "replace", "sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node"}
        values = {"monitoring": {"serviceMonitor": {"enabled": True, "relabelings": [rule]}}}
        (endpoint,) = one(render(values), "ServiceMonitor")["spec"]["endpoints"]
        assert endpoint["relabelings"] == [rule]
