"""The LeaderWorkerSet controller runs: a LeaderWorkerSet becomes pods, with LWS's labels and env.

The controller's admission webhooks label and configure a group's pods; the real
scheduler places them on the fake GKE nodes and kwok runs them. On a cluster that
--vllm-serving-kubeconfig names, the tests run when LeaderWorkerSet is installed there.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from vllm_serving.cluster import lws
from vllm_serving.cluster.testing import wait_for

pytestmark = pytest.mark.cluster

GROUP, VERSION, PLURAL = "leaderworkerset.x-k8s.io", "v1", "leaderworkersets"
NAME_LABEL = "leaderworkerset.sigs.k8s.io/name"
GROUP_KEY = "leaderworkerset.sigs.k8s.io/group-key"
GROUP_INDEX = "leaderworkerset.sigs.k8s.io/group-index"
WORKER_INDEX = "leaderworkerset.sigs.k8s.io/worker-index"
ZONE = "topology.kubernetes.io/zone"
POOL = "cloud.google.com/gke-nodepool"
HOLD = "vllm-serving.test/hold"


@pytest.fixture(scope="module")
def custom(api) -> client.CustomObjectsApi:
    """Skip unless the cluster runs the LeaderWorkerSet controller's webhooks."""
    hooks = client.AdmissionregistrationV1Api(api).list_mutating_webhook_configuration().items
    if not any(w.name == "mleaderworkerset.kb.io" for c in hooks for w in c.webhooks or []):
        pytest.skip("the cluster under test does not run the LeaderWorkerSet controller")
    return client.CustomObjectsApi(api)


@pytest.fixture(scope="module")
def module_namespace(api) -> Iterator[str]:
    core = client.CoreV1Api(api)
    name = f"lws-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name)


def group_affinity(selector_key: str = NAME_LABEL) -> dict[str, Any]:
    """A group's pods in one zone and one node pool: matchLabelKeys narrows each term to the pod's own group."""
    return {
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "topologyKey": key,
                    "labelSelector": {"matchExpressions": [{"key": selector_key, "operator": "Exists"}]},
                    "matchLabelKeys": [GROUP_KEY],
                }
                for key in (ZONE, POOL)
            ]
        }
    }


def h100_pod_spec(affinity: dict[str, Any]) -> dict[str, Any]:
    return {
        "nodeSelector": {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb", POOL: "h100-multinode"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": affinity,
        "containers": [
            {
                "name": "vllm",
                "image": "vllm/vllm-openai:v0.11.0",
                "resources": {
                    "requests": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "8"},
                    "limits": {"nvidia.com/gpu": "8"},
                },
            }
        ],
    }


def small_pod_spec() -> dict[str, Any]:
    return {
        "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10", "resources": {"requests": {"cpu": "50m"}}}]
    }


def leader_worker_set(name: str, size: int, pod_spec: dict[str, Any], replicas: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "LeaderWorkerSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "leaderWorkerTemplate": {
                "size": size,
                "restartPolicy": "RecreateGroupOnPodRestart",
                "workerTemplate": {"metadata": {"labels": {"app": name}}, "spec": pod_spec},
            },
        },
    }


def ready(pod: client.V1Pod) -> bool:
    return pod.status.phase == "Running" and any(
        c.type == "Ready" and c.status == "True" for c in pod.status.conditions or []
    )


def group_pods(core: client.CoreV1Api, namespace: str, name: str) -> list[client.V1Pod]:
    pods = core.list_namespaced_pod(namespace, label_selector=f"{NAME_LABEL}={name}").items
    return sorted((p for p in pods if not p.metadata.deletion_timestamp), key=lambda p: p.metadata.name)


def wait_ready_pods(core: client.CoreV1Api, namespace: str, name: str, count: int, timeout: float = 90):
    def check():
        pods = group_pods(core, namespace, name)
        return pods if len(pods) == count and all(ready(p) for p in pods) else None

    return wait_for(f"{count} Ready pods of LeaderWorkerSet {name}", check, timeout=timeout)


def env(pod: client.V1Pod) -> dict[str, str]:
    return {e.name: e.value for e in pod.spec.containers[0].env or []}


# ------------------------------------------------------------------ a multi-node GPU group
@pytest.fixture(scope="module")
def h100_group(api, custom, module_namespace) -> str:
    """One group of two a3-highgpu-8g pods (8 GPUs each), as a pipeline-parallel 2 vLLM replica asks."""
    custom.create_namespaced_custom_object(
        GROUP, VERSION, module_namespace, PLURAL, leader_worker_set("vllm", 2, h100_pod_spec(group_affinity()))
    )
    return "vllm"


def test_group_pods_run_with_lws_labels_and_env(api, module_namespace, h100_group):
    core = client.CoreV1Api(api)
    leader, worker = wait_ready_pods(core, module_namespace, h100_group, 2)
    assert (leader.metadata.name, worker.metadata.name) == ("vllm-0", "vllm-0-1")
    assert leader.metadata.labels[WORKER_INDEX] == "0"
    assert worker.metadata.labels[WORKER_INDEX] == "1"
    assert leader.metadata.labels[GROUP_INDEX] == worker.metadata.labels[GROUP_INDEX] == "0"
    assert leader.metadata.labels[GROUP_KEY] == worker.metadata.labels[GROUP_KEY]
    address = f"vllm-0.vllm.{module_namespace}"  # leader pod . headless Service (shared subdomain) . namespace
    assert env(leader) == {"LWS_LEADER_ADDRESS": address, "LWS_GROUP_SIZE": "2", "LWS_WORKER_INDEX": "0"}
    assert env(worker) == {"LWS_LEADER_ADDRESS": address, "LWS_GROUP_SIZE": "2", "LWS_WORKER_INDEX": "1"}
    # The controller made the headless Service the address resolves through.
    service = core.read_namespaced_service("vllm", module_namespace)
    assert service.spec.cluster_ip == "None"
    assert service.spec.selector == {NAME_LABEL: "vllm"}


def test_group_lands_on_two_h100_nodes_of_one_pool_and_zone(api, module_namespace, h100_group):
    core = client.CoreV1Api(api)
    pods = wait_ready_pods(core, module_namespace, h100_group, 2)
    nodes = [core.read_node(p.spec.node_name) for p in pods]
    labels = [n.metadata.labels for n in nodes]
    assert len({n.metadata.name for n in nodes}) == 2
    assert {lab["node.kubernetes.io/instance-type"] for lab in labels} == {"a3-highgpu-8g"}
    assert len({lab[POOL] for lab in labels}) == 1
    assert len({lab[ZONE] for lab in labels}) == 1
    # matchLabelKeys was merged into each term's selector at creation: this group's key only.
    term = pods[1].spec.affinity.pod_affinity.required_during_scheduling_ignored_during_execution[0]
    merged = {(e.key, e.operator, tuple(e.values or ())) for e in term.label_selector.match_expressions}
    assert (GROUP_KEY, "In", (pods[0].metadata.labels[GROUP_KEY],)) in merged


def test_lws_status_reports_ready_groups_and_hpa_selector(custom, api, module_namespace, h100_group):
    wait_ready_pods(client.CoreV1Api(api), module_namespace, h100_group, 2)

    def available():
        obj = custom.get_namespaced_custom_object_status(GROUP, VERSION, module_namespace, PLURAL, h100_group)
        status = obj.get("status") or {}
        conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
        return status if conditions.get("Available") == "True" and status.get("readyReplicas") == 1 else None

    status = wait_for("the LeaderWorkerSet to report Available", available)
    assert status["hpaPodSelector"] == f"{NAME_LABEL}={h100_group},{WORKER_INDEX}=0"


def test_deleting_a_worker_recreates_the_group(api, module_namespace, h100_group):
    """RecreateGroupOnPodRestart: a worker going away takes its leader (and so the group) with it."""
    core = client.CoreV1Api(api)
    leader, worker = wait_ready_pods(core, module_namespace, h100_group, 2)
    # kwok removes a deleted pod at once; a finalizer keeps it terminating (as a kubelet would during
    # its grace period) so that the controller surely sees the deletion.
    core.patch_namespaced_pod(worker.metadata.name, module_namespace, {"metadata": {"finalizers": [HOLD]}})
    try:
        core.delete_namespaced_pod(worker.metadata.name, module_namespace)

        def leader_deleted() -> bool:
            try:
                pod = core.read_namespaced_pod(leader.metadata.name, module_namespace)
            except client.ApiException as err:
                return err.status == 404
            return pod.metadata.uid != leader.metadata.uid or pod.metadata.deletion_timestamp is not None

        wait_for("the controller to delete the leader", leader_deleted)
    finally:
        core.patch_namespaced_pod(worker.metadata.name, module_namespace, {"metadata": {"finalizers": None}})
    new_leader, new_worker = wait_ready_pods(core, module_namespace, h100_group, 2)
    assert new_leader.metadata.uid != leader.metadata.uid
    assert new_worker.metadata.uid != worker.metadata.uid

    def recreate_group_event() -> bool:  # recorded apart from the pods' deletion, maybe after it
        events = core.list_namespaced_event(module_namespace, field_selector="reason=RecreateGroup").items
        return any(worker.metadata.name in e.message for e in events)

    wait_for(f"the controller's RecreateGroup event naming {worker.metadata.name}", recreate_group_event)


# ------------------------------------------------------------------ scale subresource (what an HPA drives)
def test_scale_subresource_adds_and_removes_groups(api, custom, namespace):
    core = client.CoreV1Api(api)
    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, leader_worker_set("cpu", 2, small_pod_spec())
    )
    wait_ready_pods(core, namespace, "cpu", 2)
    scale = custom.get_namespaced_custom_object_scale(GROUP, VERSION, namespace, PLURAL, "cpu")
    assert scale["spec"]["replicas"] == 1
    assert scale["status"]["selector"] == f"{NAME_LABEL}=cpu,{WORKER_INDEX}=0"

    custom.patch_namespaced_custom_object_scale(GROUP, VERSION, namespace, PLURAL, "cpu", {"spec": {"replicas": 3}})
    pods = wait_ready_pods(core, namespace, "cpu", 6)
    assert sorted(p.metadata.labels[GROUP_INDEX] for p in pods) == ["0", "0", "1", "1", "2", "2"]
    wait_for(
        "the scale subresource to report 3 replicas",
        lambda: (
            custom.get_namespaced_custom_object_scale(GROUP, VERSION, namespace, PLURAL, "cpu")["status"]["replicas"]
            == 3
        ),
    )

    custom.patch_namespaced_custom_object_scale(GROUP, VERSION, namespace, PLURAL, "cpu", {"spec": {"replicas": 1}})
    pods = wait_ready_pods(core, namespace, "cpu", 2)
    assert {p.metadata.name for p in pods} == {"cpu-0", "cpu-0-1"}


# ------------------------------------------------------------------ admission
def test_validating_webhook_rejects_an_invalid_leader_worker_set(custom, namespace):
    """A rollout that may neither surge nor take a group down could never progress (the chart's `rollout`)."""
    body = leader_worker_set("bad", 2, small_pod_spec())
    body["spec"]["rolloutStrategy"] = {
        "type": "RollingUpdate",
        "rollingUpdateConfiguration": {"maxUnavailable": 0, "maxSurge": 0},
    }
    with pytest.raises(client.ApiException) as err:
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    message = json.loads(err.value.body)["message"]
    assert message.startswith('admission webhook "vleaderworkerset.kb.io" denied the request'), message
    assert "must not be 0 when `maxSurge` is 0" in message, message


def test_selector_on_the_match_label_key_itself_is_rejected_for_group_pods(api, custom, namespace):
    """A pod-affinity term must not select on the key it lists in matchLabelKeys.

    The API server merges ``group-key In (<this pod's value>)`` into the selector, then rejects
    a selector that already names that key ("exists in both matchLabelKeys and labelSelector"):
    the StatefulSet cannot create the group's pods. Select on ``leaderworkerset.sigs.k8s.io/name``.
    """
    core = client.CoreV1Api(api)
    body = leader_worker_set("dup", 2, h100_pod_spec(group_affinity(selector_key=GROUP_KEY)))
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)

    def failed_create() -> str | None:
        events = core.list_namespaced_event(namespace, field_selector="reason=FailedCreate").items
        return next((e.message for e in events if e.involved_object.name == "dup"), None)

    message = wait_for("the StatefulSet's FailedCreate event", failed_create)
    assert "exists in both matchLabelKeys and labelSelector" in message, message
    assert group_pods(core, namespace, "dup") == []


# ------------------------------------------------------------------ wiring on the local cluster
def test_webhooks_point_at_the_local_controller(api, local_cluster):
    if not local_cluster.runs_lws:
        pytest.skip("started without the LeaderWorkerSet controller")
    state = local_cluster.state
    assert state["processes"][lws.COMPONENT]["pid"] in local_cluster.pids.values()
    assert local_cluster.processes()[lws.COMPONENT]
    upstream = lws.load(state["versions"][lws.MODULE])
    admission = client.AdmissionregistrationV1Api(api)
    ca = (local_cluster.state_dir / "pki" / "ca.crt").read_bytes()
    for config in upstream.webhook_configurations:
        name = lws.NAME_PREFIX + config["metadata"]["name"]
        if config["kind"] == "MutatingWebhookConfiguration":
            live = admission.read_mutating_webhook_configuration(name)
        else:
            live = admission.read_validating_webhook_configuration(name)
        hooks = {w.name: w for w in live.webhooks}
        served = [w for w in config["webhooks"] if lws.served(w)]
        assert set(hooks) == {w["name"] for w in served}
        for want in served:
            hook = hooks[want["name"]]
            path = want["clientConfig"]["service"]["path"]
            assert hook.client_config.url == f"https://127.0.0.1:{state['ports']['lws-webhook']}{path}"
            assert hook.client_config.service is None
            assert base64.b64decode(hook.client_config.ca_bundle) == ca
            if "pod" in want["name"]:  # only pods of a LeaderWorkerSet go through the webhook
                assert hook.object_selector.match_expressions[0].key == NAME_LABEL
