"""The chart's LeaderWorkerSet rollout as the real LWS controller and webhook (v0.9.0) carry it out.

LWS counts rollingUpdateConfiguration in groups. With the chart's default (maxUnavailable 1, maxSurge 0)
an upgrade replaces groups in place and never needs a spare group's GPUs; swapped, the controller first
scales the leader StatefulSet to a surge group <lws>-<replicas> and deletes it at the end
(pkg/controllers/leaderworkerset_controller.go rollingUpdateParameters). LWS has no Recreate type: the
chart's Recreate is every group unavailable at once (100%), which the webhook accepts and the controller
rolls.
"""

from __future__ import annotations

import pytest

from vllm_serving.cluster.testing import wait_for

pytestmark = pytest.mark.cluster

LWS = ("leaderworkerset.x-k8s.io", "v1")
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

        # Recreate: accepted by the webhook, rolled by the controller.
        release.install(values={**GROUPS, "podAnnotations": {"revision": "4"}, "rollout": {"strategy": "Recreate"}})
        rolled_out(custom, release.namespace, name, generation=4)
        lws = custom.get_namespaced_custom_object(
            "leaderworkerset.x-k8s.io", "v1", release.namespace, "leaderworkersets", name
        )
        assert lws["spec"]["rolloutStrategy"]["rollingUpdateConfiguration"]["maxUnavailable"] == "100%"


def test_the_chart_refuses_what_the_lws_webhook_refuses(vllm_cluster):
    """The chart's rule and the webhook agree: 25% of 2 groups rounds down to 0, and with maxSurge 0 the
    webhook refuses the object (lws v0.9.0 pkg/webhooks/leaderworkerset_webhook.go), as the chart does."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    from support.manifests import one, render
    from vllm_serving.errors import InvalidValues

    values = {**GROUPS, "rollout": {"maxUnavailable": "25%"}}
    with pytest.raises(InvalidValues) as refused:
        render(values)
    assert refused.value.problems[0].startswith("rollout.maxUnavailable: 25% of 2 LeaderWorkerSet groups")
    lws = one(render(GROUPS), "LeaderWorkerSet")
    lws["spec"]["rolloutStrategy"]["rollingUpdateConfiguration"]["maxUnavailable"] = "25%"
    with vllm_cluster.api_client() as api, pytest.raises(ApiException) as webhook:
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            "leaderworkerset.x-k8s.io", "v1", "default", "leaderworkersets", lws, dry_run="All"
        )
    assert "must not be 0 when `maxSurge` is 0" in webhook.value.body
