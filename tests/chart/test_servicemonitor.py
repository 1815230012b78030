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


class TestEndpointPickerServiceMonitor:
    def test_selects_the_pickers_service_and_its_metrics_port(self):
        objects = render(MONITOR | {"gateway": {"enabled": True}})
        monitors = {m["metadata"]["name"]: m for m in of_kind(objects, "ServiceMonitor")}
        services = {s["metadata"]["name"]: s for s in of_kind(objects, "Service")}
        for name, service in services.items():
            # Each monitor selects exactly its own Service.
            selecting = [
                m
                for m, o in monitors.items()
                if o["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
            ]
            assert selecting == [name], (name, selecting)
        (endpoint,) = monitors["vllm-vllm-serving-epp"]["spec"]["endpoints"]
        port = next(p for p in services["vllm-vllm-serving-epp"]["spec"]["ports"] if p["name"] == endpoint["port"])
        picker = next(d for d in of_kind(objects, "Deployment") if d["metadata"]["name"] == "vllm-vllm-serving-epp")
        (container,) = picker["spec"]["template"]["spec"]["containers"]
        assert port["targetPort"] == "metrics" and "metrics" in [p["name"] for p in container["ports"]]
        assert endpoint["path"] == "/metrics"
