"""templates/clusterpodmonitoring.yaml: GPU utilization from GKE's managed DCGM exporter, lower-cased for
the HPA. Its relabeling runs through Prometheus's own relabel code (what GMP's collectors run: the
operator turns each metricRelabeling rule into a Prometheus relabel_config one to one, prometheus-engine
pkg/operator/apis/monitoring/v1/pod_config.go convertRelabelingRule)."""

from __future__ import annotations

import pytest

from gmp_series import dcgm, deployment_pod
from support import promql
from support.manifests import of_kind, one, render

GPU = {"autoscaling": {"enabled": True, "clusterName": "prod", "metrics": [{"type": "gpu-utilization", "target": 80}]}}


def monitoring(values: dict, **kwargs) -> dict:
    return one(render(values, **kwargs), "ClusterPodMonitoring")


class TestClusterPodMonitoring:
    def test_only_when_an_autoscaler_reads_gpu_utilization(self):
        assert (
            of_kind(
                render({"autoscaling": {"enabled": True}, "monitoring": {"podMonitoring": {"enabled": True}}}),
                "ClusterPodMonitoring",
            )
            == []
        )
        off = {"autoscaling": {**GPU["autoscaling"], "gpuUtilization": {"clusterPodMonitoring": False}}}
        assert of_kind(render(off), "ClusterPodMonitoring") == []

    def test_scrapes_gke_managed_dcgm_exporter_keeping_its_labels(self):
        obj = monitoring(GPU, namespace="llm")
        # Cluster-scoped: the name carries the namespace so two releases never collide.
        assert obj["metadata"]["name"] == "llm-vllm-vllm-serving-gpu"
        assert obj["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/name": "gke-managed-dcgm-exporter"}}
        (endpoint,) = obj["spec"]["endpoints"]
        assert (endpoint["port"], endpoint["interval"]) == ("metrics", "15s")
        # No metadata target labels: namespace and pod stay those of the pod using the GPU.
        assert obj["spec"]["targetLabels"] == {"metadata": []}


@pytest.mark.promql
class TestRelabeling:
    def relabeled(self, values: dict, series: list[dict], namespace: str = "llm") -> list[dict]:
        (endpoint,) = monitoring(values, namespace=namespace)["spec"]["endpoints"]
        return promql.relabel(series, endpoint["metricRelabeling"])

    def test_keeps_this_release_gpus_lower_cased_and_tagged(self):
        name = "vllm-vllm-serving"
        ours = [deployment_pod(name), deployment_pod(name)]
        series = [dcgm(ours[0], "llm", 0), dcgm(ours[1], "llm", 1)]
        series += [
            dcgm(deployment_pod("vllm-vllm-serving-canary"), "llm", 2),  # another release, a longer name
            dcgm(deployment_pod(name), "staging", 3),  # our name, another namespace
            {**dcgm(ours[0], "llm", 0), "__name__": "DCGM_FI_DEV_FB_USED"},  # another field
            {**dcgm("", "", 4), "pod": "", "namespace": ""},  # an idle GPU
        ]
        kept = self.relabeled(GPU, series)
        assert [(s["__name__"], s["pod"], s["gpu"], s["vllm_serving_workload"]) for s in kept] == [
            ("dcgm_fi_dev_gpu_util", ours[0], "0", name),
            ("dcgm_fi_dev_gpu_util", ours[1], "1", name),
        ]
        assert all(s["namespace"] == "llm" for s in kept)

    def test_leaderworkerset_leaders_and_workers(self):
        values = {**GPU, "parallelism": {"tensor": 8, "pipeline": 2}, "gke": {"accelerator": "nvidia-h100-80gb"}}
        name = "vllm-vllm-serving-lws"
        pods = [f"{name}-0", f"{name}-0-1", f"{name}-1", f"{name}-1-1"]
        kept = self.relabeled(values, [dcgm(p, "llm", 0) for p in pods])
        assert [s["pod"] for s in kept] == pods
        assert {s["vllm_serving_workload"] for s in kept} == {name}

    def test_each_zone_deployment_tagged_with_its_own_name(self):
        disks = [f"projects/my-project/zones/us-central1-{z}/disks/w" for z in "ab"]
        values = {**GPU, "weights": {"source": "persistentDisk", "persistentDisk": {"disks": disks}}}
        names = ["vllm-vllm-serving-us-central1-a", "vllm-vllm-serving-us-central1-b"]
        kept = self.relabeled(values, [dcgm(deployment_pod(n), "llm", 0) for n in names])
        assert [s["vllm_serving_workload"] for s in kept] == names
