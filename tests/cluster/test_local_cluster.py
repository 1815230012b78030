"""The local test cluster behaves like a GKE cluster with GPU node pools.

Run with ``pytest -m cluster tests/cluster``. The first run builds the binaries
(many minutes); later sessions start the cluster in well under a minute.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.utils import parse_quantity

from vllm_serving.cluster import crds, nodes
from vllm_serving.cluster.local import LocalCluster, process_alive
from vllm_serving.cluster.testing import wait_for
from vllm_serving.commands import cluster as cluster_command

pytestmark = pytest.mark.cluster

GPU_TOLERATION = client.V1Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")


def gpu_pod(name: str, gpus: int, node_selector: dict[str, str], *, tolerate: bool = True) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels={"app": name}),
        spec=client.V1PodSpec(
            containers=[
                client.V1Container(
                    name="vllm",
                    image="vllm/vllm-openai:v0.11.0",
                    resources=client.V1ResourceRequirements(
                        requests={"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": str(gpus)},
                        limits={"nvidia.com/gpu": str(gpus)},
                    ),
                )
            ],
            node_selector=node_selector,
            tolerations=[GPU_TOLERATION] if tolerate else None,
        ),
    )


def quantities(resources: dict[str, str]) -> dict[str, Decimal]:
    """Resource amounts as numbers: the API server canonicalizes 33554432Ki to 32Gi."""
    return {k: parse_quantity(v) for k, v in resources.items()}


def pod_condition(pod: client.V1Pod, kind: str) -> client.V1PodCondition | None:
    return next((c for c in (pod.status.conditions or []) if c.type == kind), None)


# ------------------------------------------------------------------ nodes
@pytest.fixture(scope="module")
def spec_nodes(local_cluster):
    return {n.name: n for n in nodes.nodes(nodes.load_spec(local_cluster.node_pools))}


def test_nodes_are_ready_with_spec_labels_taints_and_allocatable(api, spec_nodes):
    live = {n.metadata.name: n for n in client.CoreV1Api(api).list_node().items}
    assert set(spec_nodes) <= set(live)
    for name, want in spec_nodes.items():
        node = live[name]
        ready = next(c for c in node.status.conditions if c.type == "Ready")
        assert ready.status == "True", name
        for key, value in want.labels.items():
            assert node.metadata.labels.get(key) == value, f"{name}: label {key}"
        taints = [{"key": t.key, "value": t.value, "effect": t.effect} for t in node.spec.taints or []]
        assert taints == want.taints, name
        assert quantities(node.status.allocatable) == quantities(want.allocatable), name
        assert quantities(node.status.capacity) == quantities(want.capacity), name


def test_every_node_holds_a_lease_renewed_like_a_kubelets(api, spec_nodes):
    """The node lifecycle controller (kube-controller-manager) reads node health from the Lease in
    kube-node-lease. Without one it finds each node stale after its grace period and marks the node's
    pods NotReady, which kwok's pod stages never set back: installs then failed at random."""
    import datetime

    leases = {
        lease.metadata.name: lease
        for lease in client.CoordinationV1Api(api).list_namespaced_lease("kube-node-lease").items
    }
    assert set(spec_nodes) <= set(leases)
    now = datetime.datetime.now(datetime.UTC)
    for name in spec_nodes:
        spec = leases[name].spec
        assert spec.lease_duration_seconds == 40, name
        # renewed every quarter of the duration; a stale lease is one older than the duration
        assert (now - spec.renew_time).total_seconds() < spec.lease_duration_seconds, name


# ------------------------------------------------------------------ scheduling
def test_gpu_pod_lands_on_its_pool_and_becomes_ready(api, namespace):
    core = client.CoreV1Api(api)
    selector = {"cloud.google.com/gke-accelerator": "nvidia-l4", "cloud.google.com/gke-nodepool": "l4-x2"}
    core.create_namespaced_pod(namespace, gpu_pod("l4", 2, selector))
    pod = wait_for(
        "the L4 pod to become Ready",
        lambda: (
            p
            if (p := core.read_namespaced_pod("l4", namespace)).status.phase == "Running"
            and (c := pod_condition(p, "Ready"))
            and c.status == "True"
            else None
        ),
    )
    node = core.read_node(pod.spec.node_name)
    assert node.metadata.labels["cloud.google.com/gke-nodepool"] == "l4-x2"
    assert node.metadata.labels["node.kubernetes.io/instance-type"] == "g2-standard-24"
    assert pod.status.pod_ip
    assert pod.status.container_statuses[0].ready


def test_accelerator_selector_alone_picks_a_node_with_enough_gpus(api, namespace):
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(namespace, gpu_pod("l4x8", 8, {"cloud.google.com/gke-accelerator": "nvidia-l4"}))
    pod = wait_for(
        "the pod to be scheduled", lambda: (p := core.read_namespaced_pod("l4x8", namespace)).spec.node_name and p
    )
    assert core.read_node(pod.spec.node_name).metadata.labels["cloud.google.com/gke-nodepool"] == "l4-x8"


def _unschedulable(core: client.CoreV1Api, name: str, namespace: str) -> str:
    """Wait until the scheduler has both marked the pod unschedulable (its PodScheduled condition) and said
    why (its FailedScheduling event); return the event's message. The scheduler writes the two apart (the
    event through an asynchronous recorder), so neither proves the other."""

    def refused() -> str | None:
        pod = core.read_namespaced_pod(name, namespace)
        scheduled = pod_condition(pod, "PodScheduled")
        if pod.status.phase != "Pending" or scheduled is None or scheduled.reason != "Unschedulable":
            return None
        events = core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}").items
        return next((e.message for e in events if e.reason == "FailedScheduling"), None)

    return wait_for(f"{name} to be marked Unschedulable, with the scheduler's FailedScheduling event", refused)


def test_more_gpus_than_any_node_stays_pending_with_a_reason(api, namespace):
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(namespace, gpu_pod("too-big", 17, {}))
    message = _unschedulable(core, "too-big", namespace)
    assert "Insufficient nvidia.com/gpu" in message, message


def test_gpu_taint_keeps_pods_without_toleration_off_gpu_nodes(api, namespace):
    core = client.CoreV1Api(api)
    pod = gpu_pod("no-toleration", 1, {"cloud.google.com/gke-accelerator": "nvidia-tesla-a100"}, tolerate=False)
    core.create_namespaced_pod(namespace, pod)
    message = _unschedulable(core, "no-toleration", namespace)
    assert "had untolerated taint" in message, message


# ------------------------------------------------------------------ control plane
def test_chart_crds_are_established(api):
    ext = client.ApiextensionsV1Api(api)
    want = {
        "podmonitorings.monitoring.googleapis.com",
        "servicemonitors.monitoring.coreos.com",
        "leaderworkersets.leaderworkerset.x-k8s.io",
        "scaledobjects.keda.sh",
    }
    if not want <= {c.metadata.name for c in ext.list_custom_resource_definition().items}:
        pytest.skip("the cluster under test has not all the chart's CRDs")
    for name in want:
        conditions = {c.type: c.status for c in ext.read_custom_resource_definition_status(name).status.conditions}
        assert conditions.get("Established") == "True", name


def test_crds_come_from_the_pinned_upstream_modules(api, local_cluster):
    if not local_cluster.install_crds:
        pytest.skip("started without CRDs")
    upstream = {c["metadata"]["name"]: c for c in crds.load()}
    assert len(upstream) >= len(crds.sources())  # every source names at least one CRD file
    ext = client.ApiextensionsV1Api(api)
    for name, crd in upstream.items():
        live = ext.read_custom_resource_definition(name)
        assert [v.name for v in live.spec.versions] == [v["name"] for v in crd["spec"]["versions"]], name


def test_custom_resources_are_validated_by_the_upstream_schema(api, namespace):
    custom = client.CustomObjectsApi(api)
    body = {
        "apiVersion": "monitoring.googleapis.com/v1",
        "kind": "PodMonitoring",
        "metadata": {"name": "vllm"},
        "spec": {"selector": {"matchLabels": {"app": "vllm"}}, "endpoints": [{"port": 8000, "interval": "15s"}]},
    }
    custom.create_namespaced_custom_object("monitoring.googleapis.com", "v1", namespace, "podmonitorings", body)
    body["metadata"]["name"] = "bad"
    body["spec"]["endpoints"][0]["interval"] = "soon"
    with pytest.raises(client.ApiException) as err:
        custom.create_namespaced_custom_object("monitoring.googleapis.com", "v1", namespace, "podmonitorings", body)
    assert err.value.status == 422


def test_service_accounts_get_tokens(api, namespace):
    core = client.CoreV1Api(api)
    wait_for("the default ServiceAccount", lambda: core.list_namespaced_service_account(namespace).items)
    token = core.create_namespaced_service_account_token(
        "default", namespace, client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[]))
    )
    assert token.status.token.count(".") == 2  # a signed JWT


def test_namespace_deletion_completes(api):
    core = client.CoreV1Api(api)
    name = "delete-me"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    core.create_namespaced_config_map(
        name, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cm"), data={"a": "b"})
    )
    core.create_namespaced_pod(name, gpu_pod("p", 1, {"cloud.google.com/gke-accelerator": "nvidia-l4"}))
    wait_for("the pod to run", lambda: core.read_namespaced_pod("p", name).status.phase == "Running")
    core.delete_namespace(name)

    def gone() -> bool:
        try:
            core.read_namespace(name)
        except client.ApiException as err:
            return err.status == 404
        return False

    wait_for("namespace deletion to complete", gone, timeout=90)


# ------------------------------------------------------------------ lifecycle (CLI, detached)
def test_cli_up_down_leaves_no_process(tmp_path: Path, capsys, local_cluster):
    state_dir = tmp_path / "detached"
    try:
        assert cluster_command.main(["up", "--state-dir", str(state_dir), "--no-crds", "--no-nodes"]) == 0
        assert capsys.readouterr().out.strip() == f"export KUBECONFIG={state_dir / 'kubeconfig'}"
        records = json.loads((state_dir / "state.json").read_text())["processes"]
        assert set(records) == {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}
        assert all(process_alive(r) for r in records.values())
        assert cluster_command.main(["status", "--state-dir", str(state_dir)]) == 0

        assert cluster_command.main(["down", "--state-dir", str(state_dir)]) == 0
        for name, record in records.items():
            assert not process_alive(record), f"{name} (pid {record['pid']}) still running"
            assert not Path(f"/proc/{record['pid']}").exists() or _zombie(record["pid"]), name
        assert cluster_command.main(["status", "--state-dir", str(state_dir)]) == 1
        assert cluster_command.main(["down", "--state-dir", str(state_dir)]) == 0  # idempotent
    finally:
        if (state_dir / "state.json").exists():  # never leave a detached cluster behind a failed assertion
            LocalCluster.from_state(state_dir).stop()


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2] == "Z"
