"""Argo CD's view of installed releases, from Argo CD's own code (hack/argohealth: gitops-engine pkg/health,
argo-cd util/lua with the Lua health scripts, the LeaderWorkerSet check of examples/argocd/argocd-cm.yaml).

A sync applies the objects, keeps each one's task running until its health is Healthy (Degraded fails
the sync) and only then runs PostSync hooks (gitops-engine pkg/sync/sync_context.go Sync). So the moment
the test Job may run is the moment every non-hook object is Healthy: the `waiting` list is empty.

The pods are held by a node selector no node carries until the test labels the nodes: Pending pods stand
for a group or a pod still loading (kwok turns a scheduled pod Ready at once).
"""

from __future__ import annotations

import pytest

from paths import VALUES_FILES
from support import argohealth
from vllm_serving import helm
from vllm_serving.cluster.testing import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.argo_health]

MULTINODE = next(p for p in VALUES_FILES if p.name == "llama-3.1-405b-instruct-h100-multinode.yaml")
L4 = next(p for p in VALUES_FILES if p.name == "gemma-2-9b-it-l4.yaml")
HOLD = {"vllm-serving.test/argo-health": "hold"}
POOL = "cloud.google.com/gke-nodepool"


class Live:
    """A release's objects (`helm get manifest`, or its hooks) as the API server has them now: Argo
    assesses live objects."""

    def __init__(self, api, release):
        from kubernetes import dynamic

        self.client = dynamic.DynamicClient(api)  # discovery, once
        self.release = release

    def __call__(self, what: str = "manifest") -> list[dict]:
        release = self.release
        manifest = helm.run(["get", what, release.name, "-n", release.namespace], kubeconfig=release.kubeconfig)
        found = []
        for obj in helm.objects(manifest.decode()):
            resource = self.client.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
            namespace = release.namespace if resource.namespaced else None
            found.append(resource.get(name=obj["metadata"]["name"], namespace=namespace).to_dict())
        return found


def health_of(reply: dict, kind: str) -> dict:
    (found,) = [o for o in reply["objects"] if o["kind"] == kind and not o["hook"]]
    return found


def test_a_multinode_release_is_progressing_until_its_group_is_ready_and_post_sync_waits(vllm_release, vllm_cluster):
    from kubernetes import client

    argocd_cm = argohealth.example_argocd_cm()
    release = vllm_release(values_files=[MULTINODE], values={"nodeSelector": HOLD}, name="argo", wait=False)
    with vllm_cluster.api_client() as api:
        core, live_objects = client.CoreV1Api(api), Live(api, release)

        def judged():
            reply = argohealth.assess(live_objects(), argocd_cm)
            return reply if health_of(reply, "LeaderWorkerSet")["message"].endswith("groups ready") else None

        reply = wait_for("the LWS controller to judge the held group", judged)
        assert health_of(reply, "LeaderWorkerSet") == {
            "kind": "LeaderWorkerSet",
            "name": "argo-vllm-serving-lws",
            "hook": False,
            "status": "Progressing",
            "message": "0 of 1 groups ready",
        }
        assert reply["app"] == "Progressing"
        assert reply["waiting"] == ["leaderworkerset.x-k8s.io/LeaderWorkerSet/argo-vllm-serving-lws"]

        pool = core.list_node(label_selector=f"{POOL}=h100-multinode").items
        try:
            for node in pool:
                core.patch_node(node.metadata.name, {"metadata": {"labels": HOLD}})

            def healthy():
                objects = live_objects()
                reply = argohealth.assess(objects, argocd_cm)
                if health_of(reply, "LeaderWorkerSet")["status"] == "Healthy":
                    # Never before every group is ready.
                    (lws,) = [o for o in objects if o["kind"] == "LeaderWorkerSet"]
                    assert lws["status"]["readyReplicas"] == lws["spec"]["replicas"] == 1
                return reply if reply["app"] == "Healthy" else None

            reply = wait_for("the application to turn Healthy", healthy, timeout=90)
            assert health_of(reply, "LeaderWorkerSet")["message"] == "All 1 groups ready"
            assert reply["waiting"] == []
            # Only now does the sync run the PostSync check: the Job `helm test` creates is the same one.
            assert "Phase:          Succeeded" in release.test(timeout="2m")
            (job,) = argohealth.assess(live_objects("hooks"))["objects"]
            assert (job["kind"], job["hook"], job["status"]) == ("Job", True, "Healthy")
        finally:
            for node in pool:
                core.patch_node(node.metadata.name, {"metadata": {"labels": dict.fromkeys(HOLD)}})


def test_a_cold_deployment_is_degraded_only_past_its_startup_budget(vllm_release, vllm_cluster):
    """progressDeadlineSeconds is the startup budget plus rollout.progressMarginSeconds. A release whose
    budget is 1 s with no margin shows what Argo does past the deadline; the same pod, still loading, under
    the default budget (3600 s + 600 s) reads Progressing."""
    held = {"nodeSelector": HOLD}
    short = {**held, "startup": {"periodSeconds": 1, "maxSeconds": 1}, "rollout": {"progressMarginSeconds": 0}}
    expired = vllm_release(values_files=[L4], values=short, name="short", wait=False)
    cold = vllm_release(values_files=[L4], values=held, name="cold", wait=False)
    with vllm_cluster.api_client() as api:
        expired_objects, cold_objects = Live(api, expired), Live(api, cold)

        def degraded():
            reply = argohealth.assess(expired_objects())
            return reply if health_of(reply, "Deployment")["status"] == "Degraded" else None

        reply = wait_for("the short deadline to pass", degraded, timeout=30)
        assert (
            health_of(reply, "Deployment")["message"]
            == 'Deployment "short-vllm-serving" exceeded its progress deadline'
        )
        objects = cold_objects()
        (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
        probe = deployment["spec"]["template"]["spec"]["containers"][0]["startupProbe"]
        # the startup budget the model's size gives (the probe's failures x period round it up), + the margin
        budget = probe["failureThreshold"] * probe["periodSeconds"]
        assert budget - probe["periodSeconds"] < deployment["spec"]["progressDeadlineSeconds"] - 600 <= budget
        assert deployment.get("status", {}).get("availableReplicas", 0) == 0  # its pod is as cold as the other's
        assert health_of(argohealth.assess(objects), "Deployment")["status"] == "Progressing"
