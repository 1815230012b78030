"""templates/scaledobject.yaml and triggerauthentication.yaml: KEDA, with scale to zero."""

from __future__ import annotations

from support.manifests import of_kind, one, render

SERVER = "https://monitoring.googleapis.com/v1/projects/my-project/location/global/prometheus"
KEDA = {"autoscaling": {"enabled": True, "provider": "keda", "minReplicas": 0, "keda": {"serverAddress": SERVER}}}


def scaled_object(values: dict) -> dict:
    return one(render(values), "ScaledObject")


class TestScaledObject:
    def test_scales_the_deployment_to_zero_on_queue_depth(self):
        objects = render(KEDA, namespace="llm")
        assert of_kind(objects, "HorizontalPodAutoscaler") == []
        spec = one(objects, "ScaledObject")["spec"]
        assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "vllm-vllm-serving"}
        assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (0, 5)
        assert (
            spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"]
            == 300
        )
        (trigger,) = spec["triggers"]
        assert trigger["type"] == "prometheus"
        assert trigger["metricType"] == "AverageValue"
        assert trigger["metadata"] == {
            "query": 'sum({__name__=~"vllm:num_requests_waiting",namespace="llm",'
            'pod=~"vllm-vllm-serving-[a-z0-9]+-[a-z0-9]+"})',
            "serverAddress": SERVER,
            "threshold": "10",
            "activationThreshold": "0",
        }
        assert "authenticationRef" not in trigger

    def test_concurrency_sums_running_and_waiting(self):
        values = {"autoscaling": {**KEDA["autoscaling"], "metrics": [{"type": "concurrency", "target": 24}]}}
        (trigger,) = scaled_object(values)["spec"]["triggers"]
        assert trigger["metadata"]["query"].startswith('sum({__name__=~"vllm:num_requests_(running|waiting)",')
        assert trigger["metadata"]["threshold"] == "24"

    def test_gpu_utilization_is_an_average_compared_as_is(self):
        values = {"autoscaling": {**KEDA["autoscaling"], "metrics": [{"type": "gpu-utilization", "target": 85}]}}
        (trigger,) = scaled_object(values)["spec"]["triggers"]
        assert trigger["metricType"] == "Value"
        assert trigger["metadata"]["query"].startswith("avg(DCGM_FI_DEV_GPU_UTIL{")

    def test_workload_identity_authentication(self):
        values = {
            "autoscaling": {**KEDA["autoscaling"], "keda": {"serverAddress": SERVER, "gcpWorkloadIdentity": True}}
        }
        objects = render(values)
        auth = one(objects, "TriggerAuthentication")
        assert auth["spec"] == {"podIdentity": {"provider": "gcp"}}
        (trigger,) = one(objects, "ScaledObject")["spec"]["triggers"]
        assert trigger["authenticationRef"] == {"name": auth["metadata"]["name"]}

    def test_no_trigger_authentication_without_workload_identity(self):
        assert of_kind(render(KEDA), "TriggerAuthentication") == []
