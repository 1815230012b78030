"""Build (once) and find the local test cluster's binaries.

The Go module under ``hack/cluster`` pins Kubernetes, etcd, kwok and the
LeaderWorkerSet controller and builds them
into one multicall binary, ``localkube``, with a symlink per component. The build
goes to ``<cache>/cluster-<hash>/bin`` where ``<cache>`` is ``$VLLM_SERVING_CACHE``,
else ``$XDG_CACHE_HOME/vllm-serving``, else ``~/.cache/vllm-serving``, and
``<hash>`` covers the module's pinned versions and sources: a change of pins gets a
new directory and a rebuild, anything else reuses the binaries.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from vllm_serving import bundle
from vllm_serving.errors import ClusterError, ToolMissing

COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "lws-controller")
MULTICALL = "localkube"

Progress = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cache_root() -> Path:
    """The tooling's cache directory (binaries, cluster state), created on demand."""
    if os.environ.get("VLLM_SERVING_CACHE"):
        return Path(os.environ["VLLM_SERVING_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "vllm-serving"


def source_dir() -> Path:
    """The Go module ``hack/cluster`` this package carries (or ``$VLLM_SERVING_CLUSTER_SRC``)."""
    if os.environ.get("VLLM_SERVING_CLUSTER_SRC"):
        return Path(os.environ["VLLM_SERVING_CLUSTER_SRC"]).expanduser()
    return bundle.cluster_module()


def _source_files(src: Path) -> list[Path]:
    files = [src / "go.mod", src / "go.sum", src / "build.sh", *sorted(src.glob("*.go"))]
    missing = [f for f in files[:3] if not f.is_file()]
    if missing:
        raise ToolMissing(
            f"the cluster's Go module is not at {src} (missing {', '.join(f.name for f in missing)}); "
            "reinstall the vllm-serving package, or set VLLM_SERVING_CLUSTER_SRC to a checkout's hack/cluster"
        )
    return files


def build_hash(src: Path | None = None) -> str:
    """A short hash of the pinned versions (go.mod, go.sum) and the sources that are compiled."""
    src = src or source_dir()
    digest = hashlib.sha256()
    for path in _source_files(src):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


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


def find_go() -> str:
    """The go toolchain: ``$GO``, ``go`` on PATH, or one installed next to this Python (a PyPI wheel)."""
    candidates = [os.environ.get("GO"), shutil.which("go"), os.path.join(os.path.dirname(sys.executable), "go")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise ToolMissing("the local test cluster is built from source and needs Go >= 1.26: install it, or set GO")


@dataclass(frozen=True)
class Binaries:
    """A built set of cluster binaries."""

    root: Path  # <cache>/cluster-<hash>

    @property
    def bin_dir(self) -> Path:
        return self.root / "bin"

    def path(self, component: str) -> Path:
        return self.bin_dir / component

    @property
    def complete(self) -> bool:
        return (self.root / "build.json").is_file() and all(self.path(c).exists() for c in (MULTICALL, *COMPONENTS))

    def build_info(self) -> dict:
        try:
            return json.loads((self.root / "build.json").read_text())
        except (OSError, ValueError):
            return {}


def binaries(src: Path | None = None) -> Binaries:
    """Where the binaries for the current pins live (built or not)."""
    return Binaries(cache_root() / f"cluster-{build_hash(src)}")


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_build(out_dir: Path, *, progress: Progress = _stderr, log_path: Path | None = None, **env: str) -> float:
    """Run ``hack/cluster/build.sh OUT_DIR``; return the seconds it took. ``env`` adds variables (e.g. GOCACHE)."""
    src = source_dir()
    go = find_go()
    start = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_path or out_dir / "build.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            ["bash", str(src / "build.sh"), str(out_dir)],
            cwd=src,
            env={**os.environ, "GO": go, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            log.flush()
            progress(line.rstrip())
        code = proc.wait()
    if code != 0:
        raise ClusterError(f"building the cluster binaries failed (exit {code}); see {log_path}")
    return round(time.monotonic() - start, 1)


def ensure_built(progress: Progress = _stderr, *, force: bool = False) -> Binaries:
    """Return the binaries for the current pins, building them first if needed.

    A cold build compiles Kubernetes, etcd and kwok: many minutes on a small
    machine (later builds reuse Go's build cache). Concurrent callers wait on a
    lock instead of building twice.
    """
    src = source_dir()
    bins = binaries(src)
    if bins.complete and not force:
        return bins
    with _lock(bins.root.with_name(bins.root.name + ".lock")):
        if bins.complete and not force:  # another process built it while we waited
            return bins
        versions = pinned_versions(src)
        progress(
            f"building the local cluster's binaries into {bins.bin_dir} "
            f"({', '.join(f'{m}@{v}' for m, v in versions.items())}); a cold build takes many minutes"
        )
        (bins.root / "build.json").unlink(missing_ok=True)
        bins.root.mkdir(parents=True, exist_ok=True)
        seconds = run_build(bins.bin_dir, progress=progress, log_path=bins.root / "build.log")
        go_version = subprocess.run([find_go(), "version"], capture_output=True, text=True).stdout.strip()
        info = {
            "seconds": seconds,  # a cold build only if Go's build cache was empty
            "go": go_version,
            "versions": versions,
            "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (bins.root / "build.json").write_text(json.dumps(info, indent=2) + "\n")
        progress(f"built in {seconds:.0f} s")
    _prune(bins, progress)
    return bins


def _prune(current: Binaries, progress: Progress) -> None:
    """Remove binaries built for other pins (~130 MB each) unless a build holds their lock."""
    for old in current.root.parent.glob("cluster-*"):
        if not old.is_dir() or old == current.root:
            continue
        lock = old.with_name(old.name + ".lock")
        with contextlib.suppress(OSError), lock.open("w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            shutil.rmtree(old, ignore_errors=True)
            lock.unlink(missing_ok=True)
            progress(f"removed {old} (built for other pins)")


def go_mod_download(modules: list[tuple[str, str]]) -> dict[str, Path]:
    """``go mod download -json`` the given (module, version) pairs; return module -> directory.

    Modules come from the Go module proxy into the module cache (GOMODCACHE), once.
    """
    if not modules:
        return {}
    go = find_go()
    args = [go, "mod", "download", "-json", *(f"{m}@{v}" for m, v in modules)]
    # Outside any module, so that no go.mod around the current directory matters.
    proc = subprocess.run(args, capture_output=True, text=True, cwd=cache_root() if cache_root().is_dir() else "/")
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
