"""Runs in the cached vLLM parser environment (not imported by the tests): vLLM's own batch models judge lines.

Reads {"inputs": [line, ...], "outputs": [line, ...], "argvs": [[arg, ...], ...]} on stdin; answers on
stdout with, per input line, whether vLLM 0.33.0's ``BatchRequestInput.model_validate_json`` (what
`vllm run-batch` does to every line before it runs any) accepts it, per output line whether
``BatchRequestOutput.model_validate_json`` accepts it, and per argv whether the parser of
``python -m vllm.entrypoints.openai.api_server`` accepts it (the error text when not). That parser is
built as vllm/entrypoints/launchers/api_server/entry.py ``main`` builds it: ``make_arg_parser`` on a
``FlexibleArgumentParser``, then ``validate_parsed_serve_args``. Standard library and vLLM only.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")


def verdict(model, line: str) -> dict:
    try:
        model.model_validate_json(line)
    except Exception as exc:  # pydantic.ValidationError or ValueError: the line is refused
        return {"ok": False, "error": str(exc).splitlines()[0]}
    return {"ok": True, "error": ""}


def api_server_verdict(argv: list[str]) -> dict:
    import contextlib
    import io

    from vllm.entrypoints.common.cli_args import make_arg_parser, validate_parsed_serve_args
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            args = make_arg_parser(FlexibleArgumentParser(prog="api_server")).parse_args(argv)
        validate_parsed_serve_args(args)
    except SystemExit:
        return {"ok": False, "error": captured.getvalue().strip().splitlines()[-1]}
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"ok": True, "error": ""}


def main() -> int:
    answer = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # vLLM logs to stdout: keep the answer alone there
    request = json.load(sys.stdin)
    from vllm.entrypoints.launchers.run_batch import BatchRequestInput, BatchRequestOutput

    json.dump(
        {
            "inputs": [verdict(BatchRequestInput, line) for line in request["inputs"]],
            "outputs": [verdict(BatchRequestOutput, line) for line in request["outputs"]],
            "argvs": [api_server_verdict(argv) for argv in request.get("argvs", [])],
        },
        answer,
    )
    answer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
