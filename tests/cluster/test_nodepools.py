"""The node-pool spec (no cluster needed): complete, and allocatable as GKE computes it."""

from __future__ import annotations

import re

import pytest
import yaml

from vllm_serving.cluster import nodes
from vllm_serving.errors import UsageError

KI = 1024
GI = 1024**3


def parse_quantity(value: str) -> float:
    """The few Kubernetes quantity forms the spec uses: plain, m, Ki, Gi."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(m|Ki|Mi|Gi)?", str(value))
    assert match, value
    number, unit = float(match.group(1)), match.group(2)
    return number * {None: 1, "m": 1e-3, "Ki": KI, "Mi": KI**2, "Gi": GI}[unit]


def tiers(amount: float, steps: list[tuple[float, float]]) -> float:
    reserved = 0.0
    for size, share in steps:
        take = min(amount, size)
        reserved += take * share
        amount -= take
    return reserved


def gke_allocatable(cpus: int, memory_gib: float, boot_disk_gib: int) -> dict[str, float]:
    """GKE's documented reservations (see the comment at the top of nodepools.yaml)."""
    cpu_reserved = tiers(cpus, [(1, 0.06), (1, 0.01), (2, 0.005), (float("inf"), 0.0025)])
    mem_reserved = tiers(memory_gib, [(4, 0.25), (4, 0.20), (8, 0.10), (112, 0.06), (float("inf"), 0.02)])
    disk_reserved = min(0.5 * boot_disk_gib, 6 + 0.35 * boot_disk_gib, 100) + 0.1 * boot_disk_gib
    return {
        "cpu": cpus - cpu_reserved,
        "memory": memory_gib * GI - mem_reserved * GI - 100 * KI**2,
        "ephemeral-storage": (boot_disk_gib - disk_reserved) * GI,
        "pods": 110,
    }


@pytest.fixture(scope="module")
def spec():
    return nodes.load_spec()


def test_allocatable_follows_gke_reservations(spec):
    for name, machine in spec["machineTypes"].items():
        cpus = int(machine["capacity"]["cpu"])
        memory_gib = parse_quantity(machine["capacity"]["memory"]) / GI
        expected = gke_allocatable(cpus, memory_gib, machine["bootDiskGiB"])
        for key, want in expected.items():
            got = parse_quantity(machine["allocatable"][key])
            assert got == pytest.approx(want, rel=1e-6, abs=1), f"{name} allocatable {key}: {got} != {want}"
        assert parse_quantity(machine["capacity"]["ephemeral-storage"]) == machine["bootDiskGiB"] * GI


def test_gpu_nodes_carry_gke_labels_taint_and_capacity(spec):
    all_nodes = nodes.nodes(spec)
    l4 = [n for n in all_nodes if n.pool == "l4-x2"]
    assert {n.zone for n in l4} == {"us-central1-a", "us-central1-b"}
    node = l4[0]
    assert node.labels["cloud.google.com/gke-accelerator"] == "nvidia-l4"
    assert node.labels["cloud.google.com/gke-nodepool"] == "l4-x2"
    assert node.labels["cloud.google.com/machine-family"] == "g2"
    assert node.labels["node.kubernetes.io/instance-type"] == "g2-standard-24"
    assert node.labels["topology.kubernetes.io/region"] == "us-central1"
    assert node.labels["kubernetes.io/hostname"] == node.name
    assert node.taints == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]
    assert node.capacity["nvidia.com/gpu"] == node.allocatable["nvidia.com/gpu"] == "2"
    assert node.annotations["kwok.x-k8s.io/node"] == "fake"


def test_cpu_pool_has_no_gpu(spec):
    default = [n for n in nodes.nodes(spec) if n.pool == "default-pool"]
    assert default
    for node in default:
        assert "nvidia.com/gpu" not in node.allocatable
        assert "cloud.google.com/gke-accelerator" not in node.labels
        assert node.taints == []


def test_node_names_and_ips_are_unique(spec):
    all_nodes = nodes.nodes(spec)
    assert len({n.name for n in all_nodes}) == len(all_nodes)
    assert len({n.internal_ip for n in all_nodes}) == len(all_nodes)
    assert all(len(n.name) <= 63 for n in all_nodes)


def test_largest_gpu_node_is_sixteen(spec):
    assert max(n.gpus for n in nodes.nodes(spec)) == 16


def test_invalid_spec_lists_every_problem(tmp_path):
    bad = {
        "machineTypes": {"m": {"capacity": {"cpu": "1"}, "allocatable": {}}},
        "nodePools": [{"name": "p", "machineType": "nope", "zones": []}],
    }
    path = tmp_path / "pools.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(UsageError) as err:
        nodes.load_spec(path)
    message = str(err.value)
    assert "machineTypes.m.capacity: missing memory, ephemeral-storage, pods" in message
    assert "nodePools[0].machineType: 'nope' is not in machineTypes" in message
    assert "nodePools[0].zones: at least one zone is required" in message


def test_multinode_h100_pool_fits_a_group_per_zone_on_local_ssd(spec):
    """values/llama-3.1-405b-instruct-h100-multinode.yaml: groups of two 8-GPU pods in one zone, GCSFuse
    file cache on Local SSD (the chart selects cloud.google.com/gke-ephemeral-storage-local-ssd)."""
    pool = [n for n in nodes.nodes(spec) if n.pool == "h100-multinode"]
    per_zone: dict[str, int] = {}
    for node in pool:
        per_zone[node.zone] = per_zone.get(node.zone, 0) + 1
        assert node.gpus == 8
        assert node.labels["cloud.google.com/gke-ephemeral-storage-local-ssd"] == "true"
    assert per_zone and all(count >= 2 for count in per_zone.values())
