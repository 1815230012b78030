"""The chart's HorizontalPodAutoscaler driven by the real HPA controller (kube-controller-manager of the
local cluster, syncing every second) reading a stand-in for the custom-metrics Stackdriver adapter
(support.metrics_api) that serves per-pod values the tests set. Windows are shortened through
values, never by changing the chart."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from support.metrics_api import MetricsApi
from vllm_serving.cluster.testing import wait_for

pytestmark = pytest.mark.cluster

WAITING = "prometheus.googleapis.com|vllm:num_requests_waiting|gauge"
RUNNING = "prometheus.googleapis.com|vllm:num_requests_running|gauge"
GPU = "prometheus.googleapis.com|dcgm_fi_dev_gpu_util|unknown"


@pytest.fixture
def rest(vllm_cluster):
    if vllm_cluster.local is None:
        pytest.skip("the metrics stand-in registers APIServices: local test cluster only")
    client = vllm_cluster.local.rest()
    yield client
    client.close()


@pytest.fixture(scope="module")
def metrics(vllm_cluster) -> Iterator[MetricsApi]:
    if vllm_cluster.local is None:
        pytest.skip("the metrics stand-in registers APIServices: local test cluster only")
    api = MetricsApi(vllm_cluster.local.rest()).start()
    try:
        wait_for("the stand-in's APIServices Available", api.available, timeout=60)
        yield api
    finally:
        api.stop()


def values(*metrics: dict, up: list | None = None, down_window: int = 300, **autoscaling) -> dict:
    return {
        "monitoring": {"podMonitoring": {"enabled": True}},
        "autoscaling": {
            "enabled": True,
            "minReplicas": 1,
            "maxReplicas": 5,
            "metrics": list(metrics) or [{"type": "queue-depth", "target": 10}],
            "behavior": {
                "scaleUp": {
                    "stabilizationWindowSeconds": 0,
                    "selectPolicy": "Max",
                    "policies": up or [{"type": "Pods", "value": 4, "periodSeconds": 15}],
                },
                "scaleDown": {
                    "stabilizationWindowSeconds": down_window,
                    "selectPolicy": "Min",
                    "policies": [{"type": "Pods", "value": 1, "periodSeconds": 1}],
                },
            },
            **autoscaling,
        },
    }


class Workload:
    """The release's Deployment (or LeaderWorkerSet), its serving pods and its HPA, read as an admin."""

    def __init__(self, release, rest, kind: str = "deployments", group: str = "apis/apps/v1", name: str = ""):
        self.rest = rest
        self.ns = release.namespace
        self.name = name or "vllm-vllm-serving"
        self.path = f"/{group}/namespaces/{self.ns}/{kind}/{self.name}"

    def replicas(self) -> int:
        return self.rest.get(self.path)["spec"]["replicas"]

    def hpa(self) -> dict:
        return self.rest.get(f"/apis/autoscaling/v2/namespaces/{self.ns}/horizontalpodautoscalers/{self.name}")

    def pods(self) -> list[str]:
        selector = "app.kubernetes.io/component%3Dserver"
        found = self.rest.get(f"/api/v1/namespaces/{self.ns}/pods?labelSelector={selector}")["items"]
        return sorted(
            p["metadata"]["name"]
            for p in found
            if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
        )

    def condition(self, kind: str) -> dict:
        return next((c for c in self.hpa().get("status", {}).get("conditions", []) if c["type"] == kind), {})

    def events(self) -> list[str]:
        query = f"fieldSelector=involvedObject.name%3D{self.name}"
        found = self.rest.get(f"/api/v1/namespaces/{self.ns}/events?{query}")["items"]
        return [f"{e['reason']}: {e['message']}" for e in found]


def until(w: Workload, what: str, check, timeout: float = 60):
    """wait_for, telling the HPA's conditions and events when it times out."""
    try:
        return wait_for(what, check, timeout=timeout)
    except AssertionError as err:
        conditions = [
            f"{c['type']}={c['status']} {c.get('reason')}: {c.get('message')}"
            for c in w.hpa().get("status", {}).get("conditions", [])
        ]
        raise AssertionError(f"{err}\nconditions: {conditions}\nevents: {w.events()}") from None


def set_every_pod(metrics: MetricsApi, w: Workload, metric: str, value: float) -> list[str]:
    pods = w.pods()
    metrics.set_pods(w.ns, metric, dict.fromkeys(pods, value))
    return pods


RESCALED_TO_2 = "SuccessfulRescale: New size: 2; reason: pods metric"


def test_seed_sequence_one_replica_at_13_of_10_scales_to_2(vllm_release, metrics, rest):
    """The GKE guide's `kubectl get hpa --watch`: TARGETS 13/10, REPLICAS 1, then 2."""
    w = Workload(vllm_release(values=values()), rest)
    assert len(set_every_pod(metrics, w, WAITING, 13)) == 1

    def read() -> dict | None:
        return next((m["pods"] for m in w.hpa()["status"].get("currentMetrics") or [] if m.get("pods")), None)

    assert until(w, "the HPA to read 13/10", read) == {
        "metric": {"name": WAITING},
        "current": {"averageValue": "13"},
    }
    assert w.hpa()["spec"]["metrics"][0]["pods"]["target"] == {"type": "AverageValue", "averageValue": "10"}
    until(w, "2 replicas", lambda: w.replicas() == 2, timeout=30)
    assert w.hpa()["status"]["desiredReplicas"] == 2
    # The controller's event is recorded apart from the scale it reports, maybe after it.
    until(w, "the HPA's SuccessfulRescale event", lambda: any(e.startswith(RESCALED_TO_2) for e in w.events()))


def test_scale_up_is_held_to_the_behavior_policy(vllm_release, metrics, rest):
    """50 waiting on one pod asks for 5 replicas; a policy of one pod per minute allows 2."""
    up = [{"type": "Pods", "value": 1, "periodSeconds": 60}]
    w = Workload(vllm_release(values=values(up=up)), rest)
    set_every_pod(metrics, w, WAITING, 50)
    until(w, "the first step", lambda: w.replicas() == 2, timeout=60)
    until(w, "the HPA to see its limit", lambda: w.condition("ScalingLimited").get("reason") == "ScaleUpLimit")
    time.sleep(5)  # five more passes of the controller
    assert w.replicas() == 2
    assert w.hpa()["status"]["desiredReplicas"] == 2


def test_scale_down_waits_for_the_stabilization_window(vllm_release, metrics, rest):
    window = 12
    w = Workload(vllm_release(values=values(down_window=window)), rest)
    set_every_pod(metrics, w, WAITING, 25)
    until(w, "3 replicas", lambda: w.replicas() == 3, timeout=60)
    wait_for("3 pods running", lambda: len(w.pods()) == 3, timeout=60)
    set_every_pod(metrics, w, WAITING, 0)
    dropped = time.monotonic()
    until(w, "the scale-down", lambda: w.replicas() < 3, timeout=window + 30)
    waited = time.monotonic() - dropped
    # The controller recommends 1 at once but keeps the highest recommendation of the window.
    assert waited >= window - 2, f"scaled down after {waited:.1f} s, inside the {window} s window"
    until(w, "1 replica", lambda: w.replicas() == 1, timeout=30)


def test_an_unreadable_metric_blocks_scale_down(vllm_release, metrics, rest):
    both = ({"type": "queue-depth", "target": 10}, {"type": "batch-size", "target": 40})
    w = Workload(vllm_release(values=values(*both, down_window=0)), rest)
    set_every_pod(metrics, w, RUNNING, 10)
    set_every_pod(metrics, w, WAITING, 25)
    until(w, "3 replicas", lambda: w.replicas() == 3, timeout=60)
    wait_for("3 pods running", lambda: len(w.pods()) == 3, timeout=60)
    metrics.forget(w.ns, RUNNING)
    set_every_pod(metrics, w, WAITING, 0)
    wait_for(
        "the HPA to report the failed metric",
        lambda: any(e.startswith("FailedGetPodsMetric") for e in w.events()),
        timeout=30,
    )
    time.sleep(5)
    assert w.replicas() == 3, "scaled down although one metric could not be read"
    set_every_pod(metrics, w, RUNNING, 0)
    until(w, "the scale-down once both metrics read", lambda: w.replicas() == 1, timeout=60)


def test_gpu_utilization_reads_the_lower_case_series(vllm_release, metrics, rest):
    """The HPA asks for the lower-case name the chart's ClusterPodMonitoring writes; GKE's managed
    upper-case series alone leave the metric unreadable."""
    gpu = {"type": "gpu-utilization", "target": 60}
    w = Workload(vllm_release(values=values(gpu, clusterName="prod")), rest)
    (pod,) = w.pods()
    labels = {
        "resource.labels.cluster": "prod",
        "resource.labels.namespace": w.ns,
        "metric.labels.vllm_serving_workload": w.name,
        "pod": pod,
    }
    metrics.set_external(w.ns, GPU.replace("dcgm_fi_dev_gpu_util", "DCGM_FI_DEV_GPU_UTIL"), [(labels, 95)])
    wait_for(
        "the HPA to fail on the missing lower-case metric",
        lambda: any(e.startswith("FailedGetExternalMetric") for e in w.events()),
        timeout=30,
    )
    assert w.replicas() == 1
    assert any(GPU in path for path in metrics.requests), metrics.requests[-3:]
    other = {**labels, "metric.labels.vllm_serving_workload": "another-release"}
    # The same release in another cluster of the project (External metrics are read project-wide).
    staging = {**labels, "resource.labels.cluster": "staging"}
    metrics.set_external(w.ns, GPU, [(labels, 95), (other, 100), (staging, 100)])
    # 95 on one GPU against a target of 60 per GPU: two replicas; the other workload's GPU and the other
    # cluster's are not counted.
    until(w, "2 replicas", lambda: w.replicas() == 2, timeout=30)
    current = w.hpa()["status"]["currentMetrics"][0]["external"]
    assert current["current"]["averageValue"] in ("95", "47500m")  # 95 over one replica, then over two


def test_preflight_asks_for_each_hpa_metric_of_the_release(vllm_release, metrics, rest, vllm_preflight):
    """`preflight` reads each metric an HPA names as the HPA controller will, for this release."""
    chosen = values(
        {"type": "queue-depth", "target": 10}, {"type": "gpu-utilization", "target": 60}, clusterName="prod"
    )
    w = Workload(vllm_release(values=chosen), rest)

    def result(metric: str):
        found = {r.name: r for r in vllm_preflight(values=chosen, namespace=w.ns)}
        return found[f"hpa-metric/{w.name}/{metric}"]

    missing = result(WAITING)
    assert missing.status == "fail"
    assert missing.message == (
        f"the metrics API cannot serve {WAITING} for HorizontalPodAutoscaler {w.name} (HTTP 404: the server could"
        f" not find the metric {WAITING} for pods); an HPA metric that cannot be read blocks every scale-down,"
        " so the workload would only ever grow: check the adapter's logs and that the series exists in Cloud"
        " Monitoring"
    )
    set_every_pod(metrics, w, WAITING, 3)
    served = result(WAITING)
    assert (served.status, served.message) == (
        "pass",
        f"{WAITING} is served for HorizontalPodAutoscaler {w.name}: 1 pods",
    )

    # GPU: series of another workload only, then this one's.
    other = {
        "resource.labels.cluster": "prod",
        "resource.labels.namespace": w.ns,
        "metric.labels.vllm_serving_workload": "another",
    }
    metrics.set_external(w.ns, GPU, [(other, 50)])
    assert result(GPU).status == "warn"
    assert "no series report it for HorizontalPodAutoscaler" in result(GPU).message
    ours = {**other, "metric.labels.vllm_serving_workload": w.name}
    metrics.set_external(w.ns, GPU, [(other, 50), (ours, 40)])
    assert result(GPU).status == "pass"


def test_leaderworkerset_scales_through_its_scale_subresource(vllm_release, metrics, rest):
    """The HPA reads the leaders (the LeaderWorkerSet's status.hpaPodSelector) and sets spec.replicas:
    groups of two pods."""
    multinode = {"parallelism": {"tensor": 4, "pipeline": 2}, "gke": {"accelerator": "nvidia-a100-80gb"}}
    release = vllm_release(values={**values(), **multinode})
    lws = "vllm-vllm-serving-lws"
    w = Workload(release, rest, kind="leaderworkersets", group="apis/leaderworkerset.x-k8s.io/v1", name=lws)
    (leader,) = set_every_pod(metrics, w, WAITING, 13)
    assert leader == f"{w.name}-0"
    until(w, "2 groups", lambda: w.replicas() == 2, timeout=60)
    wait_for("the second leader", lambda: f"{w.name}-1" in w.pods(), timeout=60)
