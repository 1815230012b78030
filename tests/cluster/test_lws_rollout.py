"""The chart's LeaderWorkerSet rollout as the real LWS controller (v0.9.0) carries it out.

LWS counts rollingUpdateConfiguration in groups. With the chart's default (maxUnavailable 1, maxSurge 0)
an upgrade replaces groups in place and never needs a spare group's GPUs; swapped, the controller first
scales the leader StatefulSet to a surge group <lws>-<replicas> and deletes it at the end
(pkg/controllers/leaderworkerset_controller.go rollingUpdateParameters).
"""

from __future__ import annotations

import pytest

from vllm_serving.cluster.testing import wait_for

pytestmark = pytest.mark.cluster

GROUPS = {
    "parallelism": {"tensor": 1, "pipeline": 2},
    "gke": {"accelerator": "nvidia-l4", "nodePool": "l4-x8"},
    "replicaCount": 2,
}


def rolled_out(custom, namespace: str, name: str, generation: int) -> None:
    def check() -> bool:
        lws = custom.get_namespaced_custom_object("leaderworkerset.x-k8s.io", "v1", namespace, "leaderworkersets", name)
        status = lws.get("status") or {}
        current = status.get("observedGeneration", 0) >= generation
        return current and status.get("updatedReplicas") == status.get("readyReplicas") == 2

    wait_for(f"LeaderWorkerSet {name} to roll out generation {generation}", check, timeout=120)


def surge_groups(core, namespace: str, name: str) -> list[str]:
    """The StatefulSet controller's word for each leader pod created beyond the two groups."""
    events = core.list_namespaced_event(namespace, field_selector="reason=SuccessfulCreate").items
    return [e.message for e in events if e.message == f"Create Pod {name}-2 in StatefulSet {name} successful"]


def test_default_rollout_replaces_groups_in_place_and_swapped_values_would_surge(vllm_release, vllm_cluster):
    from kubernetes import client

    release = vllm_release(values=GROUPS, name="roll", timeout=120)
    name = "roll-vllm-serving-lws"
    with vllm_cluster.api_client() as api:
        core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)

        release.install(values={**GROUPS, "podAnnotations": {"revision": "2"}})
        rolled_out(custom, release.namespace, name, generation=2)
        assert surge_groups(core, release.namespace, name) == []

        # The same upgrade with the two values swapped: the controller creates a third group first.
        swapped = {**GROUPS, "podAnnotations": {"revision": "3"}, "rollout": {"maxUnavailable": 0, "maxSurge": 1}}
        release.install(values=swapped)
        assert wait_for("a surge group", lambda: surge_groups(core, release.namespace, name))
