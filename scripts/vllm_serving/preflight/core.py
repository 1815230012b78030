"""What every group of checks shares: the result type and the context (values, rendered objects, cluster)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from vllm_serving.preflight.kube import Kube, Object

Status = Literal["pass", "warn", "fail"]
PASS: Status = "pass"
WARN: Status = "warn"
FAIL: Status = "fail"

ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"
NODEPOOL_LABEL = "cloud.google.com/gke-nodepool"
ZONE_LABELS = ("topology.kubernetes.io/zone", "topology.gke.io/zone", "failure-domain.beta.kubernetes.io/zone")
GPU = "nvidia.com/gpu"
# GKE's cluster autoscaler (and node auto-provisioning) writes its status here; its presence means a
# pod that fits no current node may still get one.
AUTOSCALER_STATUS = "/api/v1/namespaces/kube-system/configmaps/cluster-autoscaler-status"


@dataclass
class Result:
    """One check: a short name, pass/warn/fail, and a message that says what is wrong and how to fix it."""

    name: str
    status: Status
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class PodTemplate:
    """A pod the release would create: the workload that owns it and the template it comes from."""

    kind: str  # Deployment, LeaderWorkerSet, Job
    name: str  # the workload's name
    role: str  # server, worker, batch, chat-ui, test
    template: Object  # {metadata, spec}

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name}" + (f" ({self.role})" if self.kind == "LeaderWorkerSet" else "")

    @property
    def spec(self) -> Object:
        return self.template.get("spec") or {}


@dataclass
class Context:
    """Effective values, the rendered release and the live cluster, read once and shared by the checks."""

    values: dict[str, Any]
    objects: list[Object]
    kube: Kube
    namespace: str
    release: str
    chart: Path
    rules: dict[str, Any]
    # what a check works out once for the others (e.g. nodes.fit_of): checks build on this module, not it on them
    memo: dict[str, Any] = field(default_factory=dict, repr=False)

    # ----------------------------------------------------------------- rendered objects
    def of_kind(self, kind: str) -> list[Object]:
        return [o for o in self.objects if o.get("kind") == kind]

    @cached_property
    def pod_templates(self) -> list[PodTemplate]:
        """Every pod template of the release, in render order (serving, chat UI, batch, test hook)."""
        found: list[PodTemplate] = []
        for obj in self.objects:
            kind, name = obj.get("kind"), obj["metadata"]["name"]
            labels = obj["metadata"].get("labels") or {}
            component = labels.get("app.kubernetes.io/component", "")
            if kind in ("Deployment", "Job"):
                found.append(PodTemplate(kind, name, component or kind.lower(), obj["spec"]["template"]))
            elif kind == "LeaderWorkerSet":
                group = obj["spec"]["leaderWorkerTemplate"]
                found.append(PodTemplate(kind, name, "leader", group["leaderTemplate"]))
                found.append(PodTemplate(kind, name, "worker", group["workerTemplate"]))
        return found

    @cached_property
    def gpu_pod(self) -> PodTemplate | None:
        """The template of the GPU pods (serving, leader, or batch): it carries the scheduling."""
        for template in self.pod_templates:
            if template.role in ("server", "leader", "batch"):
                return template
        return None

    # ----------------------------------------------------------------- the cluster, read once
    @cached_property
    def nodes(self) -> list[Object]:
        return self.kube.list("/api/v1/nodes")

    @cached_property
    def autoscaler(self) -> bool:
        """Whether GKE's cluster autoscaler runs (it writes kube-system/cluster-autoscaler-status)."""
        return self.kube.get(AUTOSCALER_STATUS) is not None

    @cached_property
    def namespace_object(self) -> Object | None:
        return self.kube.get(f"/api/v1/namespaces/{self.namespace}")

    @property
    def autopilot(self) -> bool:
        return self.values["gke"]["mode"] == "autopilot"


def node_labels(node: Object) -> dict[str, str]:
    return node.get("metadata", {}).get("labels") or {}


def node_zone(node: Object) -> str:
    labels = node_labels(node)
    return next((labels[k] for k in ZONE_LABELS if labels.get(k)), "")


def node_pool(node: Object) -> str:
    return node_labels(node).get(NODEPOOL_LABEL, "")


def node_gpus(node: Object) -> int:
    """Allocatable nvidia.com/gpu of a node (0 while the device plugin has not reported)."""
    value = (node.get("status", {}).get("allocatable") or {}).get(GPU, "0")
    try:
        return int(str(value))
    except ValueError:
        return 0


def gpus(count: int) -> str:
    return f"{count} GPU" + ("s" if count != 1 else "")


def listing(items: list[str] | set[str], empty: str = "none") -> str:
    items = sorted(set(items))
    return ", ".join(items) if items else empty
