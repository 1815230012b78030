"""The rendered `vllm serve` argv of every values file, checked by vLLM's own parser of the pinned release."""

from __future__ import annotations

import functools
import re
import tempfile
from pathlib import Path

import pytest
import yaml

from paths import CHART, CI_FILES, VALUES_FILES
from support.manifests import group_argvs, of_kind, render_file
from vllm_serving.vllm_parser import check_argvs, pinned_vllm_version

FILES = VALUES_FILES + CI_FILES


def test_image_tag_app_version_and_parser_pin_agree():
    version = pinned_vllm_version(CHART)
    chart_yaml = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart_yaml["appVersion"] == f"v{version}"
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["image"] == {"repository": "vllm/vllm-openai", "tag": f"v{version}", "pullPolicy": "IfNotPresent"}


def test_no_container_runs_ray():
    """The vLLM image has no Ray (vllm 0.33.0's wheel does not require it); nothing may call it."""
    for path in FILES:
        for obj in render_file(path):
            text = yaml.safe_dump(obj)
            assert not re.search(r"\bray\b", text, re.IGNORECASE), f"{path.name}: {obj['kind']} mentions ray"


# Where with_mounted_config puts the files the kubelet would mount (rewritten on every run).
MOUNTED = Path(tempfile.gettempdir()) / "vllm-serving-argv-mounts"


def with_mounted_config(objects: list[dict], pod: dict, argv: list[str], where: str) -> list[str]:
    """argv with paths under a mount of one of the release's ConfigMaps moved to a copy of its files:
    vLLM's validator opens files such as --chat-template, which the kubelet would have mounted."""
    config_maps = {o["metadata"]["name"]: o.get("data", {}) for o in of_kind(objects, "ConfigMap")}
    volumes = {v["name"]: v["configMap"]["name"] for v in pod.get("volumes", []) if "configMap" in v}
    container = next(c for c in pod["containers"] if c["name"] == "vllm")
    for mount in container.get("volumeMounts", []):
        data = config_maps.get(volumes.get(mount["name"], ""))
        if data is None:
            continue
        local = MOUNTED / where / mount["name"]
        local.mkdir(parents=True, exist_ok=True)
        for key, text in data.items():
            (local / key).write_text(text)
        argv = [a.replace(mount["mountPath"] + "/", f"{local}/", 1) for a in argv]
    return argv


@functools.cache
def argvs_of(command: str) -> dict[str, list[str]]:
    """Every rendered argv for `vllm serve` (Deployments; every pod of a LeaderWorkerSet group, leader and
    headless workers, as the kubelet expands them) or `vllm run-batch` (Jobs)."""
    argvs = {}
    for path in FILES:
        objects = render_file(path)
        if command == "run-batch":
            for job in of_kind(objects, "Job"):
                pod = job["spec"]["template"]["spec"]
                for c in pod["containers"]:
                    if c["name"] == "vllm":
                        # run-batch gets -i/-o from the Job's script; the rest is the container's args.
                        prefix = ["-i", "/batch/requests.jsonl", "-o", "/batch/results.jsonl"]
                        name = f"{path.name}: Job/{job['metadata']['name']}"
                        argvs[name] = prefix + with_mounted_config(objects, pod, c["args"], name)
            continue
        for deployment in of_kind(objects, "Deployment"):
            pod = deployment["spec"]["template"]["spec"]
            for c in pod["containers"]:
                if c["name"] == "vllm":
                    assert c["command"] == ["vllm", "serve"]
                    name = f"{path.name}: Deployment/{deployment['metadata']['name']}"
                    argvs[name] = with_mounted_config(objects, pod, c["args"], name)
        for lws in of_kind(objects, "LeaderWorkerSet"):
            pod = lws["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"]
            for rank, argv in enumerate(group_argvs(lws, "llm")):
                assert argv[:2] == ["vllm", "serve"], argv
                name = f"{path.name}: LeaderWorkerSet/{lws['metadata']['name']} rank {rank}"
                argvs[name] = with_mounted_config(objects, pod, argv[2:], name)
    return argvs


def test_leaders_and_workers_are_among_the_checked_argvs():
    argvs = argvs_of("serve")
    assert any(name.endswith("rank 0") for name in argvs)
    workers = [argv for name, argv in argvs.items() if name.endswith("rank 1")]
    assert workers
    assert all("--headless" in argv for argv in workers)


@pytest.mark.vllm_parser
@pytest.mark.parametrize("command", ["serve", "run-batch"])
def test_every_rendered_argv_is_accepted_by_vllm(command):
    argvs = argvs_of(command)
    assert argvs, f"no values file renders a `vllm {command}`"
    results = check_argvs(pinned_vllm_version(CHART), list(argvs.values()), command=command)
    rejected = {name: r.error for name, r in zip(argvs, results, strict=True) if not r.ok}
    assert rejected == {}


@pytest.mark.vllm_parser
def test_the_parser_still_refuses_what_it_must():
    """A parser gone permissive would pass every file above; these must keep failing."""
    version = pinned_vllm_version(CHART)
    refused = check_argvs(
        version,
        [
            ["m", "--no-such-flag"],
            ["m", "--tensor-parallel", "2"],
            # what with_mounted_config provides: vLLM opens the template file
            ["m", "--chat-template", "/nonexistent/chat-template.jinja"],
            # a LoRA module without its path
            ["m", "--enable-lora", "--lora-modules", '{"name": "sql", "base_model_name": "m"}'],
        ],
    )
    assert [r.ok for r in refused] == [False] * 4
    assert "appears path-like, but doesn't exist" in refused[2].error
    assert "Invalid fields for --lora-modules" in refused[3].error
    (batch,) = check_argvs(version, [["--model", "m"]], command="run-batch")
    assert not batch.ok
    assert "-i" in batch.error or "input" in batch.error
