"""Check `vllm serve` argv lists with vLLM's own argument parser, of exactly the pinned release.

vLLM's flags are generated at run time from its config dataclasses and change every release,
so the only faithful check is vLLM's parser itself. It needs torch and vLLM importable, which
this module provides offline on a machine without a GPU: a separate virtual environment, built
once per vLLM version under ``${VLLM_SERVING_CACHE:-${XDG_CACHE_HOME:-~/.cache}/vllm-serving}``,
with every distribution installed ``--no-deps`` from an exact lock (``_LOCKS``). A child
process (``_vllm_parser_child.py``) builds the parser there with vLLM's ``make_arg_parser`` and
``FlexibleArgumentParser`` exactly as ``vllm serve`` does, refusing abbreviated long options,
and runs ``validate_parsed_serve_args``.

Only PyPI is needed: PyPI has no CPU-only torch for Linux x86_64, so the lock carries the CUDA
libraries the PyPI torch wheel links against; they load without a GPU and torch runs on CPU.

Adding a vLLM release to ``_LOCKS``: install ``vllm==X`` and the ``torch==`` it requires with
``--no-deps`` into a scratch venv; add the ``nvidia-*`` wheels torch's metadata names for each
``DT_NEEDED`` library of ``torch/lib/*.so`` (``readelf -d``); then run ``_vllm_parser_child.py``,
add the distribution of each missing import until it answers, pinning to the versions vLLM's
and torch's metadata allow (``pip check`` shows the conflicts).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from vllm_serving import gobuild
from vllm_serving.errors import InvalidValues, ToolMissing, UsageError

CHILD = Path(__file__).with_name("_vllm_parser_child.py")
MARKER = "vllm-serving-parser.json"

# The parser environment of each vLLM release, installed with `pip install --no-deps`: exact pins,
# so every machine builds the same environment and nothing outside this list is ever installed.
_LOCKS: dict[str, tuple[str, ...]] = {
    "0.33.0": (
        # vLLM and the torch its metadata pins.
        "vllm==0.33.0",
        "torch==2.14.0",
        # The shared libraries torch 2.14.0's binaries link against (DT_NEEDED), at the versions its
        # metadata pins (cuda-toolkit==13.0.3 extras). Loading them needs no GPU. Left out on purpose:
        # triton, cusolver, nvtx and cuda-bindings, which torch loads only when it uses a GPU.
        "nvidia-cuda-runtime==13.0.96",
        "nvidia-cublas==13.1.1.3",
        "nvidia-cuda-cupti==13.0.85",
        "nvidia-cuda-nvrtc==13.0.88",
        "nvidia-cufft==12.0.0.61",
        "nvidia-cufile==1.15.1.6",
        "nvidia-curand==10.4.0.35",
        "nvidia-cusparse==12.6.3.3",
        "nvidia-nvjitlink==13.0.88",
        "nvidia-cudnn-cu13==9.24.0.43",
        "nvidia-cusparselt-cu13==0.8.1",
        "nvidia-nccl-cu13==2.30.7",
        "nvidia-nvshmem-cu13==3.4.5",
        # The Python dependencies of torch that importing it needs.
        "filelock==4.2.11",
        "mpmath==1.3.0",
        "networkx==3.6.1",
        "sympy==1.14.0",
        "typing-extensions==4.16.0",
        # The structured-output (grammar) packages vLLM's config and request modules import.
        "xgrammar==0.2.8",
        "apache-tvm-ffi==0.1.11",
        "llguidance==1.7.6",
        # Everything else the parser's imports demand. vLLM 0.33.0 asks for certifi>=2026.10.19,
        # which PyPI does not have; requests only needs a CA bundle from it.
        "aiohappyeyeballs==2.7.1",
        "aiohttp==3.14.5",
        "aiosignal==1.4.0",
        "annotated-doc==0.0.7",
        "annotated-types==0.8.0",
        "anyio==4.16.0",
        "attrs==26.1.0",
        "cachetools==8.0.0",
        "cbor2==6.2.1",
        "certifi==2026.10.18",
        "click==8.5.1",
        "cloudpickle==3.1.2",
        "fastapi==0.136.3",
        "frozenlist==1.8.0",
        "h11==0.16.0",
        "httpcore2==2.16.2",
        "httpx2==2.16.2",
        "huggingface-hub==2.4.0",
        "idna==3.20",
        "msgspec==0.22.0",
        "multidict==7.2.1",
        "numpy==2.4.6",
        "orjson==3.13.0",  # vllm run-batch imports it
        "openai==3.52.0",
        "oss-harmony==0.0.11",
        "packaging==26.3",
        "partial-json-parser==0.2.1.1.post7",
        "pillow==13.0.0",
        "prometheus-client==0.26.0",
        "propcache==0.5.4",
        "psutil==7.2.2",
        "py-cpuinfo==9.0.0",
        "pybase64==1.5.1",
        "pydantic==2.14.3",
        "pydantic-core==2.50.4",
        "pyyaml==6.0.3",
        "pyzmq==27.3.0",
        "regex==2026.11.15",
        "requests==2.34.2",
        "safetensors==0.8.0",
        "sniffio==1.3.1",
        "starlette==1.10.0",
        "tokenizers==0.23.3",
        "tqdm==4.70.1",
        "transformers==5.20.2",
        "truststore==0.10.5",
        "typing-inspection==0.4.5",
        "urllib3==2.8.0",
        "uvicorn==0.54.0",
        "uvloop==0.23.0",
        "watchfiles==1.3.0",
        "yarl==1.25.1",
    ),
}

# vLLM reads these at import time: run on the CPU platform, never reach the network.
_CHILD_ENV = {
    "VLLM_TARGET_DEVICE": "cpu",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
}

# The smoke check of a fresh environment: vLLM's parser must accept the first and refuse the second.
_SMOKE_ARGVS = (["facebook/opt-125m", "--max-model-len", "2048"], ["facebook/opt-125m", "--no-such-flag"])


@dataclass(frozen=True)
class ArgvResult:
    """What vLLM's parser said about one argv (what follows `vllm serve`)."""

    argv: list[str]
    ok: bool
    error: str  # the parser's or validator's message when rejected, else ""


def pinned_vllm_version(chart_dir: Path) -> str:
    """The vLLM release the chart's image pins: `image.tag: vX.Y.Z` in values.yaml -> "X.Y.Z"."""
    values_file = Path(chart_dir) / "values.yaml"
    try:
        values = yaml.safe_load(values_file.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise UsageError(f"{values_file}: cannot read the chart's values: {err}") from err
    image = values.get("image") if isinstance(values, dict) else None
    tag = image.get("tag") if isinstance(image, dict) else None
    match = re.fullmatch(r"v(\d+\.\d+\.\d+)", tag) if isinstance(tag, str) else None
    if not match:
        raise InvalidValues(
            [f"image.tag: {tag!r} in {values_file} is not a vLLM release tag; pin one as vX.Y.Z, e.g. v0.33.0"]
        )
    return match.group(1)


def _requirements(version: str) -> tuple[str, ...]:
    try:
        return _LOCKS[version]
    except KeyError:
        raise ToolMissing(
            f"no parser environment is defined for vLLM {version} (known: {', '.join(sorted(_LOCKS))}); "
            "add its lock to _LOCKS in vllm_serving/vllm_parser.py (its docstring says how)"
        ) from None


def _stamp(version: str) -> dict[str, object]:
    """What the marker records; an environment whose marker differs is rebuilt."""
    return {
        "vllm_version": version,
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "requirements": list(_requirements(version)),
    }


def _is_built(env: Path, version: str) -> bool:
    try:
        return json.loads((env / MARKER).read_text()) == _stamp(version)
    except (OSError, ValueError):
        return False


def _progress(message: str) -> None:
    gobuild.build_progress(f"vllm-parser: {message}")  # the same sink as the Go builds (past pytest's capture)


def _stderr_fd() -> int | None:
    """Where child build tools may print progress: our stderr when it is a real file, else inherited."""
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def parser_env(version: str, cache_dir: Path | None = None) -> Path:
    """The virtual environment holding vLLM `version`'s parser; built on first use, then reused.

    It is built in a temporary directory beside its final place and renamed there only after
    a smoke check passed, with a marker inside, so an interrupted build is never mistaken for one.
    """
    root = Path(cache_dir) if cache_dir is not None else gobuild.cache_root()
    env = root / f"vllm-parser-{version}"
    requirements = _requirements(version)
    if _is_built(env, version):
        return env
    root.mkdir(parents=True, exist_ok=True)
    with gobuild.lock(root / f"vllm-parser-{version}.lock"):  # one builder; the others wait
        if _is_built(env, version):  # another process built it while we waited
            return env
        for stale in root.glob(f".vllm-parser-{version}-*"):  # left by a killed build; we hold the lock
            shutil.rmtree(stale, ignore_errors=True)
        started = time.monotonic()
        _progress(f"building vLLM {version}'s parser environment in {env} (once; a few GB)")
        staging = Path(tempfile.mkdtemp(prefix=f".vllm-parser-{version}-", dir=root))
        staging.chmod(0o755)  # mkdtemp's 0700 would stay on the final directory
        try:
            _build(staging, requirements, root / f"vllm-parser-{version}.wheels")
            _progress("smoke-checking vLLM's parser")
            _smoke_check(staging, version)
            (staging / MARKER).write_text(json.dumps(_stamp(version), indent=2) + "\n")
            if env.exists():  # a stale environment (older lock, other Python): replace it
                shutil.rmtree(env)
            staging.rename(env)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        _progress(f"built in {time.monotonic() - started:.0f} s")
    return env


def _python(env: Path) -> Path:
    return env / "bin" / "python"


def _build(staging: Path, requirements: Sequence[str], wheelhouse: Path) -> None:
    # A venv of the interpreter running this code (its minor version is in the marker: a new one rebuilds).
    _run([sys.executable, "-m", "venv", str(staging)], "creating the virtual environment")
    requirements_file = staging / "vllm-serving-requirements.txt"
    requirements_file.write_text("\n".join(requirements) + "\n")
    pip = [str(_python(staging)), "-m", "pip"]
    common = ["--quiet", "--no-input", "--disable-pip-version-check", "--progress-bar=off", "--no-deps"]
    lock = ["--requirement", str(requirements_file)]
    # Wheels are kept in a wheelhouse of our own rather than left to pip's HTTP cache, which stores
    # nothing when a registry proxy drops the caching headers. A rebuild finds them all there and
    # needs no network. --no-deps throughout: the lock is complete, and torch's and vLLM's declared
    # dependencies would drag in GPU-only wheels.
    wheelhouse.mkdir(parents=True, exist_ok=True)
    local = ["--only-binary=:all:", "--find-links", str(wheelhouse), "--dest", str(wheelhouse)]
    if subprocess.run([*pip, "download", *common, *local, "--no-index", *lock], capture_output=True).returncode:
        _progress(f"downloading {len(requirements)} pinned wheels into {wheelhouse} (kept for rebuilds)")
        _run([*pip, "download", *common, *local, *lock], "downloading vLLM and its parser's dependencies")
    _progress(f"installing {len(requirements)} pinned distributions from {wheelhouse}")
    _run(
        # --no-compile: byte-compiling all of torch and vLLM takes longer than the smoke check's
        # compiling of the few modules the parser imports.
        [*pip, "install", *common, "--no-compile", "--no-index", "--find-links", str(wheelhouse), *lock],
        "installing vLLM and its parser's dependencies",
    )


def _run(command: list[str], what: str) -> None:
    fd = _stderr_fd()
    try:
        subprocess.run(command, check=True, stdin=subprocess.DEVNULL, stdout=fd, stderr=fd)
    except (OSError, subprocess.CalledProcessError) as err:
        raise ToolMissing(f"building the vLLM parser environment failed while {what}: {err}") from err


def _smoke_check(env: Path, version: str) -> None:
    request = {"argvs": [list(argv) for argv in _SMOKE_ARGVS]}
    accepted, rejected = _ask(env, version, request, keep=False)["results"]
    if not accepted["ok"] or rejected["ok"]:
        raise ToolMissing(
            f"vLLM {version}'s parser failed its smoke check: accepted {_SMOKE_ARGVS[0]}: {accepted['ok']} "
            f"({accepted['error']}); accepted {_SMOKE_ARGVS[1]}: {rejected['ok']}"
        )


class _Child:
    """The parser child of one environment, kept running: importing vLLM and torch costs tens of seconds,
    and a test session asks many times. It is stopped when this interpreter exits."""

    def __init__(self, env: Path, version: str) -> None:
        self.env, self.version, self.lock = env, version, threading.Lock()
        # vLLM's logs, read only to explain a failure; open as long as the child runs
        self.log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115
        try:
            self.process = subprocess.Popen(
                [str(_python(env)), "-I", str(CHILD)],  # -I: only the environment's packages, no PYTHONPATH
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self.log,
                text=True,
                env={**os.environ, **_CHILD_ENV},
            )
        except OSError as err:
            raise ToolMissing(f"vLLM {version}'s parser could not run in {env}: {err}") from err

    def ask(self, request: dict[str, object]) -> dict[str, object]:
        with self.lock:
            try:
                self.process.stdin.write(json.dumps(request) + "\n")
                self.process.stdin.flush()
                ready, _, _ = select.select([self.process.stdout], [], [], _ANSWER_TIMEOUT)
                line = self.process.stdout.readline() if ready else ""
            except OSError:
                line = ""
            if not line:
                self.stop()
                raise ToolMissing(
                    f"vLLM {self.version}'s parser failed in {self.env} (exit {self.process.returncode}); delete "
                    f"that directory to rebuild it if it is damaged. Its last output:\n{self._tail()}"
                )
        try:
            answer = json.loads(line)
        except ValueError as err:
            raise ToolMissing(
                f"vLLM {self.version}'s parser answered no JSON ({err}); its last output:\n{self._tail()}"
            ) from err
        if answer.get("vllm_version") != self.version:
            raise ToolMissing(
                f"the parser environment {self.env} holds vLLM {answer.get('vllm_version')}, not {self.version}"
            )
        return answer

    def _tail(self) -> str:
        self.log.seek(0)
        return "\n".join(self.log.read().splitlines()[-30:])

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


_ANSWER_TIMEOUT = 1800  # seconds: the first answer waits for vLLM's import on a loaded machine
_children: dict[Path, _Child] = {}
_children_lock = threading.Lock()


@atexit.register
def _stop_children() -> None:
    for child in _children.values():
        child.stop()


def _ask(env: Path, version: str, request: dict[str, object], *, keep: bool = True) -> dict[str, object]:
    """Ask the parser child in `env` one JSON request; return its JSON answer. The child stays running for
    the next request unless keep is False (the smoke check of an environment about to be moved)."""
    if not keep:
        child = _Child(env, version)
        try:
            return child.ask(request)
        finally:
            child.stop()
    with _children_lock:
        child = _children.get(env)
        if child is None or child.process.poll() is not None:
            child = _children[env] = _Child(env, version)
    return child.ask(request)


def check_argvs(
    version: str, argvs: Sequence[Sequence[str]], cache_dir: Path | None = None, command: str = "serve"
) -> list[ArgvResult]:
    """Check each argv (what follows `vllm serve`: `MODEL --flag value ...`, or `vllm run-batch` with
    command="run-batch") with vLLM `version`'s parser.

    All argvs are checked in one child process (importing vLLM costs seconds).
    """
    lists = [[str(arg) for arg in argv] for argv in argvs]
    if not lists:
        return []
    env = parser_env(version, cache_dir)
    results = _ask(env, version, {"argvs": lists, "command": command})["results"]
    if not isinstance(results, list) or len(results) != len(lists):
        raise ToolMissing(f"vLLM {version}'s parser answered {results!r} for {len(lists)} argvs")
    return [
        ArgvResult(argv=argv, ok=bool(r["ok"]), error=str(r["error"])) for argv, r in zip(lists, results, strict=True)
    ]


def parse_argvs(
    version: str, argvs: Sequence[Sequence[str]], dests: Sequence[str], cache_dir: Path | None = None
) -> list[dict[str, object]]:
    """What vLLM `version`'s `vllm serve` parser, as shipped (unique prefixes of long flags allowed), reads
    from each argv: {"values": {dest: value}} or {"error": message}."""
    request = {"parse": [[str(arg) for arg in argv] for argv in argvs], "dests": list(dests)}
    return list(_ask(parser_env(version, cache_dir), version, request)["parsed"])


def kv_layouts(configs: Sequence[tuple[dict[str, object], int]], version: str) -> list[dict[str, object]]:
    """vLLM's KV cache layout per GPU of each (config.json, tensor size): see _vllm_parser_child.kv_layout."""
    request = {"kv": [{"config": config, "tensor": tensor} for config, tensor in configs]}
    return _ask(parser_env(version), version, request)["kv"]


def sliding_window_admission(items: Sequence[dict[str, int]], version: str) -> list[dict[str, int]]:
    """vLLM's tokens in flight and the blocks a sliding-window layer keeps per request, for each {window,
    max_model_len, max_num_batched_tokens, pipeline}: see _vllm_parser_child.sliding_window_admission."""
    return _ask(parser_env(version), version, {"sliding": [dict(item) for item in items]})["sliding"]


def cache_paths(
    version: str, environments: Sequence[dict[str, str]], cache_dir: Path | None = None
) -> list[dict[str, object]]:
    """Where vLLM `version` puts its caches under each environment (a container's env): its cache root,
    the startup plan's file, and whether the startup plan and the compile cache are on, read by vLLM's own code."""
    request = {"cache_paths": [dict(environment) for environment in environments]}
    return list(_ask(parser_env(version, cache_dir), version, request)["cache_paths"])


def serve_help(version: str, cache_dir: Path | None = None) -> str:
    """vLLM `version`'s own `vllm serve --help=all`, for reading which flags and choices exist."""
    return str(_ask(parser_env(version, cache_dir), version, {"help": True})["help"])
