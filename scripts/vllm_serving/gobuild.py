"""Go programs the tooling builds once from Go modules and keeps in its cache.

Every Go component (the local cluster's binaries, the PromQL and EPP checkers, Beam's Prism runner, the
publishing tools) is a ``GoTool``: built into ``<cache>/<name>-<key>/bin``, where ``<cache>`` is
``$VLLM_SERVING_CACHE``, else ``$XDG_CACHE_HOME/vllm-serving``, else ``~/.cache/vllm-serving``, and ``<key>`` is a
hash of the module's go.mod, go.sum, build script and ``*.go`` files (or, for a module installed at a
version, that version). A change of pins gets a new directory; anything else reuses the binaries.
Concurrent builders wait on ``<cache>/<name>-<key>.lock``; a build fills ``bin.partial`` and renames it
to ``bin`` only when it succeeded, so a half-built tool is never taken for a built one.

Modules come from the Go module proxy into the module cache; nothing is downloaded at run time.
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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vllm_serving.errors import ToolMissing

Progress = Callable[[str], None]
# Static, reproducible binaries with no local paths or VCS stamps (a wheel's copy has no .git anyway).
GO_ENV = {"CGO_ENABLED": "0"}
GO_FLAGS = ("-trimpath", "-buildvcs=false")
LDFLAGS = "-s -w"  # no symbol table or DWARF: smaller binaries
KEEP = 3  # builds of one tool kept in the cache (the cluster's are ~130 MB)


_sink: Progress | None = None


def set_sink(sink: Progress | None) -> None:
    """Send build progress somewhere other than stderr (the pytest plugin: the terminal, past output capture)."""
    global _sink
    _sink = sink


def stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_progress(message: str) -> None:
    """Where first-use builds report: the sink when one is set, else stderr."""
    if _sink is not None:
        _sink(message)
    else:
        stderr(message)


PACKAGE_LINE = re.compile(r"^[A-Za-z0-9_.~\-]+(/[A-Za-z0-9_.~\-]+)*$")  # what `go build -v` prints per package
PROGRESS_EVERY = 15.0  # seconds between progress lines of a long build


def cache_root() -> Path:
    """The tooling's cache directory (built tools, cluster state); not created here."""
    if os.environ.get("VLLM_SERVING_CACHE"):
        return Path(os.environ["VLLM_SERVING_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "vllm-serving"


@contextlib.contextmanager
def lock(path: Path, *, blocking: bool = True) -> Iterator[bool]:
    """Hold an exclusive lock on ``path`` (created if missing); yields False if ``blocking`` is off and
    another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def find_go(what: str = "this tool") -> str:
    """The go toolchain: ``$GO``, ``go`` on PATH, or one installed next to this Python (a PyPI wheel)."""
    candidates = [os.environ.get("GO"), shutil.which("go"), os.path.join(os.path.dirname(sys.executable), "go")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise ToolMissing(
        f"{what} is built from its Go module and needs Go >= 1.26, which was not found: install it, or set GO"
    )


def module_version(src: Path, module: str, field_: str = "Version") -> str:
    """A field (Version, Time) of a module the Go module at ``src`` requires, as ``go list -m`` reports it."""
    proc = subprocess.run(
        [find_go(), "list", "-m", "-f", f"{{{{.{field_}}}}}", module], cwd=src, capture_output=True, text=True
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        raise ToolMissing(f"{src / 'go.mod'}: cannot read the version of {module}: {proc.stderr.strip()}")
    return proc.stdout.strip()


@dataclass(frozen=True)
class GoTool:
    """One or more Go programs, built once per key into ``<cache>/<name>-<key>/bin``."""

    name: str  # the cache directory's prefix
    what: str  # how messages name it: "the local test cluster", "the PromQL checker"
    binaries: tuple[str, ...]  # what bin/ holds when the build is complete
    src: Path | None = None  # the Go module built (hashed into the key); None: `go install` path@version packages
    packages: tuple[str, ...] = (".",)  # what `go build` builds in src, or `go install` installs without src
    version: str = ""  # without src: the key
    script: str = ""  # a script in src that builds into its one argument, instead of `go build`
    stamps: Mapping[str, str] = field(default_factory=dict)  # -X variable -> module whose version it is set to

    def _sources(self) -> list[Path]:
        assert self.src is not None
        files = [self.src / "go.mod", self.src / "go.sum", *([self.src / self.script] if self.script else [])]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise ToolMissing(
                f"{self.what}: its Go module is not at {self.src} (missing {', '.join(missing)}); "
                "run from a checkout of the repository, or reinstall the vllm-serving package"
            )
        return [*files, *sorted(self.src.glob("*.go"))]

    def key(self) -> str:
        """The version, or a short hash of the pinned versions (go.mod, go.sum), of what is compiled and of how
        (a build script, or the flags here): a change of any of them builds anew."""
        if self.src is None:
            return self.version
        digest = hashlib.sha256()
        for path in self._sources():
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        if not self.script:
            how = {"packages": self.packages, "stamps": self.stamps, "env": GO_ENV, "flags": GO_FLAGS, "ld": LDFLAGS}
            digest.update(json.dumps(how, sort_keys=True).encode())
        return digest.hexdigest()[:12]

    @property
    def root(self) -> Path:
        return cache_root() / f"{self.name}-{self.key()}"

    @property
    def bin_dir(self) -> Path:
        return self.root / "bin"

    def path(self, binary: str | None = None) -> Path:
        return self.bin_dir / (binary or self.binaries[0])

    @property
    def complete(self) -> bool:
        return all(self.path(b).exists() for b in self.binaries)

    def build_info(self) -> dict:
        try:
            return json.loads((self.root / "build.json").read_text())
        except (OSError, ValueError):
            return {}

    def ensure(self, progress: Progress = build_progress, *, force: bool = False) -> Path:
        """bin/, built first if this key has none (minutes for a cold Go build cache, seconds for a warm one)."""
        root = self.root
        if self.complete and not force:
            return self.bin_dir
        with lock(root.with_name(root.name + ".lock")):
            if self.complete and not force:  # another process built it while we waited
                return self.bin_dir
            find_go(self.what)  # before saying that it builds
            progress(f"building {self.what} into {self.bin_dir} (once)")
            staging = root / "bin.partial"
            shutil.rmtree(staging, ignore_errors=True)
            seconds = self.build_into(staging, progress=progress, log_path=root / "build.log")
            shutil.rmtree(self.bin_dir, ignore_errors=True)
            staging.rename(self.bin_dir)
            go_version = subprocess.run([find_go(self.what), "version"], capture_output=True, text=True).stdout
            built = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            info = {"seconds": seconds, "go": go_version.strip(), "built": built}
            (root / "build.json").write_text(json.dumps(info, indent=2) + "\n")
            progress(f"built {self.what} in {seconds:.0f} s")
        self._prune(progress)
        return self.bin_dir

    def _command(self, go: str, out: Path) -> list[str]:
        if self.script:
            return ["bash", str(self.src / self.script), str(out)]
        ldflags = " ".join([LDFLAGS, *(f"-X {var}={module_version(self.src, m)}" for var, m in self.stamps.items())])
        if self.src is None:  # go install path@version: GOBIN is the output
            return [go, "install", "-v", f"-ldflags={ldflags}", *self.packages]
        # one binary: name it ourselves; several: go build names them after their package paths
        target = out / self.binaries[0] if len(self.binaries) == 1 else f"{out}{os.sep}"
        return [go, "build", "-v", f"-ldflags={ldflags}", "-o", str(target), *self.packages]

    def _package_count(self, go: str, variables: Mapping[str, str]) -> int | None:
        """How many packages the build may compile (`go list -deps`), to say how far along it is."""
        if self.src is None:
            return None
        packages = list(self.packages) or ["."]
        try:
            listed = subprocess.run(
                [go, "list", "-deps", *packages],
                cwd=self.src,
                env=dict(variables),
                capture_output=True,
                text=True,
                timeout=300,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return len(listed.stdout.split()) if listed.returncode == 0 else None

    def build_into(
        self, out: Path, *, progress: Progress = build_progress, log_path: Path | None = None, **env: str
    ) -> float:
        """Build into ``out`` (no cache, no lock); return the seconds it took. ``env`` adds variables (GOCACHE)."""
        go = find_go(self.what)
        out.mkdir(parents=True, exist_ok=True)
        out = out.resolve()
        log_path = log_path or out.parent / f"{out.name}.log"
        # -v (a script's go build too) lists each package as it compiles: counted below, it says how far along
        # a build is; it changes no binary, so it is not part of the key
        goflags = " ".join([os.environ.get("GOFLAGS", ""), *GO_FLAGS, *(["-v"] if self.script else [])]).strip()
        variables = {**os.environ, **GO_ENV, "GO": go, "GOFLAGS": goflags, "GOBIN": str(out), **env}
        start = time.monotonic()
        total = self._package_count(go, variables)
        compiled, reported = 0, start
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                self._command(go, out),
                cwd=self.src or out,  # a path@version install runs outside any module
                env=variables,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            assert proc.stdout is not None
            tail: list[str] = []
            for line in proc.stdout:
                log.write(line)
                log.flush()
                text = line.rstrip()
                if PACKAGE_LINE.match(text):  # go build -v: one package compiled (cached ones are not listed)
                    compiled += 1
                    if time.monotonic() - reported >= PROGRESS_EVERY:
                        reported = time.monotonic()
                        share = f"/{total} packages ({min(compiled / total, 1):.0%})" if total else " packages"
                        progress(f"building {self.what}: {compiled}{share}, {reported - start:.0f} s")
                else:
                    progress(text)
                tail = [*tail[-29:], text]
            code = proc.wait()
        if code != 0:
            detail = "\n".join(tail)
            raise ToolMissing(f"building {self.what} failed (exit {code}; log {log_path}):\n{detail}")
        missing = [b for b in self.binaries if not (out / b).exists()]
        if missing:
            raise ToolMissing(f"building {self.what} left no {', '.join(missing)} in {out}; see {log_path}")
        return round(time.monotonic() - start, 1)

    def _prune(self, progress: Progress) -> None:
        """Keep this build and the newest others up to KEEP (clones on other pins take turns; a removed build
        costs them a rebuild); remove older ones unless a build holds their lock."""
        others = [d for d in self.root.parent.glob(f"{self.name}-*") if d.is_dir() and d != self.root]
        others.sort(key=lambda d: d.stat().st_mtime, reverse=True)
        for old in others[KEEP - 1 :]:
            lock_file = old.with_name(old.name + ".lock")
            with lock(lock_file, blocking=False) as held, contextlib.suppress(OSError):
                if not held:
                    continue
                shutil.rmtree(old, ignore_errors=True)
                lock_file.unlink(missing_ok=True)
                progress(f"removed {old} (an older build for other pins)")
