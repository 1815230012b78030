"""`vllm-serving check-args -- MODEL [VLLM-FLAGS...]`: a `vllm serve` argv checked by the pinned vLLM release's
own parser (vllm_serving.vllm_parser runs it)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from vllm_serving import cli_options, vllm_parser
from vllm_serving.chart import chart_dir
from vllm_serving.errors import UsageError


def arg_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vllm-serving check-args",
        description="Check a `vllm serve` argv with vLLM's own parser, of the release the chart pins.",
        epilog="Example: vllm-serving check-args -- google/gemma-2-9b-it --max-model-len 8192 --port 8000",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--vllm-version", metavar="X.Y.Z", help="vLLM release (default: the chart's image.tag)")
    cli_options.add_chart(source, help=f"{cli_options.CHART_HELP}; its image.tag pins the release")
    cli_options.add_output(parser)
    parser.add_argument("--show-help", action="store_true", help="print that vLLM's `vllm serve --help=all`")
    return parser


def main(argv: Sequence[str]) -> int:
    """`vllm-serving check-args [OPTIONS] -- MODEL [VLLM-FLAGS...]`: 0 when accepted, 1 when rejected."""
    argv = list(argv)
    ours, vllm_argv = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    options = arg_parser().parse_args(ours)
    version = options.vllm_version or vllm_parser.pinned_vllm_version(chart_dir(options.chart))
    if options.show_help:
        print(vllm_parser.serve_help(version))
        return 0
    if not vllm_argv:
        raise UsageError("give the argv to check after `--`, e.g. `check-args -- google/gemma-2-9b-it --port 8000`")
    (result,) = vllm_parser.check_argvs(version, [vllm_argv])
    if options.output == "json":
        print(
            cli_options.json_report(
                {"vllm_version": version, "argv": result.argv, "ok": result.ok, "error": result.error}
            )
        )
    elif result.ok:
        print(f"accepted by vLLM {version}: {' '.join(result.argv)}")
    else:
        print(f"rejected by vLLM {version}: {' '.join(result.argv)}\n  {result.error}")
    return 0 if result.ok else 1
