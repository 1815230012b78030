"""The Dataflow worker's Python, played locally: a virtual environment holding what the worker image installs.

worker.Dockerfile installs ``worker-requirements.txt`` on top of the vLLM image with pip's resolver,
then Beam with ``--no-deps``, then this package with ``--no-deps``. This builds the same thing, once per
set of requirement lines and Python version, under ``<cache>/pipeline-worker-<key>`` (the cache of
``vllm_serving.gobuild``, with its lock), so a warm CI cache never reinstalls:

1. pip's own resolver resolves the requirement lines, ``vllm==0.33.0`` among them, with
   ``install --dry-run --report`` (metadata only: nothing of vLLM's GPU stack is downloaded or
   installed). That resolution is what the image's ``pip install`` computes; the test checks that it
   keeps every vLLM requirement satisfied.
2. The venv gets, at the resolved versions, every distribution the non-vLLM lines need (their
   closure in the resolution) and what the worker's Python imports that the image has from vLLM
   (``FROM_VLLM``), then Beam ``--no-deps``.

The substitution, stated: vLLM and the rest of what only vLLM needs are not installed (torch and the
CUDA libraries alone are gigabytes); tests/pipeline/fake_vllm stands in for
``python -m vllm.entrypoints.openai.api_server``. Leaving out more of vLLM's dependencies can only make
this worker lack something the image has (a false failure), never have something it lacks. The venv
uses the launcher's Python (a worker must run the launcher's minor version; the image has 3.12). This
package is put on the worker's path from the checkout's ``scripts/`` (what ``pip install --no-deps``
puts in the image), and nothing else of the launcher's: a graph that needs anything more fails to load
on this worker.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from paths import REPO
from vllm_serving import gobuild

PIPELINE = REPO / "scripts" / "vllm_serving" / "pipeline"
REQUIREMENTS = PIPELINE / "worker-requirements.txt"
DOCKERFILE = PIPELINE / "worker.Dockerfile"
# In the image because vLLM requires them, and used by the worker's Python: Beam's vLLM handler imports
# openai; Beam requires pillow (the image keeps vLLM's, worker-requirements.txt says why).
FROM_VLLM = ("openai", "pillow")


def dockerfile_arg(name: str) -> str:
    match = re.search(rf"^ARG {name}=(\S+)$", DOCKERFILE.read_text(), re.M)
    assert match, f"worker.Dockerfile has no ARG {name}= default"
    return match.group(1)


def requirement_lines() -> list[Requirement]:
    lines = (line.split("#", 1)[0].strip() for line in REQUIREMENTS.read_text().splitlines())
    return [Requirement(line) for line in lines if line]


@dataclass(frozen=True)
class WorkerVenv:
    root: Path

    @property
    def python(self) -> Path:
        return self.root / "venv" / "bin" / "python"

    def resolution(self) -> dict[str, dict]:
        """pip's report of the image's resolution: canonical name -> the item's metadata."""
        report = json.loads((self.root / "resolution.json").read_text())
        return {canonicalize_name(item["metadata"]["name"]): item["metadata"] for item in report["install"]}

    def pip_check(self) -> str:
        """`pip check`'s output on this worker, kept beside it (it takes seconds and the worker does not change)."""
        kept = self.root / "pip-check.txt"
        if not kept.exists():
            kept.write_text(self.pip("check", check=False).stdout)
        return kept.read_text()

    def pip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(self.python), "-m", "pip", "--disable-pip-version-check", *args]
        return subprocess.run(command, capture_output=True, text=True, check=check, timeout=1800)


def _key() -> str:
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    text = f"{REQUIREMENTS.read_text()}\nbeam {dockerfile_arg('BEAM_VERSION')}\npython {here}\n{FROM_VLLM}\n"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _requires(metadata: dict, extras: set[str]) -> list[Requirement]:
    found = []
    here = default_environment()
    for text in metadata.get("requires_dist") or []:
        req = Requirement(text)
        if req.marker is None or any(req.marker.evaluate({**here, "extra": e}) for e in extras or {""}):
            found.append(req)
    return found


def closure(resolved: dict[str, dict], roots: list[Requirement]) -> set[str]:
    """The names of every resolved distribution ``roots`` need (extras followed)."""
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(canonicalize_name(r.name), frozenset(r.extras)) for r in roots if r.marker is None or r.marker.evaluate()]
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        for req in _requires(resolved[name], set(extras)):
            todo.append((canonicalize_name(req.name), frozenset(req.extras)))
    return {name for name, _ in seen}


def ensure() -> WorkerVenv:
    worker = WorkerVenv(gobuild.cache_root() / f"pipeline-worker-{_key()}")
    with gobuild.lock(worker.root.with_name(worker.root.name + ".lock")):
        if (worker.root / "complete").exists():
            return worker
        gobuild.stderr(f"building the pipeline worker's environment into {worker.root} (once)")
        shutil.rmtree(worker.root / "venv", ignore_errors=True)
        venv.create(worker.root / "venv", with_pip=True)
        if not (worker.root / "resolution.json").exists():  # minutes: pip reads the metadata of vLLM's tree
            partial = worker.root / "resolution.json.partial"
            worker.pip(
                "install",
                "--dry-run",
                "--ignore-installed",
                "--quiet",
                "--report",
                str(partial),
                "-r",
                str(REQUIREMENTS),
            )
            partial.rename(worker.root / "resolution.json")
        resolved = worker.resolution()
        roots = [r for r in requirement_lines() if canonicalize_name(r.name) != "vllm"]
        names = closure(resolved, [*roots, *(Requirement(name) for name in FROM_VLLM)])
        pins = sorted(f"{resolved[n]['name']}=={resolved[n]['version']}" for n in names)
        (worker.root / "pins.txt").write_text("\n".join(pins) + "\n")
        worker.pip("install", "--no-deps", "--quiet", "-r", str(worker.root / "pins.txt"))
        worker.pip("install", "--no-deps", "--quiet", f"apache-beam=={dockerfile_arg('BEAM_VERSION')}")
        (worker.root / "complete").write_text("")
    return worker
