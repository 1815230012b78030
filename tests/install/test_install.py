"""Install tests: the chart on a real API server and scheduler (the local test cluster, or the cluster
--kubeconfig names). Every values file installs, its pods land where the values say and turn Ready."""

from __future__ import annotations

from pathlib import Path

import pytest

from paths import CI_FILES, VALUES_FILES
from support.manifests import of_kind, render
from vllm_serving import chart as chart_mod
from vllm_serving import timeline
from vllm_serving.errors import ClusterError
from vllm_serving.preflight.kube import Kube
from vllm_serving.verdict import chart_verdict

pytestmark = pytest.mark.cluster


def effective(path: Path) -> dict:
    return chart_verdict(chart_mod.chart_dir(), [path]).values


def needs_privilege(path: Path) -> bool:
    """Whether the rendered pods ask for a privileged container (the opt-in NFS read-ahead tuning)."""

    def privileged(pod_spec: dict) -> bool:
        containers = pod_spec.get("containers", []) + pod_spec.get("initContainers", [])
        return any(c.get("securityContext", {}).get("privileged") for c in containers)

    return any(privileged(spec) for spec in pod_specs(render(values_files=[path])))


def pod_specs(objects: list[dict]) -> list[dict]:
    specs = []
    for obj in objects:
        if obj["kind"] in ("Deployment", "Job"):
            specs.append(obj["spec"]["template"]["spec"])
        elif obj["kind"] == "LeaderWorkerSet":
            template = obj["spec"]["leaderWorkerTemplate"]
            specs += [template["leaderTemplate"]["spec"], template["workerTemplate"]["spec"]]
    return specs


def expected_pods(values: dict) -> int:
    """Pods a settled release has at least: a batch its first wave of shards, a server every replica."""
    if values["batch"]["enabled"]:
        return min(values["batch"]["shards"], values["batch"]["parallelism"])
    chat_ui = values["chatUI"]["replicas"] if values["chatUI"]["enabled"] else 0
    workloads = (
        max(1, len(values["weights"]["persistentDisk"]["disks"]))
        if values["weights"]["source"] == "persistentDisk"
        else 1
    )
    replicas = values["autoscaling"]["minReplicas"] if values["autoscaling"]["enabled"] else values["replicaCount"]
    return workloads * max(replicas, 1) * values["parallelism"]["pipeline"] + chat_ui


def assert_capacity(pod, values: dict) -> None:
    """The pod runs on the capacity its values ask for, judged by the labels GKE puts on such nodes
    (see the capacity pools in nodepools.yaml)."""
    gke, labels = values["gke"], pod.node_labels
    compute_class = gke["computeClass"]
    if compute_class["create"]:
        assert labels.get("cloud.google.com/compute-class") == compute_class["name"], pod
        assert pod.accelerator in {p["gpu"]["type"] for p in compute_class["priorities"]}, pod
    else:
        assert pod.accelerator == gke["accelerator"], pod
    assert (labels.get("cloud.google.com/gke-spot") == "true") == gke["spot"], pod
    provisioning = values["batch"]["provisioning"] if values["batch"]["enabled"] else "onDemand"
    if provisioning != "onDemand":
        assert labels.get("cloud.google.com/gke-flex-start") == "true", pod
    assert (labels.get("cloud.google.com/gke-queued") == "true") == (provisioning == "queuedProvisioning"), pod


def absent_objects(api, release, objects: list[dict]) -> list[str]:
    """The rendered objects (test hooks aside) the cluster does not hold, as kind/name."""
    from kubernetes import dynamic

    resources = dynamic.DynamicClient(api).resources
    absent = []
    for obj in objects:
        if "helm.sh/hook" in obj["metadata"].get("annotations", {}):
            continue
        kind = resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        try:
            kind.get(name=obj["metadata"]["name"], namespace=release.namespace if kind.namespaced else None)
        except dynamic.exceptions.NotFoundError:
            absent.append(f"{obj['kind']}/{obj['metadata']['name']}")
    return absent


@pytest.mark.parametrize("path", VALUES_FILES, ids=lambda p: p.name)
def test_values_file_installs_and_lands_on_its_pool(vllm_release, vllm_cluster, path):
    values = effective(path)
    level = "privileged" if needs_privilege(path) else "baseline"
    # Behind the gateway, the pool gets an InferenceObjective too, for the picker run below.
    extra = {"gateway": {"objectives": [OBJECTIVE]}} if values["gateway"]["enabled"] else None
    release = vllm_release(values_files=[path], values=extra, pod_security=level, wait=False)
    pods = release.wait(timeout=180, expect_pods=expected_pods(values))
    # Every object of the file is there: the gateway's InferencePool, HTTPRoute and GKE policies (CRDs from
    # their Go modules), the picker's Deployment, Service and RBAC, the NetworkPolicies, the monitors.
    with vllm_cluster.api_client() as api:
        objects = render(values_files=[path], values=extra, release=release.name, namespace=release.namespace)
        assert absent_objects(api, release, objects) == []
    if values["gateway"]["enabled"]:
        servers = [p for p in pods if p.component == "server"]
        assert_the_picker_runs_with_the_charts_rbac(vllm_cluster, release, objects, servers)
    # The endpoint picker runs on a CPU node: it asks for no GPU and tolerates no GPU taint.
    pickers = [p for p in pods if p.component == "endpoint-picker"]
    assert len(pickers) == (1 if values["gateway"]["enabled"] else 0)
    for pod in pickers:
        assert pod.ready and pod.accelerator == "" and pod.gpus == 0 and pod.pool, pod
    gke = values["gke"]
    gpu_pods = [p for p in pods if p.component in ("server", "worker", "batch")]
    assert gpu_pods
    for pod in gpu_pods:
        assert_capacity(pod, values)
        if gke["nodePool"]:
            assert pod.pool == gke["nodePool"], pod
        assert pod.gpus == values["parallelism"]["tensor"], pod
    for pod in pods:
        assert pod.ready or pod.phase == "Succeeded", pod
    assert_timeline(release, values, objects, [p.pod for p in gpu_pods if p.component == "server"])
    if values["chatUI"]["enabled"]:
        (ui,) = [p for p in pods if p.component == "chat-ui"]
        assert ui.accelerator == "" and ui.gpus == 0, "the chat UI runs on CPU nodes"
    if values["weights"]["source"] == "persistentDisk" and values["weights"]["persistentDisk"]["disks"]:
        zones = {handle.split("/")[3] for handle in values["weights"]["persistentDisk"]["disks"]}
        assert {pod.zone for pod in gpu_pods} <= zones
    if values["parallelism"]["pipeline"] > 1:
        # a group's pods share one pool and one zone, each on its own node
        assert len({(p.pool, p.zone) for p in gpu_pods}) == 1
        assert len({p.node for p in gpu_pods}) == len(gpu_pods)


OBJECTIVE = {"name": "premium", "priority": 10}


def assert_the_picker_runs_with_the_charts_rbac(cluster, release, objects: list[dict], servers: list) -> None:
    """The pinned picker itself (cmd/epp's runner setup, built from its module: support.eppflags.serve),
    from the rendered argv and config, against this API server as the chart's picker ServiceAccount (only
    the chart's Role applies): it syncs its InferencePool, tracks the serving pods, holds the chart's
    InferenceObjective with its priority, its health server answers the probes' service name, and its
    metrics answer a scraper without a token."""
    from support import eppflags

    (picker,) = [d for d in of_kind(objects, "Deployment") if d["metadata"]["name"].endswith("-epp")]
    (config,) = [c for c in of_kind(objects, "ConfigMap") if c["metadata"]["name"] == picker["metadata"]["name"]]
    spec = picker["spec"]["template"]["spec"]
    verdict = eppflags.serve(
        cluster.kubeconfig,
        spec["serviceAccountName"],
        release.namespace,
        spec["containers"][0]["args"],
        config["data"]["config.yaml"],
        objectives=[OBJECTIVE["name"]],
        pods=len(servers),
    )
    assert verdict.error == ""
    assert verdict.pool_synced
    assert [e.split("=")[0] for e in verdict.endpoints] == sorted(p.pod for p in servers)
    assert verdict.objectives == {OBJECTIVE["name"]: OBJECTIVE["priority"]}
    assert verdict.health == "SERVING"
    # The chart's PodMonitoring scrapes the picker without a token (--metrics-endpoint-auth=false).
    assert verdict.metrics == 200


def assert_timeline(release, values: dict, objects: list[dict], servers: list[str]) -> None:
    """`vllm-serving timeline` on what the cluster produces: kwok runs no containers, so there are status and
    events but no vLLM log; the budget is the chart's, the source the values'."""
    if not servers:  # a batch Job's pods run to completion: no startupProbe, nothing to time
        return
    (budget,) = {
        timeline.startup_budget({"spec": spec})
        for spec in pod_specs(objects)
        if any(c["name"] == "vllm" and "startupProbe" in c for c in spec["containers"])
    }
    with Kube.connect(release.kubeconfig) as kube:
        found = {t.pod: t for t in timeline.collect(kube, release.name, release.namespace)}
    assert set(servers) <= found.keys()
    for name in servers:
        t = found[name]
        steps = {s.name: s for s in t.steps}
        assert list(steps) == ["scheduling", "volumes", "vLLM start"], t
        assert all(s.seconds is not None for s in t.steps), t
        assert t.ready and t.budget_seconds == budget and t.weights_source == values["weights"]["source"]
        assert t.notes == ["no vLLM log: its phases are unknown (the kubelet served no log)"]
        assert t.hint.startswith("slowest: ")


AUTOPILOT_FILES = [
    p for p in VALUES_FILES + CI_FILES if chart_mod.load_values_file(p).get("gke", {}).get("mode") == "autopilot"
]


@pytest.mark.parametrize("path", AUTOPILOT_FILES, ids=lambda p: p.name)
def test_autopilot_file_installs_under_autopilot_admission(vllm_release, vllm_cluster, path):
    """In a namespace where the local cluster plays GKE Warden (tests/cluster/test_autopilot_admission.py),
    the release and its `helm test` are admitted; nodes for pods that select a secondary boot disk come
    from the local stand-in for Autopilot's node provisioning."""
    from vllm_serving.cluster import autopilot
    from vllm_serving.cluster.testing import wait_for

    if vllm_cluster.local is None:
        pytest.skip("Autopilot admission is played by the local test cluster")
    values = effective(path)
    release = vllm_release(values_files=[path], autopilot=True, wait=False)
    rest = vllm_cluster.local.rest()
    created: list[str] = []
    try:
        wait_for("the release's pods", lambda: release.placements(), timeout=60)
        created = autopilot.provision_nodes(rest, release.namespace)
        pods = release.wait(timeout=180, expect_pods=expected_pods(values))
        assert {p.accelerator for p in pods if p.component == "server"} == {values["gke"]["accelerator"]}
        assert "Phase:          Succeeded" in release.test(timeout="2m")
    finally:
        for node in created:  # other tests count the session's nodes
            rest.request("DELETE", f"/api/v1/nodes/{node}")
        rest.close()


def test_default_namespace_enforces_pod_security_baseline(vllm_release, vllm_cluster):
    from kubernetes import client

    release = vllm_release()
    with vllm_cluster.api_client() as api:
        labels = client.CoreV1Api(api).read_namespace(release.namespace).metadata.labels
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert [p.component for p in release.placements()] == ["server"]


def test_baseline_refuses_the_privileged_nfs_tuning_with_the_documented_message(vllm_release):
    path = next(p for p in VALUES_FILES if needs_privilege(p))
    release = vllm_release(values_files=[path], pod_security="baseline", wait=False)
    with pytest.raises(ClusterError) as refused:
        release.wait(timeout=6)
    message = str(refused.value)
    assert "FailedCreate" in message
    assert 'violates PodSecurity "baseline:latest": privileged (container "tune-read-ahead"' in message
    readme = (chart_mod.chart_dir() / "README.md").read_text()
    assert "pod-security.kubernetes.io/enforce=privileged" in readme


def test_per_zone_claims_bind_their_volumes_and_pods_follow_their_disks(vllm_release, vllm_cluster):
    """The chart's claims and volumes (vllm-serving.weights.staticVolumes) on the real PersistentVolume
    controller, which binds each zone's claim to the volume the chart made for it, and the real scheduler,
    which puts each zone's pods where that volume's node affinity allows."""
    from kubernetes import client

    (path,) = [p for p in CI_FILES if p.name == "persistent-disk-multizone-values.yaml"]
    release = vllm_release(values_files=[path])
    rendered = render(values_files=[path], release=release.name, namespace=release.namespace)
    volumes = {v["metadata"]["name"]: v for v in of_kind(rendered, "PersistentVolume")}
    with vllm_cluster.api_client() as api:
        core = client.CoreV1Api(api)
        claims = {c.metadata.name: c for c in core.list_namespaced_persistent_volume_claim(release.namespace).items}
        pods = core.list_namespaced_pod(release.namespace, label_selector="app.kubernetes.io/component=server").items
    assert len(claims) == len(volumes) == 2
    for claim in claims.values():
        assert claim.status.phase == "Bound"
        assert claim.spec.volume_name in volumes
        assert claim.status.access_modes == ["ReadOnlyMany"]
    nodes = {p.pod: p.zone for p in release.placements()}
    zones = set()
    for pod in pods:
        (claim,) = [v.persistent_volume_claim.claim_name for v in pod.spec.volumes if v.persistent_volume_claim]
        affinity = volumes[claims[claim].spec.volume_name]["spec"]["nodeAffinity"]["required"]
        (disk_zone,) = affinity["nodeSelectorTerms"][0]["matchExpressions"][0]["values"]
        assert nodes[pod.metadata.name] == disk_zone == pod.metadata.labels["vllm-serving/zone"], pod.metadata.name
        zones.add(disk_zone)
    assert zones == {"us-central1-a", "us-central1-b"}


def assert_pending(release, cluster, reason: str) -> None:
    """The release's one pod is marked unschedulable, and the scheduler's event in `wait`'s error gives the
    reason. Waits for both (the scheduler writes the pod's condition and its event apart), not for a time."""
    from kubernetes import client

    from vllm_serving.cluster.testing import wait_for

    with cluster.api_client() as api:
        core = client.CoreV1Api(api)

        def refused() -> bool:
            selector = f"app.kubernetes.io/instance={release.name}"
            pods = core.list_namespaced_pod(release.namespace, label_selector=selector).items
            conditions = [c for pod in pods for c in pod.status.conditions or []]
            scheduled = next((c for c in conditions if c.type == "PodScheduled"), None)
            return bool(scheduled and scheduled.reason == "Unschedulable") and any(
                "FailedScheduling" in problem for problem in release.problems()
            )

        wait_for("the pod to be marked Unschedulable, with the scheduler's event", refused, timeout=30)
    with pytest.raises(ClusterError) as pending:
        release.wait(timeout=0)
    message = str(pending.value)
    assert "FailedScheduling" in message
    assert reason in message
    assert [p.phase for p in release.placements()] == ["Pending"]


def test_a_tensor_size_no_node_can_hold_stays_pending_with_the_schedulers_reason(vllm_release, vllm_cluster):
    values = {"gke": {"accelerator": "nvidia-tesla-a100", "nodePool": "a100-x8"}, "parallelism": {"tensor": 16}}
    assert_pending(vllm_release(values=values, wait=False), vllm_cluster, "Insufficient nvidia.com/gpu")


def test_upgrade_changes_in_place_rollback_restores_uninstall_leaves_nothing(vllm_release, vllm_cluster):
    from kubernetes import client

    l4 = next(p for p in VALUES_FILES if p.name == "gemma-2-9b-it-l4.yaml")
    a100 = next(p for p in VALUES_FILES if p.name == "gemma-2-9b-it-a100.yaml")
    release = vllm_release(values_files=[l4])
    with vllm_cluster.api_client() as api:
        apps = client.AppsV1Api(api)
        uid = apps.read_namespaced_deployment("vllm-vllm-serving", release.namespace).metadata.uid
        assert {p.accelerator for p in release.placements() if p.component == "server"} == {"nvidia-l4"}

        assert release.install([a100]) == 2
        pods = release.wait(timeout=120)
        assert {p.accelerator for p in pods if p.component == "server"} == {"nvidia-tesla-a100"}
        assert apps.read_namespaced_deployment("vllm-vllm-serving", release.namespace).metadata.uid == uid

        release.rollback(1)
        pods = release.wait(timeout=120)
        assert {(p.component, p.accelerator) for p in pods} == {("server", "nvidia-l4")}  # chat UI gone again

        release.uninstall()
        core = client.CoreV1Api(api)
        selector = f"app.kubernetes.io/instance={release.name}"
        leftovers = (
            apps.list_namespaced_deployment(release.namespace, label_selector=selector).items
            + core.list_namespaced_service(release.namespace, label_selector=selector).items
            + core.list_namespaced_service_account(release.namespace, label_selector=selector).items
            + core.list_namespaced_persistent_volume_claim(release.namespace, label_selector=selector).items
            + client.PolicyV1Api(api)
            .list_namespaced_pod_disruption_budget(release.namespace, label_selector=selector)
            .items
        )
        assert leftovers == []


def test_helm_test_hook_runs_to_completion(vllm_release):
    release = vllm_release(values={"model": {"servedName": "qwen"}})
    out = release.test(timeout="2m")
    assert "Phase:          Succeeded" in out
    assert "vllm-vllm-serving-test" in out


def test_every_object_of_every_values_file_passes_the_api_servers_dry_run(vllm_cluster, tmp_path):
    """The API server's own validation and admission (with the CRDs installed), beyond the JSON schemas."""
    from kubernetes import client, dynamic

    with vllm_cluster.api_client() as api:
        namespace = f"dry-run-{tmp_path.name[-6:].lower().replace('_', '-')}"
        core = client.CoreV1Api(api)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
        resources = dynamic.DynamicClient(api).resources
        refused = []
        try:
            for path in VALUES_FILES + CI_FILES:
                for obj in render(values_files=[path], namespace=namespace):
                    kind = resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
                    try:
                        kind.create(
                            body=obj, namespace=namespace if kind.namespaced else None, query_params=[("dryRun", "All")]
                        )
                    except dynamic.exceptions.DynamicApiError as err:
                        refused.append(f"{path.name}: {obj['kind']}/{obj['metadata']['name']}: {err.summary()}")
        finally:
            core.delete_namespace(namespace)
    assert refused == []


CAPACITY_FILES = [p for p in CI_FILES if p.name in ("spot-values.yaml", "batch-queued-provisioning-values.yaml")]


@pytest.mark.parametrize("path", CAPACITY_FILES, ids=lambda p: p.name)
def test_spot_and_queued_provisioning_land_on_their_pools(vllm_release, path):
    """Spot pods on the Spot pool (tolerating its taint), queued-provisioning pods on the queued pool.
    The local cluster runs no cluster autoscaler: the ProvisioningRequest is accepted by its upstream CRD
    and left alone, and the pods schedule onto nodes that already exist."""
    values = effective(path)
    release = vllm_release(values_files=[path], wait=False)
    pods = release.wait(timeout=180, expect_pods=expected_pods(values))
    gpu_pods = [p for p in pods if p.component in ("server", "batch")]
    assert len(gpu_pods) == expected_pods(values)
    for pod in gpu_pods:
        assert_capacity(pod, values)
        assert pod.ready or pod.phase == "Succeeded", pod
    assert {p.pool for p in gpu_pods} == {"l4-queued" if values["batch"]["enabled"] else "l4-spot"}


def test_a_pod_whose_compute_class_has_no_nodes_stays_pending_with_the_schedulers_reason(vllm_release, vllm_cluster):
    release = vllm_release(values={"gke": {"computeClass": {"name": "no-such-class"}}}, wait=False)
    assert_pending(release, vllm_cluster, "didn't match Pod's node affinity/selector")
