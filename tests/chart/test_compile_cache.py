"""templates/_weights.tpl, compileCache: a torch.compile cache on storage the release's pods share, checked with
vLLM 0.33.0's own code for where it puts its caches (vllm/envs.py, vllm/v1/worker/startup_plan.py)."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from paths import CHART
from support.manifests import render, serving_pod_spec, vllm_container
from vllm_serving.vllm_parser import cache_paths, pinned_vllm_version

DEPLOYMENT = "templates/deployment.yaml"
DISK = "projects/my-project/zones/us-central1-a/disks/weights"
SOURCES = {
    "huggingface": {},
    "gcsfuse": {"source": "gcsfuse", "gcsfuse": {"bucket": "my-models"}},
    "gcsStream": {"source": "gcsStream", "gcsStream": {"bucket": "my-models"}},
    "persistentDisk": {"source": "persistentDisk", "persistentDisk": {"disks": [DISK]}},
    "nfs": {"source": "nfs", "nfs": {"server": "10.0.0.2", "share": "/vol1"}},
}
STORAGES = {
    "gcsfuse": {"enabled": True, "bucket": "my-cache"},
    "claim": {"enabled": True, "storage": "claim", "existingClaim": "filestore-rwx"},
}


def cache_env(values: dict) -> tuple[dict[str, str], dict, list[dict]]:
    """The vLLM container's literal env, the container, and the pod's volumes."""
    objects = render(values, DEPLOYMENT)
    container = vllm_container(objects)
    env = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    return env, container, serving_pod_spec(objects)["volumes"]


def mount_of(path: str, container: dict) -> dict:
    """The volume mount a path lies on (the deepest mount path that holds it)."""
    holding = [m for m in container["volumeMounts"] if PurePosixPath(path).is_relative_to(m["mountPath"])]
    assert holding, f"{path} is on no volume: vLLM would write into the container's own filesystem"
    return max(holding, key=lambda m: len(m["mountPath"]))


# Every weight source on a bucket; the claim with a mounted source and with none.
CASES = [(source, "gcsfuse") for source in SOURCES] + [("nfs", "claim"), ("gcsStream", "claim")]


@pytest.fixture(scope="module")
def rendered() -> dict[tuple[str, str], tuple[dict, list[dict], dict]]:
    """Each case's vLLM container, pod volumes and vLLM's answer for its env (one question for all cases)."""
    found = {case: cache_env({"weights": SOURCES[case[0]], "compileCache": STORAGES[case[1]]}) for case in CASES}
    answers = cache_paths(pinned_vllm_version(CHART), [env for env, _, _ in found.values()])
    return {
        case: (container, volumes, answer)
        for (case, (_, container, volumes)), answer in zip(found.items(), answers, strict=True)
    }


@pytest.mark.parametrize(("source", "storage"), CASES)
def test_vllm_puts_its_caches_on_the_shared_writable_volume(rendered, source, storage):
    container, volumes, found = rendered[(source, storage)]
    assert found["cache_root"] == "/vllm-cache/vllm-v0.33.0/Qwen--Qwen2.5-1.5B-Instruct/tp1-pp1"
    assert found["startup_plan_enabled"] and not found["compile_cache_disabled"]
    for path in (found["cache_root"], found["startup_plan"]):
        mount = mount_of(path, container)
        assert mount["name"] == "compile-cache" and not mount.get("readOnly"), mount
    (volume,) = [v for v in volumes if v["name"] == "compile-cache"]
    if storage == "gcsfuse":
        assert volume["csi"] == {
            "driver": "gcsfuse.csi.storage.gke.io",
            "volumeAttributes": {"bucketName": "my-cache", "mountOptions": "implicit-dirs,only-dir:vllm-cache"},
        }
    else:
        assert volume["persistentVolumeClaim"] == {"claimName": "filestore-rwx"}
        assert mount_of(found["cache_root"], container)["subPath"] == "vllm-cache"


def test_a_cache_in_a_bucket_brings_the_gcsfuse_sidecar():
    deployment = render({"compileCache": STORAGES["gcsfuse"]}, DEPLOYMENT)[0]
    assert deployment["spec"]["template"]["metadata"]["annotations"]["gke-gcsfuse/volumes"] == "true"


def test_another_release_model_or_parallelism_never_shares_a_directory():
    base = {"compileCache": STORAGES["gcsfuse"]}
    variants = [
        base,
        {**base, "image": {"tag": "v0.34.0"}},
        {**base, "model": {"name": "google/gemma-2-9b-it"}},
        {**base, "parallelism": {"tensor": 2}, "sharedMemory": {"sizeLimit": "8Gi"}},
    ]
    roots = [
        found["cache_root"] for found in cache_paths(pinned_vllm_version(CHART), [cache_env(v)[0] for v in variants])
    ]
    assert len(set(roots)) == len(variants), roots


def test_off_vllm_keeps_its_default_cache_in_the_container():
    env, container, _ = cache_env({})
    assert "VLLM_CACHE_ROOT" not in env and "VLLM_ENABLE_STARTUP_PLAN" not in env
    assert all(m["name"] != "compile-cache" for m in container["volumeMounts"])
