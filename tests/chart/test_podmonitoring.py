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
            }
        }
        (endpoint,) = one(render(values), "PodMonitoring")["spec"]["endpoints"]
        assert endpoint == {"port": "metrics", "path": "/other", "interval": "5s", "timeout": "4s"}
