"""The local cluster's Autopilot mode: GKE Warden's published constraints, enforced by the real
kube-apiserver as ValidatingAdmissionPolicies (scripts/vllm_serving/cluster/autopilot.yaml) in namespaces
labelled vllm-serving.dev/gke-mode=autopilot. Each policy refuses the object it targets with GKE's wording;
each chart defect of issue 16 that Autopilot refuses is shown refused here, and admitted in a Standard
namespace."""

from __future__ import annotations

import json

import pytest

from support.manifests import render
from vllm_serving.cluster import autopilot
from vllm_serving.cluster.rest import ApiError

pytestmark = pytest.mark.cluster

GPU = {"limits": {"nvidia.com/gpu": "1"}}
L4 = {"cloud.google.com/gke-accelerator": "nvidia-l4"}
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


@pytest.fixture(scope="module")
def rest(local_cluster):
    client = local_cluster.rest()
    yield client
    client.close()


@pytest.fixture(scope="module")
def spaces(rest):
    """The cluster's Autopilot-mode namespace and a Standard one (the ServiceAccount admission needs their
    default ServiceAccounts, which both have once the cluster is up)."""
    labels = rest.get(f"/api/v1/namespaces/{autopilot.NAMESPACE}")["metadata"]["labels"]
    assert labels[autopilot.LABEL] == "autopilot"
    return {"autopilot": autopilot.NAMESPACE, "standard": "default"}


def pod(name: str = "p", *, containers: list | None = None, **spec) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": containers or [{"name": "c", "image": "busybox"}], **spec},
    }


COLLECTIONS = {
    "Pod": "/api/v1/namespaces/{ns}/pods",
    "Deployment": "/apis/apps/v1/namespaces/{ns}/deployments",
    "Job": "/apis/batch/v1/namespaces/{ns}/jobs",
}


def refusal(rest, namespace: str, obj: dict) -> str | None:
    """None if the API server admits obj (dry run), else its message."""
    try:
        rest.create(COLLECTIONS[obj["kind"]].format(ns=namespace) + "?dryRun=All", obj)
    except ApiError as err:
        return json.loads(err.body)["message"]
    return None


CASES = {
    "autogke-disallow-privilege": (
        pod(containers=[{"name": "tune", "image": "busybox", "securityContext": {"privileged": True}}]),
        "[denied by autogke-disallow-privilege] container tune is privileged; not allowed in Autopilot",
    ),
    "autogke-disallow-hostnamespaces": (
        pod(hostPID=True),
        "[denied by autogke-disallow-hostnamespaces] enabling hostPID is not allowed in Autopilot.",
    ),
    "autogke-node-affinity-selector-limitation": (
        pod(nodeSelector={"cloud.google.com/gke-nodepool": "l4-x2"}),
        "[denied by autogke-node-affinity-selector-limitation] Key 'cloud.google.com/gke-nodepool' is not allowed"
        " with node selector; Autopilot only allows labels with keys: cloud.google.com/compute-class,",
    ),
    "autogke-default-linux-capabilities": (
        pod(
            containers=[
                {"name": "c", "image": "busybox", "securityContext": {"capabilities": {"add": ["CHOWN", "NET_ADMIN"]}}}
            ]
        ),
        "[denied by autogke-default-linux-capabilities] linux capability 'NET_ADMIN' on container 'c' not allowed;"
        " Autopilot only allows the capabilities: 'AUDIT_WRITE,CHOWN,DAC_OVERRIDE,FOWNER,FSETID,KILL,MKNOD,"
        "NET_BIND_SERVICE,SETFCAP,SETGID,SETPCAP,SETUID,SYS_CHROOT,SYS_PTRACE'.",
    ),
    "autogke-no-write-mode-hostpath": (
        pod(volumes=[{"name": "models", "hostPath": {"path": "/mnt/models"}}]),
        "[denied by autogke-no-write-mode-hostpath] hostPath volume models uses path /mnt/models which is not"
        ' allowed in Autopilot. Allowed path prefixes for hostPath volumes are: ["/var/log/"].',
    ),
    "autogke-gpu-limitation-toleration": (
        pod(tolerations=[GPU_TOLERATION]),
        "[denied by autogke-gpu-limitation] The toleration with key 'nvidia.com/gpu' and operator 'Exists' cannot"
        " be specified if the pod does not request to use GPU in Autopilot.",
    ),
    "autogke-gpu-limitation-selector": (
        pod(containers=[{"name": "c", "image": "busybox", "resources": GPU}]),
        "[denied by autogke-gpu-limitation] When requesting 'nvidia.com/gpu' resources, you must specify either"
        " node selector 'cloud.google.com/gke-accelerator' with accelerator type",
    ),
}


def test_one_policy_per_constraint_each_citing_its_gke_page(rest):
    policies = rest.get(f"{autopilot.API}/validatingadmissionpolicies")["items"]
    ours = {p["metadata"]["name"]: p for p in policies if p["metadata"]["name"].startswith("gke-autopilot-")}
    assert set(ours) == {f"gke-autopilot-{name}" for name in CASES}
    for policy in ours.values():
        assert policy["metadata"]["annotations"]["vllm-serving.dev/source"].startswith(
            "https://cloud.google.com/kubernetes-engine/docs/"
        )


@pytest.mark.parametrize("constraint", sorted(CASES))
def test_policy_refuses_with_gke_wording_only_in_autopilot_namespaces(rest, spaces, constraint):
    obj, wording = CASES[constraint]
    message = refusal(rest, spaces["autopilot"], obj)
    assert message is not None, f"{constraint} admitted {obj}"
    assert wording in message
    assert refusal(rest, spaces["standard"], obj) is None


def test_a_gpu_pod_as_autopilot_wants_it_is_admitted(rest, spaces):
    sbd = {
        "cloud.google.com.node-restriction.kubernetes.io/gke-secondary-boot-disk-vllm-cache": "CONTAINER_IMAGE_CACHE.p"
    }
    gpu_pod = pod(
        containers=[
            {
                "name": "c",
                "image": "busybox",
                "resources": GPU,
                "securityContext": {"capabilities": {"add": ["SYS_PTRACE", "NET_BIND_SERVICE"], "drop": ["ALL"]}},
            }
        ],
        nodeSelector={**L4, **sbd, "topology.kubernetes.io/zone": "us-central1-a"},
        tolerations=[GPU_TOLERATION],
    )
    assert refusal(rest, spaces["autopilot"], gpu_pod) is None


def test_workloads_are_refused_at_apply_time_like_warden_does(rest, spaces):
    privileged = CASES["autogke-disallow-privilege"][0]["spec"]
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": privileged},
        },
    }
    assert "container tune is privileged; not allowed in Autopilot" in refusal(rest, spaces["autopilot"], deployment)


# The chart's own defects (issue 16, section 2), rendered as they were: each is refused on Autopilot.
DEFECTS = {
    "helm test pod with the GPU toleration and no GPU": (
        {"gke": {"mode": "standard"}},
        "Job",
        "test",
        "The toleration with key 'nvidia.com/gpu' and operator 'Exists' cannot be specified",
    ),
    "gke.nodePool as a node selector": (
        {"gke": {"mode": "standard", "nodePool": "l4-x2"}},
        "Deployment",
        "server",
        "Key 'cloud.google.com/gke-nodepool' is not allowed with node selector",
    ),
    "privileged NFS read-ahead": (
        {"weights": {"source": "nfs", "nfs": {"server": "10.0.0.2", "share": "/vol1", "readAhead": {"enabled": True}}}},
        "Deployment",
        "server",
        "container tune-read-ahead is privileged; not allowed in Autopilot",
    ),
}


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_the_standard_rendering_is_refused_on_autopilot_and_the_autopilot_one_admitted(rest, spaces, defect):
    values, kind, component, wording = DEFECTS[defect]

    def target(objects):
        return next(
            o
            for o in objects
            if o["kind"] == kind and o["metadata"]["labels"]["app.kubernetes.io/component"] == component
        )

    standard = target(render(values, namespace=spaces["autopilot"]))
    assert wording in (refusal(rest, spaces["autopilot"], standard) or "admitted")
    if defect == "helm test pod with the GPU toleration and no GPU":
        fixed = target(render({"gke": {"mode": "autopilot"}}, namespace=spaces["autopilot"]))
        assert refusal(rest, spaces["autopilot"], fixed) is None
