"""Runs inside the vLLM parser environment: check argv lists with vLLM's own `vllm serve` parser.

This file is executed by the parser environment's interpreter (see ``vllm_parser.py``), not
imported by ``vllm_serving``: it may use only the standard library and vLLM.

Protocol: one JSON object per line on stdin, each answered by one line of JSON on stdout, until stdin
closes (vLLM is imported once, so a test session pays for the import once).

- ``{"argvs": [[...], ...], "command": "serve"}`` -> ``{"vllm_version": "...", "results": [{"ok": bool,
  "error": str}, ...]}``; each argv is what follows ``vllm serve`` on the command line (``MODEL --flag
  value ...``), or ``vllm run-batch`` with ``"command": "run-batch"`` (``-i IN -o OUT --model M ...``).
- ``{"help": true}`` -> ``{"vllm_version": "...", "help": "<vllm serve --help=all>"}``.
- ``{"cache_paths": [{VAR: value}, ...]}`` -> ``{"vllm_version": "...", "cache_paths": [{"cache_root": ...,
  "startup_plan": ..., "startup_plan_enabled": bool, "compile_cache_disabled": bool}, ...]}``: where vLLM puts
  its caches under each environment (vllm/envs.py's own readers, vllm/v1/worker/startup_plan.py's path).
- ``{"parse": [[...], ...], "dests": [...]}`` -> ``{"vllm_version": "...", "parsed": [{"values": {dest: value}}
  or {"error": str}, ...]}``: what `vllm serve` as shipped (abbreviations allowed) reads from each argv.
- ``{"kv": [{"config": {...}, "tensor": N}, ...]}`` -> ``{"vllm_version": "...", "kv": [{"layers": [...], ...}]}``:
  how vLLM lays out the KV cache of a config.json (see ``kv_layout``).

Everything vLLM, torch or a C library prints goes to stderr, so stdout carries only the answer.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from typing import Any

# Set before vLLM is imported: vLLM reads its environment at import time.
os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")  # no GPU here; pick the CPU platform
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")


def _take_stdout() -> io.TextIOWrapper:
    """Return a private handle on the real stdout and point fd 1 at stderr.

    vLLM's logger writes to stdout by default, and native code can write to fd 1 directly.
    """
    sys.stdout.flush()
    answer = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    return answer


def _error_text(captured: str) -> str:
    """The parser's own message: from its ``PROG: error: ...`` line on, without the usage block."""
    lines = captured.splitlines()
    for index, line in enumerate(lines):
        if ": error: " in line:
            return "\n".join([line.split(": error: ", 1)[1], *lines[index + 1 :]]).strip()
    return captured.strip()


def _serve_parser(allow_abbrev: bool = False) -> Any:
    """Build the parser exactly as `vllm serve` does (vllm/entrypoints/cli/main.py + serve.py), except
    that abbreviated long options are refused (argparse accepts unique prefixes) unless allow_abbrev."""
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    try:
        from vllm.entrypoints.common.cli_args import make_arg_parser
    except ImportError:  # vLLM releases before the entrypoints/common split
        from vllm.entrypoints.openai.cli_args import make_arg_parser  # type: ignore[no-redef]

    top = FlexibleArgumentParser(prog="vllm", description="vLLM CLI", allow_abbrev=allow_abbrev)
    subparsers = top.add_subparsers(required=False, dest="subparser")
    serve = subparsers.add_parser("serve", usage="vllm serve [model_tag] [options]", allow_abbrev=allow_abbrev)
    make_arg_parser(serve)
    return top


def _run_batch_parser() -> Any:
    """The parser of `vllm run-batch` (vllm/entrypoints/cli/run_batch.py), abbreviations refused."""
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    try:
        from vllm.entrypoints.launchers.run_batch import make_arg_parser
    except ImportError:  # releases before the launchers split
        from vllm.entrypoints.openai.run_batch import make_arg_parser  # type: ignore[no-redef]

    top = FlexibleArgumentParser(prog="vllm", description="vLLM CLI", allow_abbrev=False)
    subparsers = top.add_subparsers(required=False, dest="subparser")
    make_arg_parser(subparsers.add_parser("run-batch", allow_abbrev=False))
    return top


def _validate() -> Any:
    try:
        from vllm.entrypoints.common.cli_args import validate_parsed_serve_args
    except ImportError:
        from vllm.entrypoints.openai.cli_args import validate_parsed_serve_args  # type: ignore[no-redef]
    return validate_parsed_serve_args


def _select_cpu_platform() -> None:
    """Older vLLM releases ignore VLLM_TARGET_DEVICE when resolving the platform: set it explicitly."""
    from vllm import platforms

    if platforms.current_platform.is_unspecified():
        from vllm.platforms.cpu import CpuPlatform

        platforms.current_platform = CpuPlatform()


def check(argv: list[str], command: str = "serve") -> dict[str, Any]:
    """Parse one argv as `vllm COMMAND ARGV...` would, then (serve) run vLLM's serve-argument checks."""
    captured = io.StringIO()
    # A fresh parser per argv: argparse actions and vLLM's parser keep state between parses.
    parser = _serve_parser() if command == "serve" else _run_batch_parser()
    try:
        with contextlib.redirect_stderr(captured), contextlib.redirect_stdout(captured):
            args = parser.parse_args([command, *argv])
    except SystemExit as exc:
        if exc.code == 0:  # --help or --version: the parser printed and stopped
            return {"ok": False, "error": "the parser stopped without parsing (help or version requested)"}
        return {"ok": False, "error": _error_text(captured.getvalue())}
    except ImportError:  # an incomplete environment is not a verdict on the argv
        raise
    except Exception as exc:  # FlexibleArgumentParser raises ValueError for some shapes
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    if command != "serve":
        return {"ok": True, "error": ""}
    try:
        _validate()(args)
    except ImportError:
        raise
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"ok": True, "error": ""}


def parsed(argv: list[str], dests: list[str]) -> dict[str, Any]:
    """What the real `vllm serve` parser (abbreviations allowed, as vLLM ships it) reads from one argv:
    the values of `dests`, or the parser's error."""
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured), contextlib.redirect_stdout(captured):
            args = _serve_parser(allow_abbrev=True).parse_args(["serve", *argv])
    except SystemExit:
        return {"error": _error_text(captured.getvalue())}
    return {"values": {dest: getattr(args, dest, None) for dest in dests}}


def serve_help() -> str:
    captured = io.StringIO()
    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(captured):
        _serve_parser().parse_args(["serve", "--help=all"])
    return captured.getvalue()


def kv_layout(config: dict[str, Any], tensor: int) -> dict[str, Any]:
    """vLLM's view of a model's KV cache per GPU: the config as transformers reads it, vLLM's
    ModelArchitectureConfig convertor (head size, KV heads, MLA), and per layer the KVCacheSpec vLLM
    builds (full, sliding-window or MLA attention) with its page size for one 16-token block."""
    import torch
    import vllm.config  # noqa: F401  (first: the convertor module and vllm.config import each other)
    from transformers import AutoConfig
    from vllm.transformers_utils.model_arch_config_convertor import (
        MODEL_ARCH_CONFIG_CONVERTORS,
        ModelArchConfigConvertorBase,
    )
    from vllm.v1.kv_cache_interface import FullAttentionSpec, MLAAttentionSpec, SlidingWindowSpec

    fields = {key: value for key, value in config.items() if key != "model_type"}
    hf_config = AutoConfig.for_model(config["model_type"], **fields)
    text = hf_config.get_text_config()
    convertor = MODEL_ARCH_CONFIG_CONVERTORS.get(hf_config.model_type, ModelArchConfigConvertorBase)
    arch = convertor(hf_config, text).convert()
    # ModelConfig.get_num_kv_heads: one latent "head" under MLA, else the KV heads split over the GPUs
    kv_heads = 1 if arch.is_deepseek_mla else max(1, arch.total_num_kv_heads // tensor)
    kinds = getattr(text, "layer_types", None) or ["full_attention"] * arch.total_num_hidden_layers
    window = getattr(text, "sliding_window", None)
    block = 16
    layers = []
    for kind in kinds:
        common = {"block_size": block, "num_kv_heads": kv_heads, "head_size": arch.head_size, "dtype": torch.bfloat16}
        if arch.is_deepseek_mla:
            spec = MLAAttentionSpec(**common)
        elif kind == "sliding_attention" and window:
            spec = SlidingWindowSpec(**common, sliding_window=window)
        else:
            spec = FullAttentionSpec(**common)
        layers.append({"kind": type(spec).__name__, "bytes_per_token": spec.page_size_bytes // block, "window": window})
    return {
        "head_size": arch.head_size,
        "total_num_kv_heads": arch.total_num_kv_heads,
        "is_deepseek_mla": arch.is_deepseek_mla,
        "num_experts": arch.num_experts,
        "num_experts_per_token": arch.num_experts_per_token,
        "layers": layers,
    }


def sliding_window_admission(item: dict[str, Any]) -> dict[str, int]:
    """What vLLM admits per request in a sliding-window layer: its tokens in flight (VllmConfig.max_in_flight_tokens
    from max_concurrent_batches, with async scheduling on and the V2 model runner, the defaults __post_init__ and
    use_v2_model_runner settle on for a CUDA generation model) and the 16-token blocks SlidingWindowSpec keeps."""
    from types import SimpleNamespace

    import torch
    from vllm.config import VllmConfig
    from vllm.v1.kv_cache_interface import SlidingWindowSpec

    batches = VllmConfig.max_concurrent_batches.fget(
        SimpleNamespace(
            parallel_config=SimpleNamespace(pipeline_parallel_size=item["pipeline"]),
            scheduler_config=SimpleNamespace(async_scheduling=True),
            use_v2_model_runner=True,
        )
    )
    in_flight = VllmConfig.max_in_flight_tokens.fget(
        SimpleNamespace(
            max_concurrent_batches=batches,
            scheduler_config=SimpleNamespace(max_num_batched_tokens=item["max_num_batched_tokens"]),
        )
    )
    spec = SlidingWindowSpec(
        block_size=16, num_kv_heads=1, head_size=64, dtype=torch.bfloat16, sliding_window=item["window"]
    )
    blocks = spec.max_admission_blocks_per_request(max_in_flight_tokens=in_flight, max_model_len=item["max_model_len"])
    return {"in_flight": in_flight, "blocks": blocks}


def cache_paths(environment: dict[str, str]) -> dict[str, Any]:
    """vLLM's cache locations under `environment` (a container's env), read by vLLM's own functions."""
    import vllm.envs as envs
    from vllm.v1.worker import startup_plan

    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    try:
        readers = envs.environment_variables
        return {
            "cache_root": readers["VLLM_CACHE_ROOT"](),
            # the torch.compile cache sits under the root (vllm/compilation/backends.py, decorators.py)
            "startup_plan": startup_plan._plan_path("0" * 16),
            "startup_plan_enabled": bool(readers["VLLM_ENABLE_STARTUP_PLAN"]()),
            "compile_cache_disabled": bool(envs.disable_compile_cache()),
        }
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def answer(request: dict[str, Any], version: str) -> dict[str, Any]:
    reply: dict[str, Any] = {"vllm_version": version}
    if request.get("help"):
        reply["help"] = serve_help()
    elif "kv" in request:
        reply["kv"] = [kv_layout(item["config"], item["tensor"]) for item in request["kv"]]
    elif "sliding" in request:
        reply["sliding"] = [sliding_window_admission(item) for item in request["sliding"]]
    elif "cache_paths" in request:
        reply["cache_paths"] = [cache_paths(environment) for environment in request["cache_paths"]]
    elif "parse" in request:
        reply["parsed"] = [parsed([str(arg) for arg in argv], request["dests"]) for argv in request["parse"]]
    else:
        command = request.get("command", "serve")
        reply["results"] = [check([str(arg) for arg in argv], command) for argv in request["argvs"]]
    return reply


def main() -> int:
    answer_stream = _take_stdout()
    import vllm

    _select_cpu_platform()
    for line in sys.stdin:
        if line.strip():
            answer_stream.write(json.dumps(answer(json.loads(line), vllm.__version__)) + "\n")
            answer_stream.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
