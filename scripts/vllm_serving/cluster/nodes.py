"""Fake GKE nodes from the node-pool spec (``nodepools.yaml``).

``load_spec`` reads and checks the spec; ``node_manifests`` turns it into Node
objects carrying the labels, taints, capacity and allocatable a GKE node of that
machine type would have, plus the annotation that hands them to kwok.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from vllm_serving.errors import UsageError

GPU_RESOURCE = "nvidia.com/gpu"
GPU_TAINT = {"key": GPU_RESOURCE, "value": "present", "effect": "NoSchedule"}
ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"
NODEPOOL_LABEL = "cloud.google.com/gke-nodepool"
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
KWOK_SELECTOR = f"{KWOK_ANNOTATION}=fake"
RESOURCE_KEYS = ("cpu", "memory", "ephemeral-storage", "pods")


def default_spec_path() -> Path:
    return Path(str(resources.files("vllm_serving.cluster") / "nodepools.yaml"))


@dataclass(frozen=True)
class NodeSpec:
    """One fake node, as the spec describes it."""

    name: str
    pool: str
    zone: str
    machine_type: str
    labels: dict[str, str]
    annotations: dict[str, str]
    taints: list[dict[str, str]]
    capacity: dict[str, str]
    allocatable: dict[str, str]
    internal_ip: str
    accelerator: str | None
    gpus: int


def load_spec(path: Path | str | None = None) -> dict[str, Any]:
    """Read a node-pool spec and check that it is complete; raise UsageError listing every problem."""
    path = Path(path) if path else default_spec_path()
    try:
        spec = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise UsageError(f"{path}: cannot read the node-pool spec: {err}") from err
    problems: list[str] = []
    if not isinstance(spec, dict):
        raise UsageError(f"{path}: the node-pool spec must be a mapping")
    machines = spec.get("machineTypes") or {}
    for name, machine in machines.items():
        for part in ("capacity", "allocatable"):
            missing = [k for k in RESOURCE_KEYS if k not in (machine.get(part) or {})]
            if missing:
                problems.append(f"machineTypes.{name}.{part}: missing {', '.join(missing)}")
        accel = machine.get("accelerator")
        if accel is not None and (not accel.get("type") or int(accel.get("count", 0)) < 1):
            problems.append(f"machineTypes.{name}.accelerator: needs a type and a count >= 1")
    seen: set[str] = set()
    for i, pool in enumerate(spec.get("nodePools") or []):
        where = f"nodePools[{i}]"
        if not pool.get("name"):
            problems.append(f"{where}.name: required")
        elif pool["name"] in seen:
            problems.append(f"{where}.name: {pool['name']!r} is declared twice")
        seen.add(pool.get("name", ""))
        if pool.get("machineType") not in machines:
            problems.append(f"{where}.machineType: {pool.get('machineType')!r} is not in machineTypes")
        if not pool.get("zones"):
            problems.append(f"{where}.zones: at least one zone is required")
    if not spec.get("nodePools"):
        problems.append("nodePools: at least one pool is required")
    if problems:
        raise UsageError(f"{path}: invalid node-pool spec:\n  " + "\n  ".join(problems))
    return spec


def nodes(spec: dict[str, Any]) -> list[NodeSpec]:
    """Expand the spec into one NodeSpec per pool, zone and index."""
    cluster = spec.get("cluster") or {}
    cluster_name = cluster.get("name", "local")
    region = cluster.get("region", "us-central1")
    base_ip = ipaddress.ip_address(cluster.get("nodeCIDRBase", "10.128.0.0"))
    common = spec.get("common") or {}
    result: list[NodeSpec] = []
    for pool in spec["nodePools"]:
        machine_type = pool["machineType"]
        machine = spec["machineTypes"][machine_type]
        accel = machine.get("accelerator")
        for zone in pool["zones"]:
            for index in range(int(pool.get("nodesPerZone", 1))):
                suffix = zone.rsplit("-", 1)[-1]
                name = f"gke-{cluster_name}-{pool['name']}-{suffix}-{index}"
                labels = {
                    **(common.get("labels") or {}),
                    "kubernetes.io/hostname": name,
                    "topology.kubernetes.io/region": region,
                    "topology.kubernetes.io/zone": zone,
                    "topology.gke.io/zone": zone,
                    "failure-domain.beta.kubernetes.io/region": region,
                    "failure-domain.beta.kubernetes.io/zone": zone,
                    "node.kubernetes.io/instance-type": machine_type,
                    "beta.kubernetes.io/instance-type": machine_type,
                    "cloud.google.com/machine-family": machine.get("family", machine_type.split("-")[0]),
                    NODEPOOL_LABEL: pool["name"],
                }
                taints = [dict(t) for t in pool.get("taints") or []]
                capacity = {k: str(v) for k, v in machine["capacity"].items()}
                allocatable = {k: str(v) for k, v in machine["allocatable"].items()}
                gpus = 0
                if accel:
                    gpus = int(accel["count"])
                    labels[ACCELERATOR_LABEL] = accel["type"]
                    labels["cloud.google.com/gke-accelerator-count"] = str(gpus)
                    taints.insert(0, dict(GPU_TAINT))
                    capacity[GPU_RESOURCE] = allocatable[GPU_RESOURCE] = str(gpus)
                labels.update({k: str(v) for k, v in (pool.get("labels") or {}).items()})
                result.append(
                    NodeSpec(
                        name=name,
                        pool=pool["name"],
                        zone=zone,
                        machine_type=machine_type,
                        labels=labels,
                        annotations={**(common.get("annotations") or {}), **(pool.get("annotations") or {})},
                        taints=taints,
                        capacity=capacity,
                        allocatable=allocatable,
                        internal_ip=str(base_ip + len(result) + 2),
                        accelerator=accel["type"] if accel else None,
                        gpus=gpus,
                    )
                )
    return result


def node_manifest(node: NodeSpec, *, kubelet_version: str = "v0.0.0") -> dict[str, Any]:
    """The Node object for one NodeSpec, status included (kwok keeps what it finds there)."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": node.name, "labels": node.labels, "annotations": node.annotations},
        "spec": {
            "providerID": f"gce://vllm-serving-local/{node.zone}/{node.name}",
            "taints": node.taints,
        },
        "status": {
            "capacity": node.capacity,
            "allocatable": node.allocatable,
            "addresses": [
                {"type": "InternalIP", "address": node.internal_ip},
                {"type": "Hostname", "address": node.name},
            ],
            "nodeInfo": {
                "architecture": node.labels.get("kubernetes.io/arch", "amd64"),
                "operatingSystem": node.labels.get("kubernetes.io/os", "linux"),
                "osImage": "Container-Optimized OS from Google",
                "kubeletVersion": kubelet_version,
                "kubeProxyVersion": kubelet_version,
                "containerRuntimeVersion": "containerd://2.0.0",
                "kernelVersion": "6.6.0+",
                "bootID": "",
                "machineID": "",
                "systemUUID": "",
            },
        },
    }
