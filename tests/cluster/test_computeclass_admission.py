"""GKE's ComputeClass rules, played by the local cluster's real kube-apiserver: the class's own rules as CEL
validations of the local ComputeClass CRD (scripts/vllm_serving/cluster/computeclass-crd.yaml), the rules
of Pods that select a class as ValidatingAdmissionPolicies bound in every namespace
(computeclass-policies.yaml), and Autopilot's GPU rule for classes (autopilot.yaml). Each rule refuses
its target, quoted from "About custom ComputeClasses"; the chart's old renderings of issue 22 are refused
and today's admitted."""

from __future__ import annotations

import copy
import functools
import json

import pytest

from support.manifests import render, serving_pod_spec
from vllm_serving.cluster import autopilot, computeclass
from vllm_serving.cluster.rest import ApiError

pytestmark = pytest.mark.cluster

CLASSES = "/apis/cloud.google.com/v1/computeclasses"
L4 = {"machineType": "g2-standard-24", "gpu": {"type": "nvidia-l4", "count": 2}}
A3_RESERVED = {
    "machineType": "a3-highgpu-8g",
    "gpu": {"type": "nvidia-h100-80gb", "count": 8},
    "reservations": {"affinity": "AnyBestEffort"},
}


@pytest.fixture(scope="module")
def rest(local_cluster):
    client = local_cluster.rest()
    yield client
    client.close()


def refusal(rest, path: str, obj: dict) -> str | None:
    """None if the API server admits obj (dry run), else its message."""
    try:
        rest.create(f"{path}?dryRun=All", obj)
    except ApiError as err:
        return json.loads(err.body)["message"]
    return None


def compute_class(name: str, *priorities: dict) -> dict:
    return {
        "apiVersion": "cloud.google.com/v1",
        "kind": "ComputeClass",
        "metadata": {"name": name},
        "spec": {"priorities": list(priorities), "nodePoolAutoCreation": {"enabled": True}},
    }


# Each CEL rule of the CRD: a class it refuses, and the message.
CLASS_RULES = {
    "name": (
        compute_class("gke-l4", L4),
        "metadata.name: the name of a ComputeClass can't begin with gke or autopilot",
    ),
    "autopilot-name": (compute_class("autopilot-l4", L4), "can't begin with gke or autopilot"),
    "nodepools-alone": (
        compute_class("l4", {"nodepools": ["l4-x2"], "gpu": {"type": "nvidia-l4", "count": 2}}),
        "nodepools can't be used with other fields in the same priority",
    ),
    "reservation-machine": (
        compute_class("l4", {"gpu": {"type": "nvidia-l4", "count": 2}, "reservations": {"affinity": "AnyBestEffort"}}),
        "reservations can be used only when machineType or machineFamily is defined",
    ),
    "reservation-local-ssd": (
        compute_class("h100", A3_RESERVED),
        "reservations for a machineType with attached local SSDs must set storage.localSSDCount",
    ),
}


@pytest.mark.parametrize("rule", sorted(CLASS_RULES))
def test_the_crd_refuses_each_class_gke_refuses(rest, rule):
    obj, message = CLASS_RULES[rule]
    assert message in (refusal(rest, CLASSES, obj) or "admitted")


def test_the_crd_admits_what_gke_documents(rest):
    fine = compute_class(
        "vllm-h100",
        {**A3_RESERVED, "storage": {"localSSDCount": 16}},
        {"nodepools": ["h100-x8"]},
        {**L4, "reservations": {"affinity": "AnyBestEffort"}},
    )
    assert refusal(rest, CLASSES, fine) is None


def pod(spec: dict) -> dict:
    """A Pod of a rendered pod spec, without the release's ServiceAccount (not created here)."""
    spec = {k: v for k, v in spec.items() if k != "serviceAccountName"}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec}


def pods_path(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/pods"


def test_one_policy_per_rule_citing_its_gke_page(rest):
    policies = rest.get(f"{autopilot.API}/validatingadmissionpolicies")["items"]
    ours = [p for p in policies if p["metadata"]["name"].startswith(computeclass.PREFIX)]
    assert [p["metadata"]["name"] for p in ours] == [f"{computeclass.PREFIX}class-selects-system-labels"]
    assert ours[0]["metadata"]["annotations"]["vllm-serving.dev/source"] == (
        "https://cloud.google.com/kubernetes-engine/docs/concepts/about-custom-compute-classes"
    )


@functools.cache
def class_pod_spec(namespace: str) -> dict:
    return serving_pod_spec(render({"gke": {"computeClass": {"name": "vllm-l4-x2"}}}, namespace=namespace))


@pytest.mark.parametrize("namespace", ["default", autopilot.NAMESPACE])
@pytest.mark.parametrize(
    ("label", "field"),
    [
        ("cloud.google.com/gke-spot", "priorities.spot"),
        ("cloud.google.com/machine-family", "priorities.machineFamily"),
        ("cloud.google.com/gke-ephemeral-storage-local-ssd", "priorities.storage.localSSDCount"),
    ],
)
def test_a_pod_selecting_a_class_and_a_label_it_decides_is_refused_everywhere(rest, namespace, label, field):
    """Issue 22's renderings: gke.spot beside a class, and a class with GCSFuse's Local SSD file cache."""
    spec = copy.deepcopy(class_pod_spec(namespace))
    assert refusal(rest, pods_path(namespace), pod(spec)) is None
    old = copy.deepcopy(spec)
    old["nodeSelector"][label] = "true" if label != "cloud.google.com/machine-family" else "g2"
    message = refusal(rest, pods_path(namespace), pod(old)) or "admitted"
    assert (
        f"Pod selects ComputeClass vllm-l4-x2 and the system label {label}, which the class decides: remove the"
        f" node selector and set {field} in the ComputeClass"
    ) in message


def test_gkes_built_in_classes_take_spot_and_the_accelerator_beside_them(rest):
    spec = serving_pod_spec(
        render({"gke": {"mode": "autopilot", "spot": True, "computeClass": {"name": "Accelerator"}}})
    )
    assert spec["nodeSelector"]["cloud.google.com/gke-spot"] == "true"
    assert refusal(rest, pods_path(autopilot.NAMESPACE), pod(spec)) is None


def test_autopilot_refuses_a_gpu_pod_on_the_accelerator_class_without_its_accelerator(rest):
    """Issue 22: the chart rendered Autopilot + Accelerator without cloud.google.com/gke-accelerator."""
    spec = serving_pod_spec(render({"gke": {"mode": "autopilot", "computeClass": {"name": "Accelerator"}}}))
    assert refusal(rest, pods_path(autopilot.NAMESPACE), pod(spec)) is None
    old = copy.deepcopy(spec)
    del old["nodeSelector"]["cloud.google.com/gke-accelerator"]
    assert "you must specify either node selector 'cloud.google.com/gke-accelerator'" in (
        refusal(rest, pods_path(autopilot.NAMESPACE), pod(old)) or "admitted"
    )
    custom = copy.deepcopy(old)
    custom["nodeSelector"]["cloud.google.com/compute-class"] = "vllm-l4-x2"
    assert refusal(rest, pods_path(autopilot.NAMESPACE), pod(custom)) is None


def test_autopilot_admits_flex_start_and_workload_separation_but_not_a_bare_custom_key(rest):
    limited = {"cpuLimit": "1", "memoryLimit": "2Gi", "ephemeralStorageLimit": "5Gi"}  # Autopilot's GCSFuse sidecar
    values = {
        "gke": {"mode": "autopilot"},
        "batch": {"enabled": True, "bucket": "my-batch", "provisioning": "flexStart"},
        "weights": {"gcsfuse": {"sidecar": limited}},
    }
    objects = render(values, namespace=autopilot.NAMESPACE)
    job = next(
        o for o in objects if o["kind"] == "Job" and o["metadata"]["labels"]["app.kubernetes.io/component"] == "batch"
    )
    spec = job["spec"]["template"]["spec"]
    assert spec["nodeSelector"]["cloud.google.com/gke-flex-start"] == "true"
    assert refusal(rest, pods_path(autopilot.NAMESPACE), pod(spec)) is None
    separated = copy.deepcopy(spec)
    separated["nodeSelector"]["team"] = "llm"
    assert "Key 'team' is not allowed with node selector" in (
        refusal(rest, pods_path(autopilot.NAMESPACE), pod(separated)) or "admitted"
    )
    separated["tolerations"].append({"key": "team", "operator": "Equal", "value": "llm", "effect": "NoSchedule"})
    assert refusal(rest, pods_path(autopilot.NAMESPACE), pod(separated)) is None
