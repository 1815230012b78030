"""templates/horizontalpodautoscaler.yaml: the HPA on vLLM's metrics from Google Managed Prometheus."""

from __future__ import annotations

import pytest

from support.manifests import of_kind, one, render

NAME = "vllm-vllm-serving"
HPA = {"monitoring": {"podMonitoring": {"enabled": True}}, "autoscaling": {"enabled": True}}


def hpa(values: dict) -> dict:
    return one(render(values), "HorizontalPodAutoscaler")


class TestHorizontalPodAutoscaler:
    def test_off_by_default_and_replicas_kept(self):
        objects = render({})
        assert of_kind(objects, "HorizontalPodAutoscaler") == []
        assert one(objects, "Deployment")["spec"]["replicas"] == 1

    def test_guide_example_queue_depth_10_between_1_and_5(self):
        objects = render(HPA)
        autoscaler = one(objects, "HorizontalPodAutoscaler")
        assert autoscaler["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "vllm-vllm-serving",
        }
        assert (autoscaler["spec"]["minReplicas"], autoscaler["spec"]["maxReplicas"]) == (1, 5)
        assert autoscaler["spec"]["metrics"] == [
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": "prometheus.googleapis.com|vllm:num_requests_waiting|gauge"},
                    "target": {"type": "AverageValue", "averageValue": "10"},
                },
            }
        ]
        # The autoscaler owns the count: an upgrade must not reset it.
        assert "replicas" not in one(objects, "Deployment")["spec"]

    def test_behavior_scales_up_at_once_and_down_slowly(self):
        behavior = hpa(HPA)["spec"]["behavior"]
        assert behavior["scaleUp"]["stabilizationWindowSeconds"] == 0
        assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 300
        assert {p["type"] for p in behavior["scaleUp"]["policies"]} == {"Pods", "Percent"}
        assert behavior["scaleDown"]["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 60}]

    def test_batch_size(self):
        values = {**HPA, "autoscaling": {"enabled": True, "metrics": [{"type": "batch-size", "target": 48}]}}
        (metric,) = hpa(values)["spec"]["metrics"]
        assert metric["pods"]["metric"]["name"] == "prometheus.googleapis.com|vllm:num_requests_running|gauge"
        assert metric["pods"]["target"]["averageValue"] == "48"

    @pytest.mark.parametrize(
        ("tensor", "pipeline", "per_replica", "workload"),
        [
            (1, 1, "80", "vllm-vllm-serving"),
            (4, 1, "320", "vllm-vllm-serving"),
            (8, 2, "1280", "vllm-vllm-serving-lws"),
        ],
    )
    def test_gpu_utilization_is_external_and_counts_every_gpu_of_a_replica(
        self, tensor, pipeline, per_replica, workload
    ):
        values = {
            "parallelism": {"tensor": tensor, "pipeline": pipeline},
            "gke": {"accelerator": "nvidia-h100-80gb"},
            "autoscaling": {
                "enabled": True,
                "clusterName": "prod",
                "metrics": [{"type": "gpu-utilization", "target": 80}],
            },
        }
        (metric,) = hpa(values)["spec"]["metrics"]
        assert metric["type"] == "External"
        # Lower-case (the Kubernetes client lower-cases External metric names), written by the chart's
        # ClusterPodMonitoring, selected by exact labels: the adapter's selector has no regex. The adapter
        # reads External metrics across the project: the cluster keeps other clusters' GPUs out.
        assert metric["external"]["metric"] == {
            "name": "prometheus.googleapis.com|dcgm_fi_dev_gpu_util|unknown",
            "selector": {
                "matchLabels": {
                    "resource.labels.cluster": "prod",
                    "resource.labels.namespace": "default",
                    "metric.labels.vllm_serving_workload": workload,
                }
            },
        }
        assert metric["external"]["target"] == {"type": "AverageValue", "averageValue": per_replica}

    def test_several_metrics_one_hpa_per_zone_deployment(self):
        disks = [f"projects/my-project/zones/us-central1-{z}/disks/w" for z in "ab"]
        values = {
            **HPA,
            "weights": {"source": "persistentDisk", "persistentDisk": {"disks": disks}},
            "autoscaling": {
                "enabled": True,
                "metrics": [{"type": "queue-depth", "target": 5}, {"type": "batch-size", "target": 32}],
            },
        }
        autoscalers = of_kind(render(values), "HorizontalPodAutoscaler")
        assert [a["spec"]["scaleTargetRef"]["name"] for a in autoscalers] == [
            "vllm-vllm-serving-us-central1-a",
            "vllm-vllm-serving-us-central1-b",
        ]
        assert all(len(a["spec"]["metrics"]) == 2 for a in autoscalers)
