"""templates/inferencepool.yaml: the InferencePool (inference.networking.k8s.io/v1) of the serving pods."""

from __future__ import annotations

from support.manifests import of_kind, one, render

GATEWAY = {"gateway": {"enabled": True}}


class TestInferencePool:
    def test_off_by_default(self):
        assert of_kind(render({}), "InferencePool") == []

    def test_selects_exactly_the_serving_pods(self):
        objects = render(GATEWAY)
        pool = one(objects, "InferencePool")
        pod_labels = one([o for o in objects if o["metadata"]["name"] == "vllm-vllm-serving"], "Deployment")["spec"][
            "template"
        ]["metadata"]["labels"]
        selector = pool["spec"]["selector"]["matchLabels"]
        assert selector == {
            "app.kubernetes.io/name": "vllm-serving",
            "app.kubernetes.io/instance": "vllm",
            "app.kubernetes.io/component": "server",
        }
        assert selector.items() <= pod_labels.items()
        # Nothing else of the release carries them: not the picker, the chat UI or the test pod.
        others = [
            o for o in objects if o["kind"] in ("Deployment", "Job") and o["metadata"]["name"] != "vllm-vllm-serving"
        ]
        for other in others:
            labels = other["spec"]["template"]["metadata"]["labels"]
            assert not selector.items() <= labels.items(), other["metadata"]["name"]

    def test_multinode_selects_leaders_only(self):
        lws = one(render({**GATEWAY, "parallelism": {"pipeline": 2}}), "LeaderWorkerSet")
        selector = one(render({**GATEWAY, "parallelism": {"pipeline": 2}}), "InferencePool")["spec"]["selector"]
        template = lws["spec"]["leaderWorkerTemplate"]
        leader = template["leaderTemplate"]["metadata"]["labels"]
        worker = template["workerTemplate"]["metadata"]["labels"]
        assert selector["matchLabels"].items() <= leader.items()
        assert not selector["matchLabels"].items() <= worker.items()

    def test_targets_vllms_port_and_names_the_picker(self):
        pool = one(render({**GATEWAY, "vllm": {"port": 8080}}), "InferencePool")
        assert pool["spec"]["targetPorts"] == [{"number": 8080}]
        assert pool["spec"]["endpointPickerRef"] == {
            "name": "vllm-vllm-serving-epp",
            "port": {"number": 9002},
            "failureMode": "FailClose",
        }


class TestInferenceObjectives:
    def test_each_objective_names_the_pool_with_its_priority(self):
        values = {"gateway": {"enabled": True, "objectives": [{"name": "premium", "priority": 10}]}}
        objects = render(values)
        (objective,) = of_kind(objects, "InferenceObjective")
        assert objective["apiVersion"] == "inference.networking.x-k8s.io/v1alpha2"
        assert objective["metadata"]["name"] == "premium"
        assert objective["spec"] == {
            "priority": 10,
            "poolRef": {"name": one(objects, "InferencePool")["metadata"]["name"]},
        }

    def test_none_by_default(self):
        assert of_kind(render({"gateway": {"enabled": True}}), "InferenceObjective") == []
