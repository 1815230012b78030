"""What `vllm-serving values new` writes: a complete values file for a model on an accelerator, sized by
vllm_serving.sizing.

The file sets the model; the smallest tensor size that serves --concurrency sequences of --context
tokens on one node, else the fewest nodes (pipeline parallel); vllm.maxModelLen (--context, or the
longest context that fits, capped at the model's maximum); the weight source's block; CPU and memory
for the accelerator's machine shape (rules.yaml machines); and /dev/shm for tensor parallelism. It is checked
with the chart (`chart_verdict`, i.e. Helm) before it is written. A request that needs more nodes than the chart's
parallelism.pipeline allows is refused, with what would serve it.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vllm_serving import chart as chart_mod
from vllm_serving import sizing
from vllm_serving.errors import InvalidValues, UsageError, VllmServingError
from vllm_serving.verdict import chart_verdict

SOURCES = ("huggingface", "gcsfuse", "persistentDisk", "nfs", "gcsStream")
DISK = re.compile(r"^projects/[^/]+/zones/[^/]+/disks/[^/]+$")
POD_SHARE = 0.75  # of the machine's vCPUs and memory (per GPU share) that the pod requests
SHM_GIB_PER_GPU, SHM_GIB_MAX = 8, 64
BASE_EPHEMERAL_GIB = 10  # logs, compile caches, the image's scratch space
NODE_DISK_GIB = 100  # GKE's default boot disk


def _quantity_gib(value: float) -> str:
    return f"{math.ceil(value)}Gi"


def model_disk_gib(model: sizing.ModelSpec, budget: sizing.Budget) -> int:
    """Room for the checkpoint on disk (weights at their width, plus a tenth and tokenizer files)."""
    return math.ceil(sizing.weight_bytes(model, budget.weight_dtype(model)) / sizing.GIB * 1.1) + 2


def resources(accelerator: str, tensor: int, ephemeral_gib: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """requests/limits for a pod of `tensor` GPUs on the accelerator's machine, and that machine."""
    machine = sizing.machine_for(accelerator, tensor)
    if machine is None:
        raise UsageError(
            f"rules.yaml lists no {accelerator} machine with {tensor} GPUs (machines:); add its shape there"
        )
    share = tensor / machine["gpus"] * POD_SHARE
    memory = _quantity_gib(math.floor(machine["memoryGiB"] * share))
    requests = {
        "cpu": str(max(1, math.floor(machine["vcpus"] * share))),
        "memory": memory,
        "ephemeral-storage": _quantity_gib(ephemeral_gib),
    }
    return {"requests": requests, "limits": {"memory": memory}}, machine


def _bucket(value: str | None, source: str) -> str:
    if not value:
        raise UsageError(f"--source {source} needs --bucket: the Cloud Storage bucket that holds the model")
    return value.removeprefix("gs://").strip("/")


# Source options and the sources that read them: given with another --source, one is refused.
SOURCE_OPTIONS = {
    "hf_token_secret": ("huggingface",),
    "bucket": ("gcsfuse", "gcsStream"),
    "path": ("gcsfuse", "gcsStream", "persistentDisk", "nfs"),
    "disk": ("persistentDisk",),
    "nfs_server": ("nfs",),
    "nfs_share": ("nfs",),
}


def check_source_options(args: argparse.Namespace) -> None:
    for option, sources in SOURCE_OPTIONS.items():
        if getattr(args, option) and args.source not in sources:
            flag = "--" + option.replace("_", "-")
            raise UsageError(f"{flag} is read with --source {' or '.join(sources)}, not --source {args.source}")


def weights_block(args: argparse.Namespace, model: sizing.ModelSpec, disk_gib: int) -> tuple[dict[str, Any], list[str]]:
    """weights: for --source, and the header lines that say what must exist before install."""
    check_source_options(args)
    source, path = args.source, args.path
    if source == "huggingface":
        block: dict[str, Any] = {"cache": {"sizeLimit": _quantity_gib(disk_gib)}}
        notes = [f"The weights ({disk_gib} GiB with room to spare) download to the node's disk at every start."]
        if args.hf_token_secret:
            block = {"tokenSecret": {"name": args.hf_token_secret, "key": args.hf_token_key}, **block}
            notes.append(
                f"Create the token Secret: kubectl create secret generic {args.hf_token_secret}"
                f" --from-literal={args.hf_token_key}=hf_..."
            )
        elif model.gated:
            raise UsageError(
                f"{model.name} is gated on Hugging Face: pass --hf-token-secret NAME, a Secret whose key"
                f" {args.hf_token_key} (--hf-token-key) holds a token of an account that accepted the model's licence"
            )
        return {"source": source, source: block}, notes
    if source in ("gcsfuse", "gcsStream"):
        bucket = _bucket(args.bucket, source)
        folder = (path or model.name).strip("/")
        block = {"bucket": bucket, "path": folder}
        if source == "gcsfuse":
            block["fileCache"] = {"size": _quantity_gib(disk_gib)}
        notes = [
            f"Upload the model first: gcloud storage cp -r ./{model.name.split('/')[-1]}/* gs://{bucket}/{folder}/",
            "and give the pods' ServiceAccount read access to the bucket (serviceAccount.gcpServiceAccount).",
        ]
        return {"source": source, source: block}, notes
    if source == "persistentDisk":
        if not args.disk:
            raise UsageError(
                "--source persistentDisk needs --disk projects/PROJECT/zones/ZONE/disks/DISK, once per zone,"
                " naming disks that hold the model (bake one with `vllm-serving bake weights-disk`)"
            )
        for disk in args.disk:
            if not DISK.match(disk):
                raise UsageError(f"--disk {disk}: give it as projects/PROJECT/zones/ZONE/disks/DISK")
        block = {"disks": list(args.disk)} | ({"path": path.strip("/")} if path else {})
        return {"source": source, source: block}, ["Each disk must hold the model, one disk per zone."]
    if not (args.nfs_server and args.nfs_share):
        raise UsageError(
            "--source nfs needs --nfs-server and --nfs-share: the Filestore instance's IP address and its"
            " file share, e.g. --nfs-server 10.0.0.2 --nfs-share /vol1"
        )
    block = {"server": args.nfs_server, "share": args.nfs_share} | ({"path": path.strip("/")} if path else {})
    return {"source": source, source: block}, ["The share must hold the model" + (f" under {path}." if path else ".")]


def refusal(p: sizing.Plan, rules: dict[str, Any]) -> str:
    """Why no values file is written (not even p.max_nodes nodes serve the request), and what would."""
    request = sizing.sequences_text(p.concurrency, p.context)
    message = f"{p.model.name}: {request} {sizing.needs(p.concurrency)} {sizing.beyond_text(p)}"
    best = p.most_on_one_node
    if best.sequences >= 1:
        message += (
            f"; one node ({sizing.setting_text(best)}) holds {best.sequences}: pass --concurrency"
            f" {best.sequences} and scale out with replicas, or lower --context"
        )
    others = sizing.alternatives(p, rules, one_node=False, max_nodes=p.max_nodes)
    if others:
        message += f"; these serve it: {', '.join(others)}"
    return message


def max_model_len(p: sizing.Plan, requested: int | None) -> int:
    """--context, else the longest context `concurrency` sequences can each have, in 1024-token steps."""
    assert p.choice is not None
    if requested:
        return p.context
    longest = sizing.longest_context(p.model, p.accelerator, p.budget, p.choice, p.concurrency)
    if longest >= p.model.max_context:
        return p.model.max_context
    return max(p.context, longest // 1024 * 1024)


def _shortfall(fit: sizing.Fit, p: sizing.Plan) -> str:
    """What a set-up smaller than the chosen one lacks."""
    if fit.kv_cache <= 0:
        return "cannot hold the weights"
    if fit.sequences == 0:
        return (
            f"would leave {sizing.gib(fit.kv_cache)} of KV cache, less than one {p.context:,}-token sequence"
            f" needs ({sizing.gib(fit.kv_per_sequence)})"
        )
    return (
        f"would hold {sizing.sequences_text(fit.sequences, p.context)}, fewer than {p.concurrency}:"
        " more replicas of it are the alternative"
    )


def header(
    p: sizing.Plan,
    machine: dict[str, Any],
    length: int,
    notes: list[str],
    config: str | None,
    winner: Any = None,
    args: argparse.Namespace | None = None,
) -> list[str]:
    model, acc, budget, choice = p.model, p.accelerator, p.budget, p.choice
    assert choice is not None
    dtype = budget.weight_dtype(model)
    held = sizing.evaluate(model, acc, budget, choice.tensor, choice.pipeline, length, p.concurrency).sequences
    in_flight = sizing.in_flight_tokens(acc, choice.pipeline)
    cost = sizing.kv_sequence_text(model, choice.tensor, budget.kv_dtype(model), length, in_flight)
    where = f"{choice.tensor} x {acc.name} (one {machine['machineType']})"
    if choice.pipeline > 1:
        where = f"{choice.pipeline} nodes of {choice.tensor} x {acc.name} ({machine['machineType']}, pipeline parallel)"
    lines = [
        f"# {model.name} on {where}.",
        "# Written by `vllm-serving values new`. Sizing (for every tensor size, run",
        f"#   vllm-serving size {model.name} --accelerator {acc.name} --context {length}"
        + (f" --concurrency {p.concurrency}" if p.concurrency > 1 else "")
        + (f" --config {config}" if config else "")
        + "):",
        f"#   weights   {sizing.gib(sizing.weight_bytes(model, dtype))} in {dtype}"
        f" ({model.parameters / 1e9:.2f}B parameters), {sizing.gib(choice.weights_per_gpu)} per GPU",
        f"#   usable    {sizing.usable_text(budget, acc)}",
        f"#   KV cache  {sizing.gib(choice.kv_cache)} over {choice.gpus} GPU{'s' if choice.gpus > 1 else ''}: {cost}",
        f"#   vllm.maxModelLen {length}{' (the model maximum)' if length == model.max_context else ''}:"
        f" {held} full-length sequence{'s' if held != 1 else ''} at once",
    ]
    if choice.pipeline > 1:
        lines.append(f"# One node ({sizing.setting_text(p.most_on_one_node)}) {_shortfall(p.most_on_one_node, p)}.")
    elif winner is None and (smaller := [f for f in p.options if f.valid and f.tensor < choice.tensor]):
        lines.append(f"# parallelism.tensor {smaller[-1].tensor} {_shortfall(smaller[-1], p)}.")
    if winner is not None:
        point = winner.point
        lines += [
            f"# Chosen as the cheapest for {args.qps:g} requests/s of {args.input_tokens} input and"
            f" {args.output_tokens} output tokens"
            + "".join(
                f", {name} <= {value * 1000:g} ms" for name, value in (("TTFT", args.ttft), ("ITL", args.itl)) if value
            )
            + f" ({winner.pricing} prices, {winner.usd_per_million_output:.3f} USD per million output tokens):",
            f"#   {winner.replicas} replicas; each holds up to {point.concurrency} requests in flight (vllm.maxNumSeqs)"
            f" at a predicted TTFT of {point.ttft * 1000:.0f} ms and ITL of {point.itl * 1000:.1f} ms;",
            f"#   the autoscaler adds a replica at {int(BATCH_TARGET_SHARE * 100)} % of that (batch-size target). Rank"
            f" them all with: vllm-serving size {model.name} --qps {args.qps:g} ...",
        ]
    if model.gated:
        lines.append("# The model is gated: accept its licence on Hugging Face with the account whose token is used.")
    lines += [f"# {note}" for note in notes]
    return lines


def modeline(chart: Path, directory: Path) -> str:
    """The editor's schema line for a file written into ``directory``. yaml-language-server resolves a relative
    $schema against the file's own location, so the path is relative to where the file goes, whatever that is
    (https://github.com/redhat-developer/yaml-language-server#using-inlined-schema)."""
    schema = (chart / "values.schema.json").resolve()
    return f"# yaml-language-server: $schema={os.path.relpath(schema, directory.resolve())}"


def render(values: dict[str, Any], lines: list[str]) -> str:
    blocks = [yaml.safe_dump({key: value}, sort_keys=False, default_flow_style=False) for key, value in values.items()]
    return "\n".join(lines) + "\n" + "\n".join(blocks)


# With latency targets, the replica runs at most the requests at which they hold (vllm.maxNumSeqs), and the
# autoscaler adds a replica at this share of them, before a burst pushes latency past the target.
BATCH_TARGET_SHARE = 0.8


def cheapest(args: argparse.Namespace, model: sizing.ModelSpec, rules: dict[str, Any], budget: sizing.Budget):
    """The cheapest accelerator x tensor size for --qps within --ttft/--itl (perf.rank_for), or a refusal."""
    from vllm_serving import perf

    choices = perf.rank_for(args, model, rules, budget)
    if not choices:
        raise VllmServingError(
            f"no accelerator and tensor size serves {model.name} within the targets; relax --ttft or --itl,"
            " or see `vllm-serving size` for what each accelerator reaches"
        )
    return choices[0]


def autoscaling_block(winner) -> dict[str, Any]:
    """Autoscaling on running requests per pod, from the batch at which the latency targets hold."""
    target = max(1, int(winner.point.concurrency * BATCH_TARGET_SHARE))
    return {
        "enabled": True,
        "minReplicas": 1,
        "maxReplicas": max(2, 2 * winner.replicas),
        "metrics": [{"type": "batch-size", "target": target}],
    }


@dataclass
class NewValues:
    """A values file composed and checked by the chart, before it is written."""

    values: dict[str, Any]
    header: list[str]  # the comment lines above the values
    chart: Path
    summary: str  # what was chosen, in one line
    warnings: list[str]  # the chart's judgement calls on these values (vllm-serving.warnings)


def new(args: argparse.Namespace) -> NewValues:
    """The values file `values new` writes for the command line's model, accelerator and targets."""
    sizing.check_budget_options(args)
    from vllm_serving import perf

    perf.check_target_options(args)
    if args.qps is None and not args.accelerator:
        raise UsageError("give --accelerator, or --qps (and --ttft/--itl) to choose the cheapest one")
    chart = chart_mod.chart_dir(args.chart)
    rules = chart_mod.rules(chart)
    model = sizing.find_model(args.model, args.config)
    sizing.note_capped_context(args.context, model)
    budget = sizing.Budget(gpu_memory_utilization=args.gpu_memory_utilization, overhead_gib=args.overhead_gib)
    winner = cheapest(args, model, rules, budget) if args.qps is not None else None
    acc = sizing.accelerator(winner.accelerator if winner else args.accelerator, rules)
    context = args.context or sizing.default_context(model)
    p = sizing.plan(model, acc, budget, context, args.concurrency, sizing.pipeline_limit(chart))
    if winner:  # the tensor size the latency targets chose, not only the smallest that fits
        fit = sizing.evaluate(model, acc, budget, winner.tensor, 1, context, args.concurrency)
        p = sizing.Plan(model, acc, budget, p.context, args.concurrency, p.options, fit, p.max_nodes)
    if p.choice is None:
        raise VllmServingError(refusal(p, rules))
    tensor, pipeline = p.choice.tensor, p.choice.pipeline
    disk_gib = model_disk_gib(model, budget)
    weights, notes = weights_block(args, model, disk_gib)
    if args.source in ("huggingface", "gcsfuse") and disk_gib > NODE_DISK_GIB:
        notes.append(
            f"The node's ephemeral storage must hold {disk_gib} GiB of weights: give the node pool a larger boot disk"
            " or local SSD ephemeral storage."
        )
    cached = disk_gib if args.source in ("huggingface", "gcsfuse") else 0  # a copy on the node's ephemeral storage
    resource_block, machine = resources(acc.name, tensor, BASE_EPHEMERAL_GIB + cached)
    length = max_model_len(p, args.context)

    values: dict[str, Any] = {
        "model": {"name": model.name, "servedName": args.served_name or model.name.split("/")[-1].lower()}
        # A model outside the chart's table states its size, which sizes the startup budget.
        | ({} if sizing.lookup_builtin(model.name) else {"weightsGB": round(sizing.checkpoint_gb(model), 1)}),
        "parallelism": {"tensor": tensor} | ({"pipeline": pipeline} if pipeline > 1 else {}),
        "gke": {"accelerator": acc.name},
        "vllm": {"maxModelLen": length, "gpuMemoryUtilization": budget.gpu_memory_utilization},
        "weights": weights,
    }
    if winner:
        values["vllm"]["maxNumSeqs"] = winner.point.concurrency
        values["replicaCount"] = winner.replicas
        values["autoscaling"] = autoscaling_block(winner)
        values["monitoring"] = {"podMonitoring": {"enabled": True}}  # the HPA reads vLLM's gauge through GMP
    if args.gcp_service_account:
        values["serviceAccount"] = {"gcpServiceAccount": args.gcp_service_account}
    values["resources"] = resource_block
    if tensor > 1:
        values["sharedMemory"] = {"sizeLimit": f"{min(SHM_GIB_PER_GPU * tensor, SHM_GIB_MAX)}Gi"}

    verdict = chart_verdict(chart, values=values)
    if verdict.problems:  # an option the chart's schema refuses (a bucket or share of the wrong form): its words
        raise InvalidValues(verdict.problems)
    lines = header(p, machine, length, notes, args.config, winner, args)
    start = next(
        s
        for s in sizing.cold_starts(sizing.checkpoint_gb(model), chart_mod.default_values(chart)["startup"])
        if s.source == args.source
    )
    lines.append(
        f"# Cold start from {args.source}: about {start.expected_seconds:,.0f} s for the"
        f" {sizing.checkpoint_gb(model):.1f} GB checkpoint at {start.throughput_gbps:g} GB/s; startupProbe budget"
        f" {start.budget_seconds:,} s (`vllm-serving size` compares sources)."
    )
    summary = f"{model.name} on {acc.name} with {sizing.setting_text(p.choice)}, vllm.maxModelLen: {length}"
    return NewValues(values, lines, chart, summary, verdict.warnings)
