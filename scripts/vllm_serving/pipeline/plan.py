"""A `vllm-serving pipeline run` command line checked and settled (Plan), and the Beam pipeline options it
runs with; ``run`` builds the pipeline from it. No Beam here."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field

from vllm_serving.errors import UsageError
from vllm_serving.pipeline import dataflow
from vllm_serving.pipeline.client import SECRET_VERSION, EndpointSettings


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


def plan_from(args: argparse.Namespace, beam_args: Sequence[str]) -> Plan:
    """The parsed command line checked (every problem at once, as a UsageError) and settled into a Plan."""
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
