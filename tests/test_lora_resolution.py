"""LoRA adapters as vLLM resolves them in the pod the chart renders, for every adapter source and weight source.

vLLM 0.33.0 resolves each --lora-modules path with get_adapter_absolute_path (vllm/lora/utils.py): an absolute
path as it is, anything else as a Hugging Face repository through huggingface_hub's snapshot_download, under
the pod's Hugging Face environment. A static adapter that does not resolve to its directory stops the server
(init_static_loras). Here vLLM's own function runs in the CPU vLLM environment (tests/support/_vllm_lora_child.py)
with the vLLM container's environment as rendered, a stand-in for the pod's file system (each volumeMount a
directory, holding the adapter where the upload put it) and a stand-in Hub (HF_ENDPOINT); each combination the
chart accepts must resolve to an adapter directory on one of the container's mounts, and each it refuses is
refused with the reason.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from paths import CHART
from support.hubstub import HubStub
from support.manifests import render, vllm_container
from vllm_serving.errors import InvalidValues
from vllm_serving.vllm_parser import parser_env, pinned_vllm_version

pytestmark = pytest.mark.vllm_parser

CHILD = Path(__file__).parent / "support" / "_vllm_lora_child.py"
REPO = "my-org/gemma-sql-lora"
ADAPTER_FILES = {"adapter_config.json": b'{"peft_type": "LORA", "r": 8}', "adapter_model.safetensors": b"\0" * 16}
WEIGHTS = {
    "huggingface": {"source": "huggingface", "huggingface": {"tokenSecret": {"name": "hf-token"}}},
    "gcsfuse": {"source": "gcsfuse", "gcsfuse": {"bucket": "my-models", "path": "google/gemma-2-9b-it"}},
    "persistentDisk": {"source": "persistentDisk", "persistentDisk": {"existingClaim": "weights"}},
    "nfs": {"source": "nfs", "nfs": {"existingClaim": "filestore", "path": "gemma-2-9b-it"}},
    "gcsStream": {"source": "gcsStream", "gcsStream": {"bucket": "my-models", "path": "google/gemma-2-9b-it"}},
}
ADAPTERS = {"gcs": "gs://my-adapters/gemma/sql", "huggingface": REPO, "path": "adapters/sql"}
REFUSED = {
    ("huggingface", "path"): "lora.adapters[0].path: a path on the weights volume needs a mounted weights.source",
    ("gcsStream", "path"): "lora.adapters[0].path: a path on the weights volume needs a mounted weights.source",
    **{
        (weights, "huggingface"): f"lora.adapters[0].huggingface: with weights.source {weights} the pod runs offline"
        for weights in ("gcsfuse", "persistentDisk", "nfs", "gcsStream")
    },
}


def pod(weights: str, sources: list[str]) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """({adapter source: the path vLLM gets}, the vLLM container's environment, its mount paths) as rendered
    for adapters of these sources (each named after its source) on this weight source."""
    adapters = [{"name": source, source: ADAPTERS[source]} for source in sources]
    values = {"weights": WEIGHTS[weights], "lora": {"adapters": adapters}}
    container = vllm_container(render(values, show_only="templates/deployment.yaml"))
    args = container["args"]
    start = args.index("--lora-modules") + 1
    modules = [json.loads(a) for a in args[start : start + len(sources)]]
    # a Secret's value (HF_TOKEN) as the pod would read it
    env = {e["name"]: e.get("value", f"secret:{e['name']}") for e in container.get("env", [])}
    return {m["name"]: m["path"] for m in modules}, env, [m["mountPath"] for m in container["volumeMounts"]]


def resolve(paths: list[str], env: dict[str, str], root: Path, hub: HubStub) -> list[dict]:
    """vLLM's get_adapter_absolute_path on each path, in the container's environment; the pod's absolute
    paths (HF_HOME) live under root."""
    python = parser_env(pinned_vllm_version(CHART)) / "bin" / "python"
    child_env = {"PATH": os.environ["PATH"], "HOME": str(root / "home"), "HF_ENDPOINT": hub.url}
    for name, value in env.items():
        child_env[name] = str(root) + value if name == "HF_HOME" else value
    done = subprocess.run(
        [str(python), "-I", str(CHILD), *paths], env=child_env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return [json.loads(line) for line in done.stdout.splitlines()]


def accepted(weights: str) -> tuple[list[str], tuple[dict[str, str], dict[str, str], list[str]]]:
    """The adapter sources the chart takes on this weight source, with what it renders for them."""
    sources = sorted(ADAPTERS)
    while True:
        try:
            return sources, pod(weights, sources)
        except InvalidValues as refused:
            named = {int(i) for i in re.findall(r"lora\.adapters\[(\d+)\]", "\n".join(refused.problems))}
            assert named, refused.problems
            sources = [s for i, s in enumerate(sources) if i not in named]


def test_the_combinations_that_cannot_load_are_refused_with_the_reason():
    for weights in sorted(WEIGHTS):
        refused_sources = sorted(source for w, source in REFUSED if w == weights)
        with pytest.raises(InvalidValues) as refused:
            pod(weights, refused_sources)
        for source in refused_sources:
            assert REFUSED[weights, source].replace("[0]", f"[{refused_sources.index(source)}]") in "\n".join(
                refused.value.problems
            )


def test_every_adapter_the_chart_accepts_resolves_to_its_directory_in_the_pod(tmp_path):
    rendered = {}  # the pod's environment -> [(weight source, adapter source, path, mounts)]
    for weights in sorted(WEIGHTS):
        sources, (paths, env, mounts) = accepted(weights)
        for source in sources:
            rendered.setdefault(json.dumps(env, sort_keys=True), []).append((weights, source, paths[source], mounts))
    with HubStub({REPO: ADAPTER_FILES}) as hub:
        for group, (env_text, cases) in enumerate(sorted(rendered.items())):
            env, root = json.loads(env_text), tmp_path / str(group)
            for _, _, path, _ in cases:  # the upload: the adapter's files where the mount shows them
                if path.startswith("/"):
                    (root / path.lstrip("/")).mkdir(parents=True, exist_ok=True)
                    for name, data in ADAPTER_FILES.items():
                        (root / path.lstrip("/") / name).write_bytes(data)
            answers = resolve([path for _, _, path, _ in cases], env, root, hub)
            for (weights, source, _, mounts), found in zip(cases, answers, strict=True):
                assert "path" in found, f"{weights} weights, {source} adapter: vLLM gets {found['error']}"
                resolved = found["path"]
                if source == "huggingface":  # downloaded into the pod's Hugging Face cache, with its token
                    assert resolved.startswith(str(root) + env["HF_HOME"] + "/"), resolved
                    assert env["HF_HOME"] in mounts
                    assert {auth for _, _, auth in hub.requests if auth} == {"Bearer secret:HF_TOKEN"}
                    in_pod = Path(resolved)
                else:
                    assert any(resolved == m or resolved.startswith(m.rstrip("/") + "/") for m in mounts), (
                        resolved,
                        mounts,
                    )
                    in_pod = root / resolved.lstrip("/")
                assert (in_pod / "adapter_config.json").is_file(), f"{weights} weights, {source} adapter"
