"""Multi-node releases on the local cluster with the real LeaderWorkerSet controller (lws v0.9.0), and
names the controllers derive from a release name of Helm's maximum length (53 characters).

kwok runs no containers and no DNS: these tests assert the parts a pod's DNS name is made of, and run
each pod's argv through the kubelet's $(VAR) expansion with the variables the LWS webhook really injected.
"""

from __future__ import annotations

import pytest

from paths import VALUES_FILES
from support.manifests import kubelet_expand, lws_pod_env
from vllm_serving.cluster.testing import wait_for

pytestmark = pytest.mark.cluster

MULTINODE = next(p for p in VALUES_FILES if p.name == "llama-3.1-405b-instruct-h100-multinode.yaml")
BATCH = next(p for p in VALUES_FILES if p.name == "gemma-2-9b-it-batch-overnight.yaml")
L4 = next(p for p in VALUES_FILES if p.name == "gemma-2-9b-it-l4.yaml")
LONGEST = "r" * 45 + "-release"  # 53 characters, the most Helm accepts
FULLNAME = f"{LONGEST}-vllm-serving"[:55].removesuffix("-")  # the chart's fullname helper
NAME_LABEL = "leaderworkerset.sigs.k8s.io/name"
WORKER_INDEX = "leaderworkerset.sigs.k8s.io/worker-index"


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_the_release_name_is_helms_longest():
    assert len(LONGEST) == 53


def test_a_multinode_group_forms_under_the_longest_release_name(vllm_release, vllm_cluster):
    from kubernetes import client

    release = vllm_release(
        values_files=[MULTINODE], values={"podDisruptionBudget": {"enabled": True}}, name=LONGEST, timeout=180
    )
    pods = release.placements()
    assert sorted(p.component for p in pods) == ["server", "worker"]
    # One pool, one zone, a node each: the group's pod affinity as the real scheduler read it.
    assert len({(p.pool, p.zone) for p in pods}) == 1 and {p.pool for p in pods} == {"h100-multinode"}
    assert len({p.node for p in pods}) == 2
    with vllm_cluster.api_client() as api:
        core = client.CoreV1Api(api)
        ns = release.namespace
        (lws,) = client.CustomObjectsApi(api).list_namespaced_custom_object(
            "leaderworkerset.x-k8s.io", "v1", ns, "leaderworkersets"
        )["items"]
        name = lws["metadata"]["name"]
        # The controller made its headless Service under the LWS's name; ours kept the full name.
        headless = core.read_namespaced_service(name, ns)
        assert headless.spec.cluster_ip == "None"
        assert headless.spec.publish_not_ready_addresses is True
        assert headless.spec.selector == {NAME_LABEL: name}
        assert [o.kind for o in headless.metadata.owner_references] == ["LeaderWorkerSet"]
        assert core.read_namespaced_service(FULLNAME, ns).spec.cluster_ip != "None"

        group = sorted(
            core.list_namespaced_pod(ns, label_selector=f"{NAME_LABEL}={name}").items, key=lambda p: p.metadata.name
        )
        leader, worker = group
        assert (leader.metadata.name, worker.metadata.name) == (f"{name}-0", f"{name}-0-1")
        # The leader's DNS name: hostname . subdomain (the headless Service, which selects it) . namespace.
        assert leader.spec.hostname == leader.metadata.name
        assert leader.spec.subdomain == headless.metadata.name
        assert headless.spec.selector.items() <= leader.metadata.labels.items()
        leader_dns = f"{leader.spec.hostname}.{leader.spec.subdomain}.{ns}"
        for rank, pod in enumerate(group):
            (container,) = [c for c in pod.spec.containers if c.name == "vllm"]
            env = {e.name: e.value for e in container.env if e.value is not None}
            # The webhook injected what the chart's tests assume (manifests.lws_pod_env).
            assert {k: env[k] for k in ("LWS_LEADER_ADDRESS", "LWS_GROUP_SIZE", "LWS_WORKER_INDEX")} == (
                lws_pod_env(name, ns, 0, rank, 2)
            )
            argv = [kubelet_expand(a, env) for a in container.command + container.args]
            assert argv[:2] == ["vllm", "serve"]
            assert flag(argv, "--master-addr") == leader_dns
            assert flag(argv, "--node-rank") == pod.metadata.labels[WORKER_INDEX] == str(rank)
            assert flag(argv, "--nnodes") == "2"
            assert ("--headless" in argv) == (rank > 0)
            # Every label the controllers derived fits (the pod exists), e.g. the worker StatefulSet's
            # controller-revision-hash <lws>-0-<hash>.
            assert all(len(v) <= 63 for v in pod.metadata.labels.values())
        assert worker.metadata.labels["controller-revision-hash"].startswith(f"{name}-0-")

        # The disruption controller counts leaders and workers; a budget of one group allows one pod, since
        # evicting any pod of a group restarts the whole group.
        def budget():
            status = client.PolicyV1Api(api).read_namespaced_pod_disruption_budget(FULLNAME, ns).status
            return status if status.expected_pods else None

        status = wait_for("the disruption controller to count the group", budget)
        assert (status.expected_pods, status.current_healthy, status.disruptions_allowed) == (2, 2, 1)


def test_a_deployment_and_its_test_hook_under_the_longest_release_name(vllm_release):
    """ReplicaSet <deployment>-<pod-template-hash>, pods from generateName, the hook Job <fullname>-test
    and its pods: all made by the controllers, none refused."""
    release = vllm_release(values_files=[L4], name=LONGEST, timeout=120)
    (server,) = release.placements()
    assert server.pod.startswith(FULLNAME[:40]) and server.component == "server"
    assert f"{FULLNAME}-test" in release.test(timeout="2m")


def test_a_batch_job_under_the_longest_release_name(vllm_release, vllm_cluster):
    """The Indexed Job's name (job-name labels) and its pods' hostnames <job>-<index> fit."""
    from kubernetes import client

    release = vllm_release(values_files=[BATCH], name=LONGEST, wait=False)
    pods = release.wait(timeout=120)
    assert pods and {p.component for p in pods} == {"batch"}
    with vllm_cluster.api_client() as api:
        (job,) = client.BatchV1Api(api).list_namespaced_job(release.namespace).items
        for pod in client.CoreV1Api(api).list_namespaced_pod(release.namespace).items:
            index = pod.metadata.labels["batch.kubernetes.io/job-completion-index"]
            assert pod.spec.hostname == f"{job.metadata.name}-{index}"
            assert pod.metadata.labels["batch.kubernetes.io/job-name"] == job.metadata.name
