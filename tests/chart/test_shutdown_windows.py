"""Every values file's shutdown, played against what the kubelet does with it.

A normal deletion (rollout, scale-in, node drain) gives a pod its whole terminationGracePeriodSeconds: the
preStop hook runs first, SIGTERM follows, the kill comes when the grace ends (kubernetes v1.36.4
pkg/kubelet/kuberuntime/kuberuntime_container.go killContainer). On SIGTERM vLLM drains for
--shutdown-timeout seconds, then aborts what is left and tears its processes down (vllm 0.33.0
vllm/v1/engine/core.py _handle_shutdown), which needs a few seconds before the kill.

A Spot preemption is a node shutdown: the kubelet's graceful node shutdown kills each pod after the grace
of its priority group, or its own grace where that is shorter (pkg/kubelet/nodeshutdown/
nodeshutdown_manager.go killPods; groups from migrateConfig, chosen by groupByPriority). GKE sets
ShutdownGracePeriod 30 s and ShutdownGracePeriodCriticalPods 15 s on Spot nodes, so non-system pods get
15 s (https://cloud.google.com/kubernetes-engine/docs/concepts/spot-vms, "Termination and graceful shutdown
of Spot VMs"); Autopilot Spot Pods get at most 25 s
(https://cloud.google.com/kubernetes-engine/docs/how-to/autopilot-spot-pods). Within that window the preStop
pause still runs first: vLLM must get SIGTERM early enough to drain some of it.
"""

from __future__ import annotations

import pytest

from paths import CI_FILES, VALUES_FILES
from support.manifests import of_kind, render_file

# kubernetes pkg/apis/scheduling: the priority of a pod without a PriorityClass when no class is the
# default (DefaultPriorityWhenNoDefaultClassExists), and of system-node-critical pods (SystemCriticalPriority).
DEFAULT_PRIORITY = 0
SYSTEM_CRITICAL_PRIORITY = 2_000_000_000
GKE_SPOT = {"shutdown_grace": 30, "critical": 15}  # ShutdownGracePeriod, ShutdownGracePeriodCriticalPods
# Seconds vLLM needs after its drain to abort what is left and stop (evidence: row 14 of the fact-check).
TEARDOWN_SECONDS = 5
# The least drain a preempted pod must get after its preStop pause.
PREEMPTION_DRAIN_SECONDS = 5
AUTOPILOT_NON_SPOT_CLASSES = {"autopilot", "Accelerator", "Balanced", "Performance", "Scale-Out"}


def shutdown_groups(shutdown_grace: int, critical: int) -> list[tuple[int, int]]:
    """migrateConfig: (priority, seconds) groups from the kubelet's two legacy settings."""
    regular = shutdown_grace - critical
    return [(DEFAULT_PRIORITY, regular), (SYSTEM_CRITICAL_PRIORITY, shutdown_grace - regular)]


def kill_after_node_shutdown(pod_grace: int, priority: int, groups: list[tuple[int, int]]) -> int:
    """groupByPriority picks the highest group whose priority the pod reaches (the lowest group below all);
    killPods then uses that group's seconds, or the pod's grace when that is not longer."""
    reached = [seconds for group_priority, seconds in groups if group_priority <= priority] or [groups[0][1]]
    return min(reached[-1], pod_grace)


def test_the_kubelet_rule_gives_gke_spot_pods_15_seconds():
    groups = shutdown_groups(**GKE_SPOT)
    assert kill_after_node_shutdown(120, DEFAULT_PRIORITY, groups) == 15
    assert kill_after_node_shutdown(10, DEFAULT_PRIORITY, groups) == 10
    assert kill_after_node_shutdown(120, SYSTEM_CRITICAL_PRIORITY, groups) == 15


def servers(objects: list[dict]) -> list[tuple[str, dict]]:
    """(name, pod template) of every pod that serves the API: Deployments and LeaderWorkerSet leaders."""
    pods = [(d["metadata"]["name"], d["spec"]["template"]) for d in of_kind(objects, "Deployment")]
    pods += [
        (lws["metadata"]["name"], lws["spec"]["leaderWorkerTemplate"]["leaderTemplate"])
        for lws in of_kind(objects, "LeaderWorkerSet")
    ]
    return [
        (name, template)
        for name, template in pods
        if template["metadata"]["labels"].get("app.kubernetes.io/component") == "server"
    ]


def may_run_on_spot(pod: dict, objects: list[dict]) -> bool:
    """From the rendered pod alone: a Spot selector, or a ComputeClass that may fall back to Spot (one the
    chart renders with a spot priority, autopilot-spot, or one whose priorities are not in the release)."""
    selector = pod["spec"].get("nodeSelector", {})
    if selector.get("cloud.google.com/gke-spot") == "true":
        return True
    name = selector.get("cloud.google.com/compute-class")
    if name is None or name in AUTOPILOT_NON_SPOT_CLASSES:
        return False
    created = [c for c in of_kind(objects, "ComputeClass") if c["metadata"]["name"] == name]
    if not created:
        return True
    return any(p.get("spot") for p in created[0]["spec"]["priorities"])


def timings(pod: dict) -> tuple[int, int, int]:
    spec = pod["spec"]
    vllm = spec["containers"][0]
    pause = vllm.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    drain = int(vllm["args"][vllm["args"].index("--shutdown-timeout") + 1])
    return spec["terminationGracePeriodSeconds"], pause, drain


@pytest.mark.parametrize("path", VALUES_FILES + CI_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_drain_ends_before_the_kill_and_a_preemption_leaves_one(path):
    objects = render_file(path)
    for name, pod in servers(objects):
        grace, pause, drain = timings(pod)
        # A normal deletion: pause, drain, abort and teardown, all before the kill.
        assert pause + drain + TEARDOWN_SECONDS <= grace, (name, grace, pause, drain)
        if may_run_on_spot(pod, objects):
            # Autopilot's cap (25 s) is looser than Standard's default window: one check covers both.
            window = kill_after_node_shutdown(grace, DEFAULT_PRIORITY, shutdown_groups(**GKE_SPOT))
            assert window - pause >= PREEMPTION_DRAIN_SECONDS, (
                f"{name}: a {pause} s preStop pause leaves {window - pause} s of the {window} s a preempted pod gets"
            )


def test_the_files_include_pods_that_may_run_on_spot():
    spot = {
        path.name
        for path in VALUES_FILES + CI_FILES
        if any(may_run_on_spot(pod, render_file(path)) for _, pod in servers(render_file(path)))
    }
    assert spot >= {"gemma-2-9b-it-l4-computeclass.yaml", "spot-values.yaml"}
