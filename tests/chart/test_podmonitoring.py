"""templates/podmonitoring.yaml: Google Managed Prometheus scrapes the serving pods."""

from __future__ import annotations

from support.manifests import of_kind, one, render


class TestPodMonitoring:
    def test_off_by_default(self):
        assert of_kind(render({}), "PodMonitoring") == []

    def test_scrapes_the_serving_pods_metrics_endpoint(self):
        monitor = one(
            render({"monitoring": {"podMonitoring": {"enabled": True, "labels": {"team": "ml"}}}}), "PodMonitoring"
        )
        assert monitor["apiVersion"] == "monitoring.googleapis.com/v1"
        assert monitor["metadata"]["labels"]["team"] == "ml"
        assert monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "server"
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint == {
            "port": "http",
            "path": "/metrics",
            "interval": "15s",
            "timeout": "10s",
            "metricRelabeling": [{"action": "drop", "sourceLabels": ["__name__"], "regex": "vllm:.*_created"}],
        }

    def test_interval_path_port_and_relabelings_are_values(self):
        values = {
            "monitoring": {
                "interval": "5s",
                "timeout": "4s",
                "path": "/other",
                "port": "metrics",
                "metricRelabelings": [],
                "podMonitoring": {"enabled": True},
            },
            # A port the pods have: the chart refuses a monitoring.port no container names.
            "extraContainers": [
                {"name": "exporter", "image": "busybox:1.37", "ports": [{"name": "metrics", "containerPort": 9400}]}
            ],
        }
        (endpoint,) = one(render(values), "PodMonitoring")["spec"]["endpoints"]
        assert endpoint == {"port": "metrics", "path": "/other", "interval": "5s", "timeout": "4s"}


PICKER_SCRAPED = {"gateway": {"enabled": True}, "monitoring": {"podMonitoring": {"enabled": True}}}


class TestEndpointPickerPodMonitoring:
    """The endpoint picker's metrics (its flow-control queue wakes a scaled-to-zero release behind the
    gateway). GIE v1.5.0 guards /metrics with a token review unless --metrics-endpoint-auth=false
    (cmd/epp/runner/runner.go: controller-runtime's filters.WithAuthenticationAndAuthorization); the
    chart turns the guard off, so this PodMonitoring needs no bearer token, where the upstream
    inferencepool chart's (config/charts/inferencepool/templates/gke.yaml) mounts one."""

    def test_scrapes_the_pickers_metrics_port_and_only_the_picker(self):
        objects = render(PICKER_SCRAPED)
        monitor = next(o for o in of_kind(objects, "PodMonitoring") if o["metadata"]["name"].endswith("-epp"))
        deployments = {d["metadata"]["name"]: d["spec"]["template"] for d in of_kind(objects, "Deployment")}
        picker = deployments.pop("vllm-vllm-serving-epp")
        selector = monitor["spec"]["selector"]["matchLabels"]
        assert selector.items() <= picker["metadata"]["labels"].items()
        assert not [n for n, t in deployments.items() if selector.items() <= t["metadata"]["labels"].items()]
        (container,) = picker["spec"]["containers"]
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["port"] in [p["name"] for p in container["ports"]]
        assert (endpoint["path"], endpoint["interval"]) == ("/metrics", "15s")
        assert "authorization" not in endpoint
        assert "--metrics-endpoint-auth=false" in container["args"]

    def test_none_without_the_gateway_or_gmp(self):
        names = [o["metadata"]["name"] for o in of_kind(render(PICKER_SCRAPED | {"gateway": {}}), "PodMonitoring")]
        assert names == ["vllm-vllm-serving"]
        assert of_kind(render({"gateway": {"enabled": True}}), "PodMonitoring") == []
