"""Beam's Prism runner, built from its Go module at the installed Beam's version, cached, never downloaded.

Beam's PrismRunner (runners/portability/prism_runner.py, 2.77.0) downloads a release zip from GitHub
unless ``--prism_location`` names a binary. This builds that binary instead with
``go install github.com/apache/beam/sdks/v2/go/cmd/prism@v<beam version>`` (the Go module proxy, as
the local cluster's binaries are built) into ``<cache>/prism-<version>/bin/prism``, once, under a lock.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from vllm_serving.cluster.build import _lock, cache_root, find_go
from vllm_serving.errors import ClusterError, ToolMissing

MODULE = "github.com/apache/beam/sdks/v2/go/cmd/prism"


def beam_version() -> str:
    try:
        return version("apache-beam")
    except PackageNotFoundError:
        raise ToolMissing("PrismRunner needs apache-beam: pip install 'vllm-serving[pipeline]'") from None


def binary_path() -> Path:
    return cache_root() / f"prism-{beam_version()}" / "bin" / "prism"


def ensure_built(progress=lambda m: print(m, file=sys.stderr, flush=True)) -> Path:
    """The Prism binary of the installed Beam, built first if needed (a cold build takes minutes)."""
    binary = binary_path()
    if binary.is_file():
        return binary
    with _lock(binary.parent.parent.with_suffix(".lock")):
        if binary.is_file():
            return binary
        go = find_go()
        staging = binary.parent.with_name("bin.partial")
        staging.mkdir(parents=True, exist_ok=True)
        progress(f"building Beam's Prism runner {MODULE}@v{beam_version()} into {binary} (once)")
        started = time.monotonic()
        proc = subprocess.run(
            [go, "install", f"{MODULE}@v{beam_version()}"],
            env={**os.environ, "GOBIN": str(staging), "GOFLAGS": "-buildvcs=false"},
            capture_output=True,
            text=True,
            cwd=staging,
        )
        if proc.returncode != 0:
            raise ClusterError(f"building Prism failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
        staging.rename(binary.parent)
        progress(f"built Prism in {time.monotonic() - started:.0f} s")
    return binary
