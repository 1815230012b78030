"""The local test cluster's binaries, built once from the Go module under ``hack/cluster``.

The module pins Kubernetes, etcd, kwok and the LeaderWorkerSet controller; its ``build.sh`` builds them into
one multicall binary, ``localkube``, with a symlink per component (version stamps as upstream's release builds
set them). ``vllm_serving.gobuild`` runs it into ``<cache>/cluster-<hash>/bin``, ``<hash>`` covering go.mod,
go.sum, build.sh and the ``*.go`` files: a change of pins gets a new directory and a rebuild.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from vllm_serving import bundle, gobuild
from vllm_serving.errors import ClusterError

COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "lws-controller")
MULTICALL = "localkube"


def source_dir() -> Path:
    """The Go module ``hack/cluster`` this package carries (or ``$VLLM_SERVING_CLUSTER_SRC``)."""
    if os.environ.get("VLLM_SERVING_CLUSTER_SRC"):
        return Path(os.environ["VLLM_SERVING_CLUSTER_SRC"]).expanduser()
    return bundle.cluster_module()


def binaries(src: Path | None = None) -> gobuild.GoTool:
    """The binaries for the current pins (built or not)."""
    return gobuild.GoTool(
        "cluster", "the local test cluster", (MULTICALL, *COMPONENTS), src=src or source_dir(), script="build.sh"
    )


def ensure_built(progress: gobuild.Progress = gobuild.build_progress, *, force: bool = False) -> gobuild.GoTool:
    """The binaries for the current pins, built first if needed (a cold build: many minutes)."""
    bins = binaries()
    bins.ensure(progress, force=force)
    return bins


def pinned_versions(src: Path | None = None) -> dict[str, str]:
    """Module -> version for the modules ``hack/cluster/go.mod`` requires directly."""
    src = src or source_dir()
    text = (src / "go.mod").read_text()
    block = re.search(r"^require \((.*?)^\)", text, re.S | re.M)
    versions: dict[str, str] = {}
    for line in (block.group(1) if block else "").splitlines():
        parts = line.split("//")[0].split()
        if len(parts) == 2:
            versions[parts[0]] = parts[1]
    return versions


def go_mod_download(modules: list[tuple[str, str]]) -> dict[str, Path]:
    """``go mod download -json`` the given (module, version) pairs; return module -> directory.

    Modules come from the Go module proxy into the module cache (GOMODCACHE), once.
    """
    if not modules:
        return {}
    go = gobuild.find_go("the local test cluster")
    args = [go, "mod", "download", "-json", *(f"{m}@{v}" for m, v in modules)]
    # Outside any module, so that no go.mod around the current directory matters.
    proc = subprocess.run(args, capture_output=True, text=True, cwd="/")
    dirs: dict[str, Path] = {}
    errors: list[str] = []
    decoder = json.JSONDecoder()
    text, pos = proc.stdout, 0
    while pos < len(text):
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        obj, pos = decoder.raw_decode(text, pos)
        if obj.get("Error"):
            errors.append(obj["Error"])
        elif obj.get("Dir"):
            dirs[obj["Path"]] = Path(obj["Dir"])
    if errors or proc.returncode != 0:
        detail = "\n".join(errors) or proc.stderr.strip()
        raise ClusterError(f"go mod download failed:\n{detail}")
    return dirs
