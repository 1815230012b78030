"""`vllm-serving pipeline run`: batch and streaming inference as an Apache Beam pipeline.

    vllm-serving pipeline run --input 'requests*.jsonl' --output out/results \\
        --endpoint http://127.0.0.1:8000 --model google/gemma-2-9b-it --runner DirectRunner

Reads the batch Job's input (vLLM's OpenAI batch JSONL, or plain text, one prompt a line) and writes
``PREFIX-SSSSS-of-NNNNN.jsonl`` in vLLM's batch output format, one line per request, and
``PREFIX.dead-letter-SSSSS-of-NNNNN.jsonl`` for requests that failed for good and malformed lines.
With ``--streaming`` it reads Pub/Sub and writes Pub/Sub (``--output-topic``) or windowed files.
Other arguments are Beam pipeline options (``--project=P --region=R --temp_location=gs://...``).

apache_beam is imported only when a pipeline is built (``vllm_serving.pipeline.transforms``), so
`vllm-serving` and `--dry-run` start without it; without the extra the command says which to install.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from vllm_serving import extras
from vllm_serving.errors import UsageError
from vllm_serving.pipeline import dataflow
from vllm_serving.pipeline import plan as plan_mod
from vllm_serving.pipeline.client import MODES
from vllm_serving.pipeline.plan import Plan
from vllm_serving.pipeline.records import INPUT_FORMATS

RUNNERS = ("DirectRunner", "PrismRunner", "DataflowRunner")


def _number(kind: type, minimum: float):
    """An argparse type: a number of ``kind`` no smaller than ``minimum``."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole ' if kind is int else ''}number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} must be {minimum} or more")
        return value

    return parse


_positive_int = _number(int, 1)


def _non_negative(kind: type):
    return _number(kind, 0)


def _server_arg(text: str) -> tuple[str, str | None]:
    key, sep, value = text.partition("=")
    key = key.strip().removeprefix("--")
    if not key:
        raise argparse.ArgumentTypeError(f"{text!r}: give FLAG=VALUE (e.g. max-model-len=8192) or FLAG")
    return key, (value if sep else None)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse exits 2 by itself; route it through UsageError instead
        raise UsageError(f"{message}\n{self.format_usage().rstrip()}")


def build_parser() -> argparse.ArgumentParser:
    top = _Parser(prog="vllm-serving pipeline", description="Batch and streaming inference on Apache Beam.")
    sub = top.add_subparsers(dest="action", required=True, parser_class=_Parser)
    p = sub.add_parser(
        "run",
        help="run (or submit) the pipeline",
        description=__doc__.split("\n\n")[0],
        allow_abbrev=False,
        epilog="Arguments not listed here are passed to Beam as pipeline options.",
    )
    io_ = p.add_argument_group("input and output")
    io_.add_argument("--input", help="file pattern of input files (local path or gs://); batch mode")
    io_.add_argument("--output", help="output prefix: PREFIX-SSSSS-of-NNNNN.jsonl and PREFIX.dead-letter-*.jsonl")
    io_.add_argument("--input-format", choices=INPUT_FORMATS, default="auto", help="auto: .jsonl/.json is JSONL")
    io_.add_argument("--num-shards", type=_non_negative(int), default=0, help="output files; 0: the runner decides")
    serve = p.add_argument_group("where requests go")
    where = serve.add_mutually_exclusive_group(required=True)
    where.add_argument("--endpoint", help="base URL of a served release (its Service or gateway)")
    where.add_argument(
        "--vllm-in-worker", action="store_true", help="run vLLM in each worker (Beam's vLLM model handler)"
    )
    serve.add_argument("--model", help="model for bodies without one (required with --vllm-in-worker)")
    serve.add_argument("--max-tokens", type=_positive_int, help="max_tokens for chat requests without a limit")
    serve.add_argument("--concurrency", type=_positive_int, default=32, help="requests in flight per worker")
    serve.add_argument("--batch-size", type=_positive_int, help="elements per RunInference batch (16 x concurrency)")
    serve.add_argument("--mode", choices=MODES, default="continuous", help="fixed: groups of --concurrency")
    serve.add_argument("--max-retries", type=_non_negative(int), default=5, help="retries of 429, 5xx and I/O errors")
    serve.add_argument("--retry-backoff", type=_non_negative(float), default=0.5, help="first backoff, seconds")
    serve.add_argument("--timeout", type=_non_negative(float), default=600.0, help="seconds per request")
    serve.add_argument(
        "--api-key-env",
        default="VLLM_API_KEY",
        help="environment variable holding the API key (read where requests are sent; empty: none)",
    )
    serve.add_argument(
        "--api-key-secret",
        help="Secret Manager version holding the API key, read where requests are sent (Dataflow workers)",
    )
    serve.add_argument(
        "--hf-token-secret",
        help="Secret Manager version holding a Hugging Face token for gated models: each worker reads it and "
        "gives it to its vLLM server as HF_TOKEN (--vllm-in-worker)",
    )
    runner = p.add_argument_group("runner")
    runner.add_argument("--runner", choices=RUNNERS, default="DirectRunner")
    runner.add_argument(
        "--dry-run", action="store_true", help="print the submission command and Beam options; run nothing"
    )
    stream = p.add_argument_group("streaming (Pub/Sub)")
    stream.add_argument("--streaming", action="store_true", help="read Pub/Sub instead of files")
    stream.add_argument("--input-subscription", help="projects/P/subscriptions/S to read")
    stream.add_argument("--input-topic", help="projects/P/topics/T to read (a temporary subscription)")
    stream.add_argument("--output-topic", help="projects/P/topics/T to write results to (else files at --output)")
    stream.add_argument(
        "--dead-letter-topic", help="projects/P/topics/T for the dead-letter output (with --output-topic)"
    )
    stream.add_argument(
        "--window-seconds",
        type=_positive_int,
        default=60,
        help="window of the output files and longest a request waits for its batch, seconds",
    )
    gpu = p.add_argument_group("vLLM in Dataflow workers (--vllm-in-worker)")
    gpu.add_argument(
        "--worker-image",
        default="",
        help="the worker image built from pipeline/worker.Dockerfile (with --endpoint: instead of --setup_file)",
    )
    gpu.add_argument("--accelerator", default="nvidia-l4", help="Dataflow GPU type")
    gpu.add_argument("--gpus-per-worker", type=_positive_int, default=1, help="GPUs per worker (vLLM tensor size)")
    gpu.add_argument("--machine-type", help="worker machine type (default: the one that carries the GPUs)")
    gpu.add_argument("--image-python", default="3.12", help="Python minor version in the worker image")
    gpu.add_argument(
        "--vllm-arg",
        type=_server_arg,
        action="append",
        default=[],
        metavar="FLAG=VALUE",
        help="a `vllm serve` flag for the worker's server (repeatable), e.g. max-model-len=8192",
    )
    return top


def plan(argv: Sequence[str]) -> Plan:
    """The command line, parsed (what Beam's options are left over) and checked."""
    args, beam_args = build_parser().parse_known_args(list(argv))
    return plan_mod.plan_from(args, beam_args)


def main(argv: Sequence[str]) -> int:
    argv = list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        build_parser().print_help()
        return 0 if argv else 2
    p = plan(argv)
    if p.args.dry_run:
        print("# submission command:")
        print(dataflow.submission_command(plan_mod.submission_argv(argv, p)))
        print("# Beam pipeline options:")
        for flag in plan_mod.beam_options(p):
            print(f"  {flag}")
        if p.args.vllm_in_worker:
            print(f"# vLLM server in each worker: {p.args.model} {_describe_kwargs(p.server_kwargs)}")
            if p.args.runner == "DataflowRunner":
                note = dataflow.python_version_note(p.args.image_python)
                if note:
                    print(note)
        return 0
    # the part of an extra each option uses: --vllm-in-worker on the DirectRunner needs openai alone
    extras.require("pipeline", "pipeline")
    if p.args.runner == "DataflowRunner":
        extras.require("dataflow", "pipeline --runner DataflowRunner", ("apitools",))
    if p.args.streaming:
        extras.require("dataflow", "pipeline --streaming (Pub/Sub)", ("google.cloud.pubsub",))
    for flag in ("api_key_secret", "hf_token_secret"):
        if getattr(p.args, flag) and _workers_here(p):  # the workers read the secret, not the launcher
            extras.require("dataflow", f"pipeline --{flag.replace('_', '-')}", ("google.cloud.secretmanager",))
    if p.args.vllm_in_worker:
        extras.require("dataflow", "pipeline --vllm-in-worker (Beam's vLLM model handler)", ("openai",))
    if p.args.runner == "PrismRunner":
        from vllm_serving.pipeline import prism

        prism.tool().ensure()
    from vllm_serving.pipeline import run

    return run.run(p, plan_mod.beam_options(p))


def _workers_here(p: Plan) -> bool:
    """Whether the SDK workers run in this process (Beam's in-process runners, Prism's default LOOPBACK)."""
    environment = [f.split("=", 1)[1] for f in p.beam_args if f.startswith("--environment_type=")]
    return p.args.runner != "DataflowRunner" and environment in ([], ["LOOPBACK"])


def _describe_kwargs(kwargs: dict[str, str | None]) -> str:
    return " ".join(f"--{k}" if v is None else f"--{k} {v}" for k, v in kwargs.items())
