"""templates/_weights.tpl: what each weight source puts in the pod and on vLLM's command line."""

from __future__ import annotations

import json
import math

import pytest

from support.manifests import of_kind, one, render, serving_pod_spec, vllm_container
from vllm_serving import chart as chart_mod
from vllm_serving import sizing, timeline

DEPLOYMENT = "templates/deployment.yaml"
DISK_A = "projects/my-project/zones/us-central1-a/disks/weights"
DISK_B = "projects/my-project/zones/us-central1-b/disks/weights"


def pod(values: dict) -> dict:
    return one(render(values, DEPLOYMENT), "Deployment")["spec"]["template"]


def volume(spec: dict, name: str) -> dict:
    return next(v for v in spec["volumes"] if v["name"] == name)


def flag(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


GCSFUSE = {"weights": {"source": "gcsfuse", "gcsfuse": {"bucket": "my-models", "path": "google/gemma-2-9b-it"}}}


class TestGcsFuse:
    def test_csi_ephemeral_volume_read_only_with_caches_sized_for_weights(self):
        spec = pod(GCSFUSE)["spec"]
        csi = volume(spec, "weights")["csi"]
        assert csi["driver"] == "gcsfuse.csi.storage.gke.io"
        assert csi["readOnly"] is True
        attributes = csi["volumeAttributes"]
        assert attributes["bucketName"] == "my-models"
        assert attributes["fileCacheCapacity"] == "-1"
        assert attributes["skipCSIBucketAccessCheck"] == "true"
        assert attributes["gcsfuseMetadataPrefetchOnMount"] == "true"
        assert attributes["mountOptions"].split(",") == [
            "implicit-dirs",
            "only-dir=google/gemma-2-9b-it",
            "metadata-cache:ttl-secs:-1",
            "metadata-cache:stat-cache-max-size-mb:-1",
            "metadata-cache:type-cache-max-size-mb:-1",
            "file-cache:cache-file-for-range-read:true",
            "file-cache:enable-parallel-downloads:true",
            "file-cache:max-parallel-downloads:-1",
        ]

    def test_sidecar_injection_and_limits_annotations(self):
        annotations = pod(GCSFUSE)["metadata"]["annotations"]
        assert annotations == {
            "gke-gcsfuse/volumes": "true",
            "gke-gcsfuse/cpu-limit": "0",
            "gke-gcsfuse/memory-limit": "0",
            "gke-gcsfuse/ephemeral-storage-limit": "0",
            timeline.SOURCE_ANNOTATION: "gcsfuse",
            timeline.WEIGHTS_GB_ANNOTATION: "3.1",
        }

    def test_the_timeline_reads_the_image_cache_from_an_annotation(self):
        values = {"gke": {"nodePool": "l4-cache", "secondaryBootDisk": {"enabled": True}}}
        annotations = pod(values)["metadata"]["annotations"]
        assert annotations[timeline.IMAGE_CACHE_ANNOTATION] == "secondary-boot-disk"
        assert timeline.IMAGE_CACHE_ANNOTATION not in pod({})["metadata"]["annotations"]

    def test_user_pod_annotations_merge_with_the_webhooks(self):
        values = {**GCSFUSE, "podAnnotations": {"example.com/team": "ml"}}
        annotations = pod(values)["metadata"]["annotations"]
        assert annotations["example.com/team"] == "ml"
        assert annotations["gke-gcsfuse/volumes"] == "true"

    @pytest.mark.parametrize(
        ("medium", "empty_dir", "selector"),
        [
            ("bootDisk", {"sizeLimit": "100Gi"}, None),
            ("memory", {"medium": "Memory", "sizeLimit": "100Gi"}, None),
            ("localSsd", {"sizeLimit": "100Gi"}, "true"),
        ],
    )
    def test_cache_medium(self, medium, empty_dir, selector):
        values = {"weights": {"source": "gcsfuse", "gcsfuse": {"bucket": "b1k", "fileCache": {"medium": medium}}}}
        spec = pod(values)["spec"]
        assert volume(spec, "gke-gcsfuse-cache")["emptyDir"] == empty_dir
        assert spec["nodeSelector"].get("cloud.google.com/gke-ephemeral-storage-local-ssd") == selector

    def test_no_cache_volume_or_cache_options_without_file_cache(self):
        values = {"weights": {"source": "gcsfuse", "gcsfuse": {"bucket": "b1k", "fileCache": {"enabled": False}}}}
        spec = pod(values)["spec"]
        assert "gke-gcsfuse-cache" not in [v["name"] for v in spec["volumes"]]
        attributes = volume(spec, "weights")["csi"]["volumeAttributes"]
        assert "fileCacheCapacity" not in attributes
        assert "file-cache" not in attributes["mountOptions"]

    def test_extra_mount_options_are_appended(self):
        values = {
            "weights": {"source": "gcsfuse", "gcsfuse": {"bucket": "b1k", "extraMountOptions": ["read_ahead_kb=1024"]}}
        }
        options = volume(pod(values)["spec"], "weights")["csi"]["volumeAttributes"]["mountOptions"]
        assert options.endswith(",read_ahead_kb=1024")

    def test_vllm_serves_the_mounted_directory_under_the_model_name_eagerly(self):
        container = vllm_container(render(GCSFUSE, DEPLOYMENT))
        assert container["args"][0] == "/models"
        assert flag(container["args"], "--served-model-name") == "Qwen/Qwen2.5-1.5B-Instruct"
        assert flag(container["args"], "--safetensors-load-strategy") == "eager"
        assert {"name": "weights", "mountPath": "/models", "readOnly": True} in container["volumeMounts"]
        assert {"name": "HF_HUB_OFFLINE", "value": "1"} in container["env"]

    def test_warmup_reads_every_safetensors_file_in_parallel(self):
        values = {
            "weights": {
                "source": "gcsfuse",
                "gcsfuse": {"bucket": "b1k", "warmup": {"enabled": True, "parallelism": 8}},
            }
        }
        (init,) = pod(values)["spec"]["initContainers"]
        assert init["name"] == "warm-file-cache"
        assert 'xargs -0 -r -n 1 -P "$PARALLELISM" cat' in init["args"][0]
        assert {"name": "PARALLELISM", "value": "8"} in init["env"]
        assert init["volumeMounts"] == [{"name": "weights", "mountPath": "/models", "readOnly": True}]
        assert init["securityContext"]["allowPrivilegeEscalation"] is False
        # A namespace with a compute ResourceQuota refuses a container without requests and limits.
        assert init["resources"] == {"requests": {"cpu": "1", "memory": "512Mi"}, "limits": {"memory": "512Mi"}}


class TestPersistentDisk:
    def test_claims_its_zones_volume_read_only(self):
        values = {"weights": {"source": "persistentDisk", "persistentDisk": {"disks": [DISK_A], "path": "gemma"}}}
        objects = render(values, DEPLOYMENT)
        spec = serving_pod_spec(objects)
        assert volume(spec, "weights") == {
            "name": "weights",
            "persistentVolumeClaim": {"claimName": "vllm-vllm-serving-weights-us-central1-a", "readOnly": True},
        }
        assert vllm_container(objects)["args"][0] == "/models/gemma"

    def test_one_deployment_per_zone(self):
        values = {"weights": {"source": "persistentDisk", "persistentDisk": {"disks": [DISK_A, DISK_B]}}}
        deployments = of_kind(render(values, DEPLOYMENT), "Deployment")
        assert [d["metadata"]["name"] for d in deployments] == [
            "vllm-vllm-serving-us-central1-a",
            "vllm-vllm-serving-us-central1-b",
        ]
        for deployment, zone in zip(deployments, ["us-central1-a", "us-central1-b"], strict=True):
            assert deployment["spec"]["selector"]["matchLabels"]["vllm-serving/zone"] == zone
            claim = volume(deployment["spec"]["template"]["spec"], "weights")["persistentVolumeClaim"]["claimName"]
            assert claim == f"vllm-vllm-serving-weights-{zone}"

    def test_a_single_disk_keeps_the_plain_deployment_name(self):
        values = {"weights": {"source": "persistentDisk", "persistentDisk": {"disks": [DISK_A]}}}
        (deployment,) = of_kind(render(values, DEPLOYMENT), "Deployment")
        assert deployment["metadata"]["name"] == "vllm-vllm-serving"

    def test_existing_claim(self):
        values = {"weights": {"source": "persistentDisk", "persistentDisk": {"existingClaim": "hdml"}}}
        spec = serving_pod_spec(render(values, DEPLOYMENT))
        assert volume(spec, "weights")["persistentVolumeClaim"] == {"claimName": "hdml", "readOnly": True}


NFS = {"weights": {"source": "nfs", "nfs": {"server": "10.0.0.2", "share": "/vol1", "path": "llama"}}}
STREAM = {"weights": {"source": "gcsStream", "gcsStream": {"bucket": "my-models", "path": "meta/llama-70b"}}}


class TestNfs:
    def test_claims_the_share_and_serves_the_model_directory(self):
        objects = render(NFS, DEPLOYMENT)
        spec = serving_pod_spec(objects)
        assert volume(spec, "weights")["persistentVolumeClaim"]["claimName"] == "vllm-vllm-serving-weights"
        assert vllm_container(objects)["args"][0] == "/models/llama"
        assert "initContainers" not in spec

    def test_read_ahead_tuning_is_the_only_privileged_container(self):
        values = {"weights": {**NFS["weights"], "nfs": {**NFS["weights"]["nfs"], "readAhead": {"enabled": True}}}}
        spec = serving_pod_spec(render(values, DEPLOYMENT))
        (init,) = spec["initContainers"]
        assert init["name"] == "tune-read-ahead"
        assert init["securityContext"] == {"privileged": True}
        assert {"name": "READ_AHEAD_KB", "value": "16384"} in init["env"]
        assert "/sys/class/bdi/$device/read_ahead_kb" in init["args"][0]
        assert init["resources"] == {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "32Mi"}}
        assert not any(c.get("securityContext", {}).get("privileged") for c in spec["containers"])


class TestGcsStream:
    def test_streams_from_gs_with_the_runai_loader_and_no_volume(self):
        objects = render(STREAM, DEPLOYMENT)
        args = vllm_container(objects)["args"]
        assert args[0] == "gs://my-models/meta/llama-70b"
        assert flag(args, "--served-model-name") == "Qwen/Qwen2.5-1.5B-Instruct"
        assert flag(args, "--load-format") == "runai_streamer"
        assert json.loads(flag(args, "--model-loader-extra-config")) == {"concurrency": 16}
        assert "volumes" not in serving_pod_spec(objects)
        assert "volumeMounts" not in vllm_container(objects)

    def test_memory_limit_joins_the_loader_config(self):
        values = {
            "weights": {"source": "gcsStream", "gcsStream": {"bucket": "b1k", "path": "m", "memoryLimit": 4294967296}}
        }
        args = vllm_container(render(values, DEPLOYMENT))["args"]
        assert json.loads(flag(args, "--model-loader-extra-config")) == {"concurrency": 16, "memory_limit": 4294967296}


class TestHuggingFaceLoadOptions:
    def test_load_options_are_emitted_only_when_set(self):
        args = vllm_container(render({}, DEPLOYMENT))["args"]
        assert "--load-format" not in args and "--safetensors-load-strategy" not in args
        values = {"weights": {"huggingface": {"loadFormat": "safetensors", "safetensorsLoadStrategy": "prefetch"}}}
        args = vllm_container(render(values, DEPLOYMENT))["args"]
        assert flag(args, "--load-format") == "safetensors"
        assert flag(args, "--safetensors-load-strategy") == "prefetch"


PROFILE = {
    "weights": {
        "source": "gcsfuse",
        "gcsfuse": {"bucket": "my-models", "path": "gemma", "profile": "gcsfusecsi-serving"},
    }
}


class TestGcsfuseProfile:
    """weights.gcsfuse.profile: GKE's Cloud Storage FUSE profile, a StorageClass used through a volume and claim."""

    def test_a_volume_and_claim_of_the_profiles_class_name_the_bucket(self):
        objects = render(PROFILE)
        (volume,) = of_kind(objects, "PersistentVolume")
        (claim,) = of_kind(objects, "PersistentVolumeClaim")
        assert volume["spec"]["storageClassName"] == claim["spec"]["storageClassName"] == "gcsfusecsi-serving"
        assert volume["spec"]["csi"]["volumeHandle"] == "my-models" and volume["spec"]["csi"]["readOnly"]
        assert volume["spec"]["mountOptions"] == ["implicit-dirs", "only-dir:gemma"]
        assert claim["spec"]["volumeName"] == volume["metadata"]["name"]
        assert volume["spec"]["claimRef"]["name"] == claim["metadata"]["name"]

    def test_the_pod_mounts_the_claim_and_leaves_the_cache_to_the_driver(self):
        spec = pod(PROFILE)
        assert volume(spec["spec"], "weights") == {
            "name": "weights",
            "persistentVolumeClaim": {"claimName": "vllm-vllm-serving-weights", "readOnly": True},
        }
        assert "gke-gcsfuse-cache" not in [v["name"] for v in spec["spec"]["volumes"]]
        assert spec["metadata"]["annotations"]["gke-gcsfuse/volumes"] == "true"


SOURCES = {
    "huggingface": {},
    "gcsfuse": GCSFUSE["weights"],
    "gcsStream": {"source": "gcsStream", "gcsStream": {"bucket": "b1k"}},
    "persistentDisk": {"source": "persistentDisk", "persistentDisk": {"disks": [DISK_A]}},
    "nfs": {"source": "nfs", "nfs": {"existingClaim": "x"}},
}


def budget(values: dict) -> int:
    probe = vllm_container(render(values, DEPLOYMENT))["startupProbe"]
    return probe["periodSeconds"] * probe["failureThreshold"]


class TestStartupBudget:
    """templates/_startup.tpl: the budget grows with the checkpoint, in helm as in `vllm-serving size`."""

    @pytest.mark.parametrize("source", list(SOURCES))
    def test_a_405b_model_gets_more_time_than_a_2b_one_and_helm_agrees_with_python(self, source):
        startup = chart_mod.default_values(chart_mod.chart_dir())["startup"]
        found = {}
        for name in ("google/gemma-2-2b-it", "meta-llama/Llama-3.1-405B-Instruct"):
            python = next(
                s
                for s in sizing.cold_starts(sizing.checkpoint_gb(sizing.builtin_model(name)), startup)
                if s.source == source
            )
            found[name] = budget({"model": {"name": name}, "weights": SOURCES[source]})
            assert found[name] == math.ceil(python.budget_seconds / 10) * 10, name
        assert found["meta-llama/Llama-3.1-405B-Instruct"] > 5 * found["google/gemma-2-2b-it"]

    def test_the_formula_with_round_numbers(self):
        # (100 GB / 0.5 GB/s + 60 + 40) x 1.5 = 450 s
        startup = {"throughputGBps": {"nfs": 0.5}, "compileSeconds": 60, "graphCaptureSeconds": 40, "margin": 1.5}
        values = {"model": {"name": "acme/unlisted", "weightsGB": 100}, "weights": SOURCES["nfs"], "startup": startup}
        assert budget(values) == 450

    def test_a_quantized_checkpoint_is_sized_by_its_weight_bytes_in_helm_as_in_python(self):
        # gpt-oss-120b: 65.2 GB of MXFP4 experts and bf16 rest, not 116.8B parameters x 2 bytes of its torch_dtype
        entry = sizing.builtin_models()["openai/gpt-oss-120b"]
        gb = entry["weightBytes"] / 1e9
        assert sizing.checkpoint_gb(sizing.builtin_model("openai/gpt-oss-120b")) == gb
        assert budget({"model": {"name": "openai/gpt-oss-120b"}}) == budget(
            {"model": {"name": "acme/unlisted", "weightsGB": gb}}
        )

    def test_weights_gb_overrides_the_table(self):
        small = {"model": {"name": "meta-llama/Llama-3.1-405B-Instruct", "weightsGB": 1}}
        assert budget(small) == budget({"model": {"name": "acme/unlisted", "weightsGB": 1}})

    def test_table_lookup_ignores_case(self):
        assert budget({"model": {"name": "QWEN/qwen2.5-7b-instruct"}}) == budget(
            {"model": {"name": "Qwen/Qwen2.5-7B-Instruct"}}
        )

    def test_max_seconds_overrides_the_computed_budget(self):
        probe = vllm_container(render({**GCSFUSE, "startup": {"maxSeconds": 300}}, DEPLOYMENT))["startupProbe"]
        assert probe["failureThreshold"] == 30


class TestSecondaryBootDisk:
    def test_standard_selects_the_pool(self):
        values = {"gke": {"nodePool": "l4-cache", "secondaryBootDisk": {"enabled": True}}}
        assert serving_pod_spec(render(values, DEPLOYMENT))["nodeSelector"] == {
            "cloud.google.com/gke-accelerator": "nvidia-l4",
            "cloud.google.com/gke-nodepool": "l4-cache",
        }

    def test_autopilot_uses_the_secondary_boot_disk_selector(self):
        values = {
            "gke": {
                "mode": "autopilot",
                "secondaryBootDisk": {"enabled": True, "diskImage": "vllm-cache", "project": "my-project"},
            }
        }
        selector = serving_pod_spec(render(values, DEPLOYMENT))["nodeSelector"]
        key = "cloud.google.com.node-restriction.kubernetes.io/gke-secondary-boot-disk-vllm-cache"
        assert selector[key] == "CONTAINER_IMAGE_CACHE.my-project"
