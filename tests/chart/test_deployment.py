"""templates/deployment.yaml with _pod.tpl, _args.tpl and _weights.tpl: the serving pod."""

from __future__ import annotations

import json
from typing import ClassVar

import pytest

from paths import CHART
from support.manifests import one, render, serving_pod_spec, vllm_container
from vllm_serving import chart as chart_mod
from vllm_serving import sizing
from vllm_serving.errors import InvalidValues

DEPLOYMENT = "templates/deployment.yaml"


def args_of(values: dict) -> list[str]:
    return vllm_container(render(values, DEPLOYMENT))["args"]


def flag_value(args: list[str], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args else None


def refusal(values: dict) -> str:
    """The problems the chart lists when it refuses values."""
    with pytest.raises(InvalidValues) as refused:
        render(values)
    return "\n".join(refused.value.problems)


class TestArgs:
    def test_command_is_vllm_serve_with_model_positional(self):
        container = vllm_container(render({"model": {"name": "google/gemma-2-9b-it"}}, DEPLOYMENT))
        assert container["command"] == ["vllm", "serve"]
        assert container["args"][0] == "google/gemma-2-9b-it"

    def test_unset_typed_flags_are_not_emitted(self):
        args = args_of({})
        for flag in ("--served-model-name", "--max-model-len", "--gpu-memory-utilization", "--max-num-seqs", "--dtype"):
            assert flag not in args
        assert args == [
            "Qwen/Qwen2.5-1.5B-Instruct",
            "--port",
            "8000",
            "--shutdown-timeout",
            "85",
            "--tensor-parallel-size",
            "1",
        ]

    def test_typed_flags_are_emitted_when_set(self):
        args = args_of(
            {
                "model": {"servedName": "chat"},
                "parallelism": {"tensor": 2},
                "vllm": {
                    "maxModelLen": 131072,
                    "gpuMemoryUtilization": 0.95,
                    "maxNumSeqs": 64,
                    "dtype": "bfloat16",
                    "port": 9000,
                },
            }
        )
        assert flag_value(args, "--served-model-name") == "chat"
        assert flag_value(args, "--tensor-parallel-size") == "2"
        assert flag_value(args, "--max-model-len") == "131072"  # an integer, never 1.31072e+05
        assert flag_value(args, "--gpu-memory-utilization") == "0.95"
        assert flag_value(args, "--max-num-seqs") == "64"
        assert flag_value(args, "--dtype") == "bfloat16"
        assert flag_value(args, "--port") == "9000"

    def test_extra_args_follow_the_charts_own_verbatim(self):
        extra = ["--enable-prefix-caching", "--max-num-batched-tokens=8192", "--kv-cache-dtype", "fp8"]
        args = args_of({"vllm": {"extraArgs": extra}})
        assert args[-len(extra) :] == extra

    def test_every_arg_is_a_string(self):
        args = args_of({"vllm": {"maxModelLen": 4096, "gpuMemoryUtilization": 0.9}})
        assert all(isinstance(a, str) for a in args)


class TestGpuStrategy:
    @pytest.mark.parametrize("tensor", [1, 2, 4, 8])
    def test_gpu_request_and_limit_equal_tensor(self, tensor):
        resources = vllm_container(render({"parallelism": {"tensor": tensor}}, DEPLOYMENT))["resources"]
        assert resources["limits"]["nvidia.com/gpu"] == tensor
        assert resources["requests"]["nvidia.com/gpu"] == tensor

    def test_single_gpu_has_no_shared_memory_volume(self):
        objects = render({"parallelism": {"tensor": 1}}, DEPLOYMENT)
        assert "dshm" not in [v["name"] for v in serving_pod_spec(objects)["volumes"]]
        assert "/dev/shm" not in [m["mountPath"] for m in vllm_container(objects)["volumeMounts"]]

    def test_tensor_parallel_mounts_memory_backed_dev_shm(self):
        objects = render(
            {
                "parallelism": {"tensor": 4},
                "gke": {"accelerator": "nvidia-h100-80gb"},
                "sharedMemory": {"sizeLimit": "32Gi"},
                # /dev/shm counts against the container's memory: the limit must hold it.
                "resources": {"requests": {"cpu": "40", "memory": "400Gi"}, "limits": {"memory": "400Gi"}},
            },
            DEPLOYMENT,
        )
        volume = next(v for v in serving_pod_spec(objects)["volumes"] if v["name"] == "dshm")
        assert volume["emptyDir"] == {"medium": "Memory", "sizeLimit": "32Gi"}
        assert {"name": "dshm", "mountPath": "/dev/shm"} in vllm_container(objects)["volumeMounts"]

    def test_selects_accelerator_and_tolerates_gpu_taint(self):
        spec = serving_pod_spec(render({"gke": {"accelerator": "nvidia-a100-80gb"}}, DEPLOYMENT))
        assert spec["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-a100-80gb"}
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]

    def test_node_pool_and_extra_selectors_merge(self):
        """A selector that contradicts gke.accelerator is refused (bad-values/node-selector-other-accelerator)."""
        spec = serving_pod_spec(
            render(
                {
                    "gke": {"accelerator": "nvidia-l4", "nodePool": "l4-pool"},
                    "nodeSelector": {
                        "cloud.google.com/gke-spot": "true",
                        "cloud.google.com/gke-accelerator": "nvidia-l4",
                    },
                },
                DEPLOYMENT,
            )
        )
        assert spec["nodeSelector"] == {
            "cloud.google.com/gke-accelerator": "nvidia-l4",
            "cloud.google.com/gke-nodepool": "l4-pool",
            "cloud.google.com/gke-spot": "true",
        }

    def test_extra_tolerations_are_added_after_the_gpu_taint(self):
        extra = {"key": "cloud.google.com/gke-spot", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
        tolerations = serving_pod_spec(render({"tolerations": [extra]}, DEPLOYMENT))["tolerations"]
        assert tolerations[0]["key"] == "nvidia.com/gpu"
        assert tolerations[1] == extra

    def test_user_resources_kept_beside_gpu(self):
        resources = vllm_container(
            render(
                {"resources": {"requests": {"cpu": "6", "memory": "30Gi"}, "limits": {"memory": "40Gi"}}}, DEPLOYMENT
            )
        )["resources"]
        # values.yaml's ephemeral-storage request stays: Helm merges maps key by key
        assert resources["requests"] == {"cpu": "6", "memory": "30Gi", "ephemeral-storage": "10Gi", "nvidia.com/gpu": 1}
        assert resources["limits"] == {"memory": "40Gi", "nvidia.com/gpu": 1}


class TestProbes:
    def test_startup_budget_is_max_seconds(self):
        probe = vllm_container(render({"startup": {"maxSeconds": 900, "periodSeconds": 15}}, DEPLOYMENT))[
            "startupProbe"
        ]
        assert probe["httpGet"] == {"path": "/health", "port": "http"}
        assert probe["periodSeconds"] == 15
        assert probe["failureThreshold"] == 60
        assert probe["periodSeconds"] * probe["failureThreshold"] >= 900

    def test_budget_rounds_up_never_down(self):
        probe = vllm_container(render({"startup": {"maxSeconds": 901, "periodSeconds": 10}}, DEPLOYMENT))[
            "startupProbe"
        ]
        assert probe["failureThreshold"] == 91

    def test_readiness_and_liveness_poll_health_on_named_port(self):
        container = vllm_container(
            render({"readiness": {"periodSeconds": 3}, "liveness": {"failureThreshold": 9}}, DEPLOYMENT)
        )
        assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
        assert container["readinessProbe"]["periodSeconds"] == 3
        assert container["livenessProbe"]["failureThreshold"] == 9
        assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]


class TestShutdown:
    def test_prestop_sleep_and_grace_period(self):
        objects = render({"preStopSleepSeconds": 20, "terminationGracePeriodSeconds": 200}, DEPLOYMENT)
        assert vllm_container(objects)["lifecycle"] == {"preStop": {"sleep": {"seconds": 20}}}
        assert serving_pod_spec(objects)["terminationGracePeriodSeconds"] == 200

    def test_no_prestop_hook_when_pause_is_zero(self):
        assert "lifecycle" not in vllm_container(render({"preStopSleepSeconds": 0}, DEPLOYMENT))

    @pytest.mark.parametrize(
        ("grace", "pause", "margin", "drain"), [(120, 30, 5, "85"), (200, 20, 10, "170"), (60, 0, 5, "55")]
    )
    def test_vllm_drains_for_what_the_grace_period_leaves_after_the_pause_and_the_margin(
        self, grace, pause, margin, drain
    ):
        """Without --shutdown-timeout (default 0) vLLM aborts in-flight requests at SIGTERM; with it, it
        drains until the timeout, then aborts what is left and tears its processes down (vllm 0.33.0
        vllm/v1/engine/core.py _handle_shutdown), which needs the margin before the kubelet's kill."""
        values = {"terminationGracePeriodSeconds": grace, "preStopSleepSeconds": pause, "shutdownMarginSeconds": margin}
        assert flag_value(args_of(values), "--shutdown-timeout") == drain


class TestRollout:
    def test_the_progress_deadline_outlasts_the_startup_budget(self):
        """Past progressDeadlineSeconds (600 by default) a rollout whose new pod is not yet available gets
        Progressing=False/ProgressDeadlineExceeded, which Argo CD reports as Degraded
        (gitops-engine pkg/health/health_deployment.go)."""
        spec = one(render({}, DEPLOYMENT), "Deployment")["spec"]
        defaults = chart_mod.default_values(CHART)
        model = sizing.builtin_model(defaults["model"]["name"])
        (start,) = [
            s for s in sizing.cold_starts(sizing.checkpoint_gb(model), defaults["startup"]) if s.source == "huggingface"
        ]
        assert spec["progressDeadlineSeconds"] == start.budget_seconds + 600  # the model's budget + the margin
        values = {"startup": {"maxSeconds": 900}, "rollout": {"progressMarginSeconds": 300}}
        assert one(render(values, DEPLOYMENT), "Deployment")["spec"]["progressDeadlineSeconds"] == 1200

    def test_default_needs_no_spare_gpus(self):
        strategy = one(render({}, DEPLOYMENT), "Deployment")["spec"]["strategy"]
        assert strategy == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}

    def test_recreate_has_no_rolling_parameters(self):
        strategy = one(render({"rollout": {"strategy": "Recreate"}}, DEPLOYMENT), "Deployment")["spec"]["strategy"]
        assert strategy == {"type": "Recreate"}

    def test_replicas(self):
        assert one(render({"replicaCount": 3}, DEPLOYMENT), "Deployment")["spec"]["replicas"] == 3


class TestSecurity:
    def test_container_drops_privileges(self):
        context = vllm_container(render({}, DEPLOYMENT))["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}

    def test_pod_uses_runtime_default_seccomp_and_no_api_token(self):
        spec = serving_pod_spec(render({}, DEPLOYMENT))
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False

    def test_no_host_namespaces_or_host_paths(self):
        spec = serving_pod_spec(render({"parallelism": {"tensor": 8}}, DEPLOYMENT))
        assert not any(spec.get(k) for k in ("hostNetwork", "hostPID", "hostIPC"))
        assert not any("hostPath" in v for v in spec["volumes"])


class TestApiKey:
    def test_key_comes_from_the_secret(self):
        env = vllm_container(render({"vllm": {"apiKey": {"secretName": "k", "key": "token"}}}, DEPLOYMENT))["env"]
        assert {"name": "VLLM_API_KEY", "valueFrom": {"secretKeyRef": {"name": "k", "key": "token"}}} in env

    def test_no_key_without_a_secret(self):
        env = vllm_container(render({}, DEPLOYMENT))["env"]
        assert "VLLM_API_KEY" not in {e["name"] for e in env}

    @pytest.mark.parametrize(
        "values, message",
        [
            (
                {"vllm": {"extraArgs": ["--api-key=abc"]}},
                "vllm.extraArgs: --api-key puts a secret in the pod spec",
            ),
            (
                {"env": [{"name": "VLLM_API_KEY", "value": "abc"}]},
                "env: VLLM_API_KEY is set by the chart from vllm.apiKey; remove it from env and set "
                "vllm.apiKey.secretName",
            ),
            (
                {"vllm": {"apiKey": {"secretName": "k"}}, "chatUI": {"enabled": True}},
                "chatUI.enabled: the chat UI (GKE's Gradio sample app) sends no Authorization header",
            ),
        ],
    )
    def test_refused_with_the_fix(self, values, message):
        assert message in refusal(values)


class TestHuggingFaceWeights:
    def test_default_cache_is_size_limited_emptydir_and_hf_home(self):
        objects = render({}, DEPLOYMENT)
        volume = next(v for v in serving_pod_spec(objects)["volumes"] if v["name"] == "hf-cache")
        assert volume == {"name": "hf-cache", "emptyDir": {"sizeLimit": "100Gi"}}
        container = vllm_container(objects)
        assert {"name": "hf-cache", "mountPath": "/data/huggingface"} in container["volumeMounts"]
        assert {"name": "HF_HOME", "value": "/data/huggingface"} in container["env"]

    def test_existing_claim_replaces_emptydir(self):
        objects = render(
            {"weights": {"huggingface": {"cache": {"existingClaim": "hf-cache", "mountPath": "/models"}}}}, DEPLOYMENT
        )
        volume = next(v for v in serving_pod_spec(objects)["volumes"] if v["name"] == "hf-cache")
        assert volume == {"name": "hf-cache", "persistentVolumeClaim": {"claimName": "hf-cache"}}
        assert {"name": "HF_HOME", "value": "/models"} in vllm_container(objects)["env"]

    def test_token_comes_from_the_named_secret(self):
        env = vllm_container(
            render(
                {"weights": {"huggingface": {"tokenSecret": {"name": "hf-secret", "key": "hf_api_token"}}}}, DEPLOYMENT
            )
        )["env"]
        assert {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-secret", "key": "hf_api_token"}}} in env

    def test_no_token_variable_without_a_secret(self):
        env = vllm_container(render({}, DEPLOYMENT))["env"]
        assert "HF_TOKEN" not in [e["name"] for e in env]

    def test_user_env_follows_weights_env(self):
        env = vllm_container(render({"env": [{"name": "VLLM_LOGGING_LEVEL", "value": "DEBUG"}]}, DEPLOYMENT))["env"]
        assert env[-1] == {"name": "VLLM_LOGGING_LEVEL", "value": "DEBUG"}


class TestLabels:
    def test_selector_is_stable_subset_of_pod_labels(self):
        deployment = one(render({"podLabels": {"team": "ml"}}, DEPLOYMENT), "Deployment")
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector == {
            "app.kubernetes.io/name": "vllm-serving",
            "app.kubernetes.io/instance": "vllm",
            "app.kubernetes.io/component": "server",
        }
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items()
        assert labels["team"] == "ml"

    def test_long_release_names_fit_kubernetes_limits(self):
        name = "a-very-long-release-name-that-goes-on-and-on-and-on-for-ever-x"
        deployment = one(render({}, DEPLOYMENT, release=name[:53]), "Deployment")
        assert len(deployment["metadata"]["name"]) <= 55
        assert not deployment["metadata"]["name"].endswith("-")


class TestNames:
    def test_dots_of_a_release_name_do_not_reach_object_names(self):
        objects = render({}, release="qwen.v2")
        assert {o["metadata"]["name"] for o in objects} >= {"qwen-v2-vllm-serving"}
        assert all("." not in o["metadata"]["name"] for o in objects)


ADAPTERS = [
    {"name": "sql", "gcs": "gs://my-adapters/gemma/sql/"},
    {"name": "support", "path": "adapters/support"},
]
HF_ADAPTER = {"name": "fr", "huggingface": "org/french-lora"}  # needs Hugging Face weights (an online pod)
LORA = {"model": {"servedName": "gemma"}, "weights": {"source": "gcsfuse", "gcsfuse": {"bucket": "models"}}}


class TestLora:
    def test_adapters_become_lora_modules_on_the_served_model(self):
        args = args_of({**LORA, "lora": {"adapters": ADAPTERS, "maxLoras": 2, "maxRank": 64, "maxCpuLoras": 4}})
        assert "--enable-lora" in args
        start = args.index("--lora-modules") + 1
        modules = [json.loads(a) for a in args[start : start + 2]]
        assert modules == [
            {"name": "sql", "path": "/adapters/sql", "base_model_name": "gemma"},
            {"name": "support", "path": "/models/adapters/support", "base_model_name": "gemma"},
        ]
        assert [flag_value(args, f) for f in ("--max-loras", "--max-lora-rank", "--max-cpu-loras")] == ["2", "64", "4"]
        online = args_of({"model": {"servedName": "gemma"}, "lora": {"adapters": [HF_ADAPTER]}})
        module = json.loads(online[online.index("--lora-modules") + 1])
        assert module == {"name": "fr", "path": "org/french-lora", "base_model_name": "gemma"}

    def test_bucket_adapter_is_mounted_read_only_through_gcsfuse(self):
        objects = render({**LORA, "lora": {"adapters": ADAPTERS}}, DEPLOYMENT)
        spec = serving_pod_spec(objects)
        volume = next(v for v in spec["volumes"] if v["name"] == "lora-0")
        assert volume["csi"] == {
            "driver": "gcsfuse.csi.storage.gke.io",
            "readOnly": True,
            "volumeAttributes": {"bucketName": "my-adapters", "mountOptions": "implicit-dirs,only-dir=gemma/sql"},
        }
        assert {"name": "lora-0", "mountPath": "/adapters/sql", "readOnly": True} in vllm_container(objects)[
            "volumeMounts"
        ]
        assert not any(v["name"].startswith("lora-") and v["name"] != "lora-0" for v in spec["volumes"])

    def test_bucket_adapter_alone_asks_for_the_gcsfuse_sidecar(self):
        objects = render({"lora": {"adapters": ADAPTERS[:1]}}, DEPLOYMENT)
        annotations = one(objects, "Deployment")["spec"]["template"]["metadata"]["annotations"]
        assert annotations["gke-gcsfuse/volumes"] == "true"

    def test_multinode_workers_mount_the_adapters_too(self):
        values = {"parallelism": {"pipeline": 2}, "lora": {"adapters": ADAPTERS[:1]}}
        lws = one(render(values), "LeaderWorkerSet")
        worker = lws["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]
        assert any(v["name"] == "lora-0" for v in worker["volumes"])

    def test_no_lora_flags_without_adapters(self):
        args = args_of({})
        assert not [a for a in args if "lora" in a]

    def test_runtime_updates_are_an_opt_in_env(self):
        values = {"lora": {"runtimeUpdates": True}, "vllm": {"apiKey": {"secretName": "k"}}}
        container = vllm_container(render(values, DEPLOYMENT))
        assert {"name": "VLLM_ALLOW_RUNTIME_LORA_UPDATING", "value": "true"} in container["env"]
        assert "--enable-lora" in container["args"]
        default_env = vllm_container(render({}, DEPLOYMENT))["env"]
        assert "VLLM_ALLOW_RUNTIME_LORA_UPDATING" not in {e["name"] for e in default_env}

    @pytest.mark.parametrize(
        "values, message",
        [
            (
                {"lora": {"runtimeUpdates": True}},
                "lora.runtimeUpdates: lets every caller make vLLM load any path or Hugging Face repository; "
                "set vllm.apiKey.secretName too",
            ),
            (
                {"lora": {"adapters": [{"name": "a", "path": "x"}]}},
                "lora.adapters[0].path: a path on the weights volume needs a mounted weights.source",
            ),
            (
                {
                    "model": {"servedName": "sql"},
                    "lora": {"adapters": [*ADAPTERS[1:2], {"name": "sql", "huggingface": "o/s"}]},
                },
                "lora.adapters[1].name: sql is already the name of the model or of another adapter",
            ),
            ({"lora": {"maxRank": 64}}, "lora.maxLoras: LoRA limits are set but no adapter is"),
            (
                {"vllm": {"extraArgs": ["--enable-lora"]}},
                "vllm.extraArgs: --enable-lora is set by the chart from lora.adapters",
            ),
        ],
    )
    def test_refused_with_the_fix(self, values, message):
        assert message in refusal(values)


class TestExtensionPoints:
    VALUES: ClassVar[dict] = {
        "extraVolumes": [{"name": "scratch", "emptyDir": {}}],
        "extraVolumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
        "extraInitContainers": [{"name": "prepare", "image": "busybox:1.37"}],
        "extraContainers": [{"name": "shipper", "image": "fluent/fluent-bit:4.0.3"}],
    }

    def test_land_in_the_serving_pod(self):
        spec = serving_pod_spec(render(self.VALUES, DEPLOYMENT))
        assert {"name": "scratch", "emptyDir": {}} in spec["volumes"]
        assert {"name": "scratch", "mountPath": "/scratch"} in spec["containers"][0]["volumeMounts"]
        assert [c["name"] for c in spec["initContainers"]] == ["prepare"]
        assert [c["name"] for c in spec["containers"]] == ["vllm", "shipper"]

    def test_after_the_charts_own_init_containers(self):
        values = {
            **self.VALUES,
            "weights": {"source": "gcsfuse", "gcsfuse": {"bucket": "models", "warmup": {"enabled": True}}},
        }
        spec = serving_pod_spec(render(values, DEPLOYMENT))
        assert [c["name"] for c in spec["initContainers"]] == ["warm-file-cache", "prepare"]

    def test_land_in_multinode_workers_and_batch_pods(self):
        lws = one(render({**self.VALUES, "parallelism": {"pipeline": 2}}), "LeaderWorkerSet")
        worker = lws["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]
        assert [c["name"] for c in worker["containers"]] == ["vllm", "shipper"]
        batch = {**self.VALUES, "batch": {"enabled": True, "bucket": "batches"}}
        job = next(
            o
            for o in render(batch)
            if o["kind"] == "Job" and "helm.sh/hook" not in o["metadata"].get("annotations", {})
        )
        assert {"name": "scratch", "emptyDir": {}} in job["spec"]["template"]["spec"]["volumes"]

    def test_a_chart_volume_name_is_refused(self):
        assert "extraVolumes[0].name: dshm is a volume the chart makes" in refusal(
            {"extraVolumes": [{"name": "dshm", "emptyDir": {}}]}
        )


SPOT_TOLERATION = {"key": "cloud.google.com/gke-spot", "operator": "Equal", "value": "true", "effect": "NoSchedule"}


class TestSpot:
    """gke.spot: the label GKE puts on Spot nodes, the taint its Spot guide advises on Standard pools, and
    a shutdown that fits the preemption notice.
    https://cloud.google.com/kubernetes-engine/docs/concepts/spot-vms (15 s for pods by default, up to 120)
    https://cloud.google.com/kubernetes-engine/docs/how-to/autopilot-spot-pods (at most 25 s)"""

    def test_selects_and_tolerates_spot_nodes_with_a_short_pause(self):
        spec = serving_pod_spec(render({"gke": {"spot": True}}))
        assert spec["nodeSelector"] == {
            "cloud.google.com/gke-accelerator": "nvidia-l4",
            "cloud.google.com/gke-spot": "true",
        }
        assert SPOT_TOLERATION in spec["tolerations"]
        assert spec["containers"][0]["lifecycle"]["preStop"] == {"sleep": {"seconds": 5}}

    def test_on_autopilot_gke_taints_and_tolerates_itself(self):
        spec = serving_pod_spec(render({"gke": {"spot": True, "mode": "autopilot"}}))
        assert spec["nodeSelector"]["cloud.google.com/gke-spot"] == "true"
        assert SPOT_TOLERATION not in spec["tolerations"]

    def test_off_by_default(self):
        spec = serving_pod_spec(render({}))
        assert "cloud.google.com/gke-spot" not in spec["nodeSelector"]
        assert spec["terminationGracePeriodSeconds"] == 120
        assert len(spec["tolerations"]) == 1

    @pytest.mark.parametrize(("mode", "grace", "limit"), [("standard", 150, 120), ("autopilot", 30, 25)])
    def test_a_node_grace_longer_than_gke_gives_is_refused(self, mode, grace, limit):
        values = {"gke": {"spot": True, "mode": mode, "spotShutdown": {"nodeGraceSeconds": grace}}}
        with pytest.raises(InvalidValues) as err:
            render(values)
        assert (
            f"gke.spotShutdown.nodeGraceSeconds: {grace} is more than the {limit} s GKE gives a pod"
            f" on a {mode} Spot VM after the preemption notice; use {limit} or less"
        ) in err.value.problems

    def test_the_pause_and_margin_must_leave_a_drain_inside_the_preemption_window(self):
        values = {"gke": {"spot": True, "spotShutdown": {"nodeGraceSeconds": 15, "preStopSleepSeconds": 10}}}
        with pytest.raises(InvalidValues) as err:
            render(values)
        assert err.value.problems == [
            "gke.spotShutdown.preStopSleepSeconds: 10 plus shutdownMarginSeconds (5) leaves vLLM no time to drain in"
            " the 15 s the kubelet gives a pod whose Spot VM is preempted (gke.spotShutdown.nodeGraceSeconds);"
            " use at most 9"
        ]

    def test_a_normal_deletion_keeps_the_whole_grace_and_drain(self):
        """The kubelet caps the grace at a preemption by itself (pkg/kubelet/nodeshutdown killPods), so a
        shorter pod grace would buy nothing there and only cut every rollout's and scale-in's drain."""
        spec = serving_pod_spec(render({"gke": {"spot": True}}))
        assert spec["terminationGracePeriodSeconds"] == 120
        assert flag_value(spec["containers"][0]["args"], "--shutdown-timeout") == "110"  # 120 - 5 - 5

    @pytest.mark.parametrize(
        ("compute_class", "spot"),
        [
            ({"create": True, "priorities": [{"gpu": {"type": "nvidia-l4", "count": 1}}]}, False),
            (
                {
                    "create": True,
                    "priorities": [
                        {"gpu": {"type": "nvidia-l4", "count": 1}},
                        {"gpu": {"type": "nvidia-l4", "count": 1}, "spot": True},
                    ],
                },
                True,
            ),
            ({"name": "my-class"}, True),  # an existing class: its priorities are unknown
        ],
    )
    def test_a_compute_class_that_may_fall_back_to_spot_gets_the_spot_pause(self, compute_class, spot):
        spec = serving_pod_spec(render({"gke": {"computeClass": compute_class}}))
        assert spec["containers"][0]["lifecycle"]["preStop"] == {"sleep": {"seconds": 5 if spot else 30}}
