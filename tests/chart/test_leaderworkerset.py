"""templates/leaderworkerset.yaml: multi-node tensor + pipeline parallel with Ray."""

from __future__ import annotations

from vllm_serving.manifests import of_kind, one, render

MULTINODE = {"parallelism": {"tensor": 8, "pipeline": 2}, "gke": {"accelerator": "nvidia-h100-80gb"}}


def lws(values: dict) -> dict:
    return one(render(values), "LeaderWorkerSet")


def container(template: dict) -> dict:
    return template["spec"]["containers"][0]


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

    def test_leader_runs_ray_head_then_serves_with_tensor_and_pipeline(self):
        leader = container(lws(MULTINODE)["spec"]["leaderWorkerTemplate"]["leaderTemplate"])
        assert leader["command"][:2] == ["sh", "-c"]
        assert "ray start --head" in leader["command"][2]
        assert 'exec vllm serve "$@"' in leader["command"][2]
        args = leader["args"]
        assert args[args.index("--tensor-parallel-size") + 1] == "8"
        assert args[args.index("--pipeline-parallel-size") + 1] == "2"
        assert args[args.index("--distributed-executor-backend") + 1] == "ray"
        assert {p["name"] for p in leader["ports"]} == {"http", "ray"}
        assert leader["startupProbe"]["httpGet"]["path"] == "/health"

    def test_workers_join_the_leader_through_lws_leader_address(self):
        worker = container(lws(MULTINODE)["spec"]["leaderWorkerTemplate"]["workerTemplate"])
        assert 'ray start --address="$LWS_LEADER_ADDRESS:$RAY_PORT"' in worker["command"][2]
        assert "--block" in worker["command"][2]
        assert "args" not in worker and "ports" not in worker and "startupProbe" not in worker

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
            "name": "vllm-vllm-serving",
        }
        assert "replicas" not in one(objects, "LeaderWorkerSet")["spec"]

    def test_keda_queries_the_leader_pods(self):
        values = {
            **MULTINODE,
            "autoscaling": {"enabled": True, "provider": "keda", "keda": {"serverAddress": "http://prometheus:9090"}},
        }
        (trigger,) = one(render(values), "ScaledObject")["spec"]["triggers"]
        assert 'pod=~"vllm-vllm-serving-[0-9]+"' in trigger["metadata"]["query"]
