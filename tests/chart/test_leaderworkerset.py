"""templates/leaderworkerset.yaml: multi-node tensor + pipeline parallel, every pod running `vllm serve`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from support.manifests import group_argvs, kubelet_expand, lws_pod_env, of_kind, one, render
from vllm_serving.errors import InvalidValues

MULTINODE = {"parallelism": {"tensor": 8, "pipeline": 2}, "gke": {"accelerator": "nvidia-h100-80gb"}}


def lws(values: dict) -> dict:
    return one(render(values), "LeaderWorkerSet")


def container(template: dict) -> dict:
    return template["spec"]["containers"][0]


def flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


class TestLeaderWorkerSet:
    def test_replaces_the_deployment_only_when_pipeline_is_above_one(self):
        assert of_kind(render({}), "LeaderWorkerSet") == []
        objects = render(MULTINODE)
        assert of_kind(objects, "Deployment") == []
        assert one(objects, "LeaderWorkerSet")["apiVersion"] == "leaderworkerset.x-k8s.io/v1"

    def test_group_of_pipeline_pods_restarting_as_one(self):
        spec = lws(MULTINODE)["spec"]
        template = spec["leaderWorkerTemplate"]
        assert template["size"] == 2
        assert template["restartPolicy"] == "RecreateGroupOnPodRestart"
        assert spec["startupPolicy"] == "LeaderCreated"
        assert spec["replicas"] == 1

    def test_every_pod_runs_vllm_serve_natively_with_the_groups_size_and_its_rank(self):
        template = lws(MULTINODE)["spec"]["leaderWorkerTemplate"]
        for role in ("leaderTemplate", "workerTemplate"):
            c = container(template[role])
            assert c["command"] == ["vllm", "serve"]
            args = c["args"]
            assert flag(args, "--tensor-parallel-size") == "8"
            assert flag(args, "--pipeline-parallel-size") == "2"
            assert flag(args, "--nnodes") == "2"
            # Per pod, from what the LeaderWorkerSet pod webhook injects (the kubelet expands $(VAR)).
            assert flag(args, "--node-rank") == "$(LWS_WORKER_INDEX)"
            assert flag(args, "--master-addr") == "$(LWS_LEADER_ADDRESS)"
            assert flag(args, "--master-port") == "29501"
            assert "--distributed-executor-backend" not in args  # vLLM picks its own multiprocessing backend
            assert not any("ray" in part for part in c["command"] + args)
            assert "RAY_PORT" not in {e["name"] for e in c.get("env", [])}

    def test_workers_are_headless_and_the_leader_serves(self):
        template = lws(MULTINODE)["spec"]["leaderWorkerTemplate"]
        leader, worker = container(template["leaderTemplate"]), container(template["workerTemplate"])
        assert "--headless" not in leader["args"]
        assert worker["args"][-1] == "--headless"
        assert [p["name"] for p in leader["ports"]] == ["http"]
        assert leader["startupProbe"]["httpGet"]["path"] == "/health"
        # A headless worker serves no HTTP: no port, no probe that could never pass.
        assert not {"ports", "startupProbe", "readinessProbe", "livenessProbe"} & worker.keys()

    def test_each_pod_gets_its_rank_and_the_leaders_dns_name(self):
        """As the kubelet runs them, with the variables LWS v0.9.0's webhook gives group 1's pods."""
        obj = lws({**MULTINODE, "parallelism": {"tensor": 4, "pipeline": 3}})
        name = obj["metadata"]["name"]
        leader, *workers = group_argvs(obj, "llm", group=1)
        for rank, argv in enumerate([leader, *workers]):
            assert argv[:2] == ["vllm", "serve"]
            assert flag(argv, "--node-rank") == str(rank)
            assert flag(argv, "--master-addr") == f"{name}-1.{name}.llm"
        assert [("--headless" in argv) for argv in (leader, *workers)] == [False, True, True]

    def test_the_master_port_is_a_value(self):
        obj = lws({**MULTINODE, "parallelism": {**MULTINODE["parallelism"], "masterPort": 29600}})
        for argv in group_argvs(obj, "llm"):
            assert flag(argv, "--master-port") == "29600"

    def test_every_pod_gets_the_gpus_shared_memory_and_weights(self):
        values = {**MULTINODE, "weights": {"source": "gcsfuse", "gcsfuse": {"bucket": "my-models", "path": "llama"}}}
        template = lws(values)["spec"]["leaderWorkerTemplate"]
        for role in ("leaderTemplate", "workerTemplate"):
            pod = template[role]
            assert container(pod)["resources"]["limits"]["nvidia.com/gpu"] == 8
            assert {v["name"] for v in pod["spec"]["volumes"]} == {"weights", "gke-gcsfuse-cache", "dshm"}
            assert pod["metadata"]["annotations"]["gke-gcsfuse/volumes"] == "true"

    def test_group_stays_in_one_zone_and_one_node_pool(self):
        pod = lws(MULTINODE)["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]
        terms = pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert [t["topologyKey"] for t in terms] == ["topology.kubernetes.io/zone", "cloud.google.com/gke-nodepool"]
        assert all(t["matchLabelKeys"] == ["leaderworkerset.sigs.k8s.io/group-key"] for t in terms)
        # the API server refuses a key that is both matched and selected on
        assert all(
            e["key"] != "leaderworkerset.sigs.k8s.io/group-key"
            for t in terms
            for e in t["labelSelector"]["matchExpressions"]
        )

    def test_service_and_monitoring_select_the_leaders_only(self):
        values = {**MULTINODE, "monitoring": {"podMonitoring": {"enabled": True}}}
        objects = render(values)
        template = one(objects, "LeaderWorkerSet")["spec"]["leaderWorkerTemplate"]
        leader_labels = template["leaderTemplate"]["metadata"]["labels"]
        worker_labels = template["workerTemplate"]["metadata"]["labels"]
        for selector in (
            one(objects, "Service")["spec"]["selector"],
            one(objects, "PodMonitoring")["spec"]["selector"]["matchLabels"],
        ):
            assert selector.items() <= leader_labels.items()
            assert not selector.items() <= worker_labels.items()

    def test_autoscalers_target_the_scale_subresource(self):
        values = {**MULTINODE, "monitoring": {"podMonitoring": {"enabled": True}}, "autoscaling": {"enabled": True}}
        objects = render(values)
        target = one(objects, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
        assert target == {
            "apiVersion": "leaderworkerset.x-k8s.io/v1",
            "kind": "LeaderWorkerSet",
            "name": "vllm-vllm-serving-lws",
        }
        assert "replicas" not in one(objects, "LeaderWorkerSet")["spec"]

    def test_keda_queries_the_leader_pods(self):
        values = {
            **MULTINODE,
            "autoscaling": {"enabled": True, "provider": "keda", "keda": {"serverAddress": "http://prometheus:9090"}},
        }
        (trigger,) = one(render(values), "ScaledObject")["spec"]["triggers"]
        assert 'pod=~"vllm-vllm-serving-lws-[0-9]+"' in trigger["metadata"]["query"]


class TestNames:
    """The LWS controller derives names from the LeaderWorkerSet's (lws v0.9.0): the leader StatefulSet
    <lws> and its pods <lws>-<group>; per group a worker StatefulSet <lws>-<group> whose pods are
    <lws>-<group>-<index> and carry controller-revision-hash: <lws>-<group>-<hash, up to 10 chars>
    (Kubernetes' ControllerRevisionName); a headless Service <lws>. Labels and Service names: 63 bytes."""

    def test_the_client_service_leaves_the_lws_name_to_the_controllers_headless_service(self):
        objects = render(MULTINODE)
        services = {s["metadata"]["name"] for s in of_kind(objects, "Service")}
        assert one(objects, "LeaderWorkerSet")["metadata"]["name"] not in services
        assert "vllm-vllm-serving" in services  # the client Service keeps the release's full name

    @pytest.mark.parametrize("release", ["a" * 53, "b" * 20 + "vllm-serving" + "c" * 21, "x"])
    def test_derived_names_fit_for_any_release_name(self, release):
        # The longest region's zones (one release's disks are in one region).
        zones = ("northamerica-northeast1-a", "northamerica-northeast1-b")
        disks = [f"projects/my-project/zones/{z}/disks/d" for z in zones]
        per_zone = {**MULTINODE, "weights": {"source": "persistentDisk", "persistentDisk": {"disks": disks}}}
        for values in (MULTINODE, per_zone):
            objects = render(values, release=release)
            services = {s["metadata"]["name"] for s in of_kind(objects, "Service")}
            for obj in of_kind(objects, "LeaderWorkerSet"):
                name = obj["metadata"]["name"]
                assert name not in services
                assert len(f"{name}-999-{'h' * 10}") <= 63, name  # group 999's controller-revision-hash

    def test_a_long_release_name_keeps_the_names_apart(self):
        objects = render(MULTINODE, release="a" * 53)
        assert one(objects, "LeaderWorkerSet")["metadata"]["name"] == "a" * 44 + "-lws"
        assert one(objects, "Service")["metadata"]["name"] == "a" * 53 + "-v"  # fullname: 55 characters


class TestRollout:
    def test_groups_roll_one_at_a_time_without_spare_gpus_by_default(self):
        """LWS counts both in groups (api/leaderworkerset/v1 RollingUpdateConfiguration): maxSurge 0
        needs no spare group of GPUs; maxUnavailable 1 lets one group go down at a time."""
        strategy = lws(MULTINODE)["spec"]["rolloutStrategy"]
        assert strategy == {
            "type": "RollingUpdate",
            "rollingUpdateConfiguration": {"maxUnavailable": 1, "maxSurge": 0},
        }

    def test_each_value_reaches_its_own_field(self):
        values = {**MULTINODE, "rollout": {"maxUnavailable": 2, "maxSurge": "25%"}}
        config = lws(values)["spec"]["rolloutStrategy"]["rollingUpdateConfiguration"]
        assert config == {"maxUnavailable": 2, "maxSurge": "25%"}

    def test_recreate_takes_every_group_down_at_once(self):
        """LWS v0.9.0 has one rollout type (RolloutStrategyType enum {RollingUpdate}): Recreate is every group
        unavailable at once, whatever the group count and whatever rollout.maxUnavailable says."""
        values = {**MULTINODE, "rollout": {"strategy": "Recreate", "maxUnavailable": 0}}
        assert lws(values)["spec"]["rolloutStrategy"] == {
            "type": "RollingUpdate",
            "rollingUpdateConfiguration": {"maxUnavailable": "100%", "maxSurge": 0},
        }

    def test_a_percentage_is_scaled_over_the_fewest_groups_the_autoscaler_keeps(self):
        """lws v0.9.0 pkg/webhooks/leaderworkerset_webhook.go scales maxUnavailable over spec.replicas rounding
        down (maxSurge up) and refuses 0 and 0, also on the updates that follow the autoscaler's scaling: the
        fewest groups is where a percentage rounds down the most. (bad-values/lws-*.yaml: the fixed count and
        percentages above 100%.)"""
        values = {
            **MULTINODE,
            "autoscaling": {"enabled": True, "minReplicas": 3, "maxReplicas": 8},
            "monitoring": {"podMonitoring": {"enabled": True}},
            "rollout": {"maxUnavailable": "30%"},
        }
        with pytest.raises(InvalidValues) as err:
            render(values)
        assert err.value.problems == [
            "rollout.maxUnavailable: 30% of 3 LeaderWorkerSet groups (autoscaling.minReplicas) rounds down to 0"
            " with rollout.maxSurge 0, which the LeaderWorkerSet webhook refuses; use a count of groups (1) or"
            " at least 34%"
        ]

    def test_a_percentage_that_keeps_a_group_is_accepted(self):
        values = {**MULTINODE, "replicaCount": 2, "rollout": {"maxUnavailable": "50%"}}
        assert lws(values)["spec"]["rolloutStrategy"]["rollingUpdateConfiguration"]["maxUnavailable"] == "50%"


class TestShutdown:
    def test_the_leader_drains_and_its_workers_wait_for_it(self):
        values = {**MULTINODE, "terminationGracePeriodSeconds": 300, "preStopSleepSeconds": 20}
        template = lws(values)["spec"]["leaderWorkerTemplate"]
        leader, worker = container(template["leaderTemplate"]), container(template["workerTemplate"])
        assert flag(leader["args"], "--shutdown-timeout") == "275"  # 300 - 20 - the 5 s margin
        assert leader["lifecycle"] == {"preStop": {"sleep": {"seconds": 20}}}
        assert template["workerTemplate"]["spec"]["terminationGracePeriodSeconds"] == 300
        command = worker["lifecycle"]["preStop"]["exec"]["command"]
        assert command[:2] == ["python3", "-c"]

    def test_a_worker_waits_while_the_leaders_port_answers_and_no_longer(self):
        """The worker's preStop, run as the kubelet runs it (its exec command, LWS_LEADER_ADDRESS from the LWS
        pod webhook), against a listening socket standing in for the leader's API port: it keeps waiting
        while the port answers, and returns soon after it closes, so a group restart is not held up for the
        whole grace period."""
        with socket.socket() as leader:
            leader.bind(("127.0.0.1", 0))
            leader.listen(16)
            port = leader.getsockname()[1]
            template = lws({**MULTINODE, "vllm": {"port": port}})["spec"]["leaderWorkerTemplate"]
            worker = container(template["workerTemplate"])
            command = worker["lifecycle"]["preStop"]["exec"]["command"]
            env = {**os.environ, "LWS_LEADER_ADDRESS": "127.0.0.1"}
            proc = subprocess.Popen([sys.executable, *command[1:]], env=env)
            try:
                time.sleep(1)
                assert proc.poll() is None, "the worker stopped waiting while the leader still answered"
                leader.close()
                started = time.monotonic()
                proc.wait(timeout=5)
                assert proc.returncode == 0
                assert time.monotonic() - started < 3
            finally:
                proc.kill()


def test_kubelet_expansion():
    env = {"A": "1", "B": "x.y"}
    assert kubelet_expand("$(A)", env) == "1"
    assert kubelet_expand("--a=$(A),$(B)", env) == "--a=1,x.y"
    assert kubelet_expand("$(MISSING)", env) == "$(MISSING)"  # unknown: left as written
    assert kubelet_expand("$$(A)", env) == "$(A)"  # escaped
    assert kubelet_expand("$(A", env) == "$(A"
    assert kubelet_expand("a$b$", env) == "a$b$"
    injected = lws_pod_env("g", "ns", 3, 1, 2)
    assert injected == {"LWS_LEADER_ADDRESS": "g-3.g.ns", "LWS_GROUP_SIZE": "2", "LWS_WORKER_INDEX": "1"}
