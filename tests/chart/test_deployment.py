"""templates/deployment.yaml with _pod.tpl, _args.tpl and _weights.tpl: the serving pod."""

from __future__ import annotations

import pytest

from vllm_serving.manifests import one, render, serving_pod_spec, vllm_container

DEPLOYMENT = "templates/deployment.yaml"


def args_of(values: dict) -> list[str]:
    return vllm_container(render(values, DEPLOYMENT))["args"]


def flag_value(args: list[str], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args else None


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
            "90",
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

    @pytest.mark.parametrize(("grace", "pause", "drain"), [(120, 30, "90"), (200, 20, "180"), (60, 0, "60")])
    def test_vllm_drains_for_what_the_grace_period_leaves_after_the_pause(self, grace, pause, drain):
        """Without --shutdown-timeout (default 0) vLLM aborts in-flight requests at SIGTERM
        (vllm 0.33.0 vllm/v1/engine/core.py _handle_shutdown: timeout 0 is mode "abort")."""
        values = {"terminationGracePeriodSeconds": grace, "preStopSleepSeconds": pause}
        assert flag_value(args_of(values), "--shutdown-timeout") == drain


class TestRollout:
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
