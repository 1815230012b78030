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
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from vllm_serving import extras
from vllm_serving.errors import UsageError
from vllm_serving.pipeline import dataflow
from vllm_serving.pipeline.client import MODES, SECRET_VERSION, EndpointSettings
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


@dataclass
class Plan:
    """The parsed command line: what to build and how to run it."""

    args: argparse.Namespace
    beam_args: list[str]
    settings: EndpointSettings
    batch_size: int
    server_kwargs: dict[str, str | None] = field(default_factory=dict)


# Flags Beam's vLLM handler sets itself (--model, --port) or that follow from --gpus-per-worker.
_HANDLER_OWNS = {"model": "--model", "port": "Beam's handler", "tensor-parallel-size": "--gpus-per-worker"}


def plan(argv: Sequence[str]) -> Plan:
    args, beam_args = build_parser().parse_known_args(list(argv))
    problems: list[str] = []
    if args.streaming:
        if bool(args.input_subscription) == bool(args.input_topic):
            problems.append("--streaming reads Pub/Sub: give one of --input-subscription or --input-topic")
        if args.input:
            problems.append("--input reads files; with --streaming use --input-subscription or --input-topic")
        if not args.output_topic and not args.output:
            problems.append("--streaming writes to --output-topic or to files at --output; give one")
        if args.output_topic and not args.dead_letter_topic:
            problems.append("--output-topic needs --dead-letter-topic: where failed requests and malformed messages go")
    else:
        for flag in ("input_subscription", "input_topic", "output_topic", "dead_letter_topic"):
            if getattr(args, flag):
                problems.append(f"--{flag.replace('_', '-')} needs --streaming")
        if not args.input:
            problems.append("--input is required: a file pattern such as 'requests*.jsonl' or gs://bucket/in/*.jsonl")
        if not args.output:
            problems.append("--output is required: an output prefix such as out/results or gs://bucket/out/results")
    if args.vllm_in_worker and not args.model:
        problems.append("--vllm-in-worker needs --model: the model the worker's vLLM server loads")
    server_kwargs = dict(args.vllm_arg)
    for key, owner in _HANDLER_OWNS.items():
        if key in server_kwargs:
            problems.append(f"--vllm-arg {key}: set by {owner}; remove it")
    if args.vllm_arg and not args.vllm_in_worker:
        problems.append("--vllm-arg configures the worker's vLLM server: it needs --vllm-in-worker")
    if args.vllm_in_worker and args.runner == "DataflowRunner" and not args.worker_image:
        problems.append(
            "--worker-image is required with --vllm-in-worker on DataflowRunner: build "
            "scripts/vllm_serving/pipeline/worker.Dockerfile and push it to Artifact Registry"
        )
    if args.hf_token_secret and not args.vllm_in_worker:
        problems.append("--hf-token-secret is for the worker's vLLM server: it needs --vllm-in-worker")
    if args.hf_token_secret and not SECRET_VERSION.fullmatch(args.hf_token_secret):
        problems.append(
            f"--hf-token-secret: {args.hf_token_secret!r} is not a secret version; "
            "use projects/PROJECT/secrets/NAME/versions/VERSION (VERSION may be latest)"
        )
    if args.runner == "DataflowRunner" and args.worker_image:
        problem = dataflow.launcher_beam_problem()
        if problem:
            problems.append(problem)
    if args.runner == "DataflowRunner" and args.vllm_in_worker and args.model and not args.hf_token_secret:
        from vllm_serving import sizing

        known = sizing.builtin_model(args.model)
        if known is not None and known.gated:
            problems.append(
                f"--model {args.model} is gated on Hugging Face: give --hf-token-secret "
                "projects/P/secrets/S/versions/latest (a read token of an account that accepted its license)"
            )
    unknown = [a for a in beam_args if not a.startswith("--")]
    if unknown:
        problems.append(f"unexpected argument(s) {' '.join(unknown)}; Beam options are --name=value")
    if problems:
        raise UsageError("pipeline run:\n" + "\n".join(f"  - {p}" for p in problems))
    if args.gpus_per_worker > 1:
        server_kwargs["tensor-parallel-size"] = str(args.gpus_per_worker)
    url = args.endpoint or "http://127.0.0.1:8000"  # with --vllm-in-worker the port is the worker server's
    try:
        settings = EndpointSettings(
            url=url,
            concurrency=args.concurrency,
            timeout=args.timeout,
            max_retries=args.max_retries,
            backoff=args.retry_backoff,
            api_key_env=args.api_key_env,
            api_key_secret=args.api_key_secret or "",
            mode=args.mode,
        )
    except ValueError as err:
        raise UsageError(f"pipeline run: {err}") from None
    batch_size = args.batch_size or 16 * args.concurrency
    return Plan(args, list(beam_args), settings, batch_size, server_kwargs)


def beam_options(p: Plan) -> list[str]:
    """Every Beam pipeline option the run uses, as flags: the user's plus those this command adds."""
    args = p.args
    flags = [f"--runner={args.runner}", *p.beam_args]
    if args.streaming:
        flags.append("--streaming")
    if args.runner == "DataflowRunner":
        flags = dataflow.merge(flags, _dataflow_flags(p, flags))
    if args.runner == "PrismRunner":
        from vllm_serving.pipeline import prism

        flags.append(f"--prism_location={prism.tool().path()}")
    return flags


def _dataflow_flags(p: Plan, given: Sequence[str]) -> list[str]:
    """What a Dataflow job needs besides the user's options: workers that can unpickle the graph (the
    worker image, else this package's sdist through --setup_file), GPUs for --vllm-in-worker, and a boot
    disk that holds the image and the weights (dataflow.py says where each comes from)."""
    args = p.args
    if args.vllm_in_worker:
        gpu = dataflow.GpuWorkers(args.accelerator, args.gpus_per_worker, args.machine_type, args.worker_image)
        sized = any(flag.startswith("--disk_size_gb=") for flag in given)  # the user's size wins
        return [*dataflow.beam_flags(gpu), *([] if sized else [f"--disk_size_gb={_disk_size_gb(p.args.model)}"])]
    if args.worker_image:
        return [*dataflow.image_flags(args.worker_image), f"--disk_size_gb={dataflow.disk_size_gb()}"]
    shipped = ("--setup_file=", "--extra_package=", "--extra_packages=", "--sdk_container_image=")
    if any(flag.startswith(shipped) for flag in given):
        return []
    setup = dataflow.source_setup_file()
    if setup is None:
        raise UsageError(
            "pipeline run: the Dataflow workers need this package to unpickle the pipeline; this install is not "
            "a source checkout, so give --worker-image (built from pipeline/worker.Dockerfile) or "
            "--extra_package=PATH of a wheel of vllm-serving"
        )
    return [f"--setup_file={setup}"]


def _disk_size_gb(model_name: str) -> int:
    from vllm_serving import sizing

    model = sizing.builtin_model(model_name)
    if model is None:
        raise UsageError(
            f"pipeline run: --model {model_name}: not in the built-in model table, so the workers' boot disk "
            f"cannot be sized; give --disk_size_gb=N: {dataflow.IMAGE_GB:g} GB of image, "
            f"{dataflow.SYSTEM_GB} GB of system and the weights' size, times {dataflow.DISK_MARGIN}"
        )
    return dataflow.disk_size_gb(sizing.weight_bytes(model, model.dtype))  # the checkpoint's own dtype


def submission_argv(argv: Sequence[str], p: Plan) -> list[str]:
    """The command line to submit with: ours without --dry-run, the shorthands spelled as Beam options."""
    kept = [a for a in argv if a != "--dry-run"]
    extra = [f for f in beam_options(p) if f not in p.beam_args and f not in kept and not f.startswith("--runner=")]
    return [*kept, *extra]


def main(argv: Sequence[str]) -> int:
    argv = list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        build_parser().print_help()
        return 0 if argv else 2
    p = plan(argv)
    if p.args.dry_run:
        print("# submission command:")
        print(dataflow.submission_command(submission_argv(argv, p)))
        print("# Beam pipeline options:")
        for flag in beam_options(p):
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

    return run.run(p, beam_options(p))


def _workers_here(p: Plan) -> bool:
    """Whether the SDK workers run in this process (Beam's in-process runners, Prism's default LOOPBACK)."""
    environment = [f.split("=", 1)[1] for f in p.beam_args if f.startswith("--environment_type=")]
    return p.args.runner != "DataflowRunner" and environment in ([], ["LOOPBACK"])


def _describe_kwargs(kwargs: dict[str, str | None]) -> str:
    return " ".join(f"--{k}" if v is None else f"--{k} {v}" for k, v in kwargs.items())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
