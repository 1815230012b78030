"""Check endpoint-picker (EPP) argument lists with the EPP's own flag set, at the pinned release.

``hack/epp`` is a small Go module that requires ``sigs.k8s.io/gateway-api-inference-extension`` at the
version the chart pins and runs the EPP's ``Options`` (``pkg/epp/server``): ``AddFlags``, parse,
``Complete`` and ``Validate``, as ``cmd/epp``'s runner does before it starts. It is built once into
``<cache>/eppflags-<hash>/eppflags`` (``<hash>`` covers the module's files), like the cluster binaries.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vllm_serving.cluster.build import _lock, cache_root, find_go
from vllm_serving.errors import ToolMissing

SOURCE = Path(__file__).resolve().parents[2] / "hack" / "epp"


@dataclass(frozen=True)
class EppVerdict:
    argv: list[str]
    ok: bool
    error: str
    flags: dict[str, str]


def pinned_release(src: Path = SOURCE) -> str:
    """The Gateway API Inference Extension version hack/epp/go.mod requires."""
    for line in (src / "go.mod").read_text().splitlines():
        parts = line.split()
        if parts[:2] == ["require", "sigs.k8s.io/gateway-api-inference-extension"]:
            return parts[2]
        if parts[:1] == ["sigs.k8s.io/gateway-api-inference-extension"]:
            return parts[1]
    raise ToolMissing(f"{src / 'go.mod'} requires no sigs.k8s.io/gateway-api-inference-extension")


def binary(src: Path = SOURCE) -> Path:
    """The built checker; built on first use (minutes), then reused."""
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum", "main.go"):
        digest.update(name.encode() + b"\0" + (src / name).read_bytes())
    out = cache_root() / f"eppflags-{digest.hexdigest()[:12]}" / "eppflags"
    if out.is_file():
        return out
    with _lock(out.parent.with_name(out.parent.name + ".lock")):
        if out.is_file():
            return out
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name("eppflags.partial")
        done = subprocess.run(
            [find_go(), "build", "-trimpath", "-o", str(partial), "."], cwd=src, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise ToolMissing(f"building {src} failed:\n{done.stderr[-3000:]}")
        partial.rename(out)
    return out


def check(argvs: Sequence[Sequence[str]]) -> list[EppVerdict]:
    """The EPP's verdict on each argv (its container args)."""
    done = subprocess.run(
        [str(binary())],
        input=json.dumps([list(a) for a in argvs]),
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )
    if done.returncode != 0:
        raise ToolMissing(f"the EPP flag checker failed (exit {done.returncode}): {done.stderr[-2000:]}")
    answers = json.loads(done.stdout)
    return [EppVerdict(list(a), v["ok"], v["error"], v.get("flags") or {}) for a, v in zip(argvs, answers, strict=True)]
