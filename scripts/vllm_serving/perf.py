"""How fast a vLLM replica serves, and what it costs: the latency and cost side of `vllm-serving size`.

A replica of `tensor` GPUs serving requests of I input and O output tokens at a steady N in flight runs one
engine step after another (vLLM's continuous batching with chunked prefill). Each step decodes one token of
every running request and, on average, prefills (N - 1) x I / O prompt tokens of the requests that arrive as
others finish (a request's own prompt is its TTFT). A step's kernels run one after another, so it costs the sum of

    weight products: the larger of the weights it streams (a mixture of experts only the experts its tokens
             chose) over the GPU's achieved bandwidth, and 2 x active parameters per token (plus the prefill's
             attention) over its achieved matrix rate;
    decode attention: the larger of the KV cache every running request reads at its context (I + O / 2 on
             average) over the achieved bandwidth, and its attention FLOPs over the matrix rate;
    two tensor-parallel all-reduces per layer;
    overhead: a fixed cost per step (scheduling, launching), one per running sequence (its sampling,
             detokenizing and bookkeeping in the engine's CPU loop, which grows with the batch), and one per
             mixture-of-experts layer (routing and expert kernels, latency- rather than bandwidth-bound).

Then

    inter-token latency (ITL) = one step;   tokens/s = N / step;
    time to first token (TTFT) = the prompt's own prefill + one step it waits for;
    a replica holds N = QPS x (TTFT + O x ITL) requests (Little's law), at most the KV cache's sequences of
    I + O tokens and vLLM's max_num_seqs.

The ceilings are the datasheet's, scaled by the fractions measured on an H100 (hardware.yaml, from
benchmarks/sizing/ceilings.py); the efficiencies are fitted to published vLLM runs (benchmarks/sizing/
published.py prints predicted against published). Cost follows GKE Inference Quickstart's formula:
$ per output token = GPU $ per second / (input tokens per second / 4 + output tokens per second).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from vllm_serving import sizing
from vllm_serving.errors import UsageError

HARDWARE_FILE = Path(__file__).with_name("hardware.yaml")
INPUT_TOKEN_RATIO = 4.0  # GKE Inference Quickstart's default: an input token costs a quarter of an output token


@cache
def hardware() -> dict[str, Any]:
    return yaml.safe_load(HARDWARE_FILE.read_text())


@dataclass(frozen=True)
class Ceilings:
    """What one GPU achieves: streaming bandwidth for a decode step, matrix rate for a prefill, link rate."""

    bandwidth: float  # bytes/s
    flops: float  # FLOP/s
    link: float  # bytes/s


def ceilings(accelerator: str, weight_dtype: str) -> Ceilings:
    table = hardware()
    spec = table["accelerators"].get(accelerator)
    if spec is None:
        raise UsageError(f"no speed figures for {accelerator} in {HARDWARE_FILE.name}")
    measured, eff = table["measured"], table["efficiency"]
    fp8 = weight_dtype in ("fp8", "mxfp4") and spec["fp8TFLOPS"]
    rate = spec["fp8TFLOPS"] * measured["fp8OfDatasheet"] if fp8 else spec["bf16TFLOPS"] * measured["bf16OfDatasheet"]
    return Ceilings(
        bandwidth=spec["memoryGBps"] * 1e9 * measured["copyOfDatasheet"] * eff["decodeOfCopy"],
        flops=rate * 1e12 * eff["prefillOfPeak"],
        link=spec["linkGBps"] * 1e9,
    )


@dataclass(frozen=True)
class Workload:
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class Point:
    """A replica at `concurrency` requests in flight."""

    concurrency: int
    ttft: float  # seconds
    itl: float  # seconds
    output_tps: float
    qps: float  # requests per second it completes


def _hidden(model: sizing.ModelSpec) -> int:
    return model.attention_heads * model.head_dim


def _active(model: sizing.ModelSpec) -> int:
    return model.active_parameters or model.parameters


def streamed_weight_bytes(model: sizing.ModelSpec, weight_bytes: float, tokens: int) -> float:
    """Weight bytes one step reads: everything for a dense model; for a mixture of experts, the shared part
    and the experts at least one of `tokens` tokens was routed to (each picks k of E at random)."""
    if model.experts <= 1 or not model.active_parameters:
        return weight_bytes
    total, active, experts, k = model.parameters, model.active_parameters, model.experts, model.experts_per_token
    per_expert = (total - active) / (experts - k)
    shared = active - k * per_expert
    touched = experts * (1 - (1 - k / experts) ** tokens)
    return weight_bytes * (shared + touched * per_expert) / total


def _attention_flops(model: sizing.ModelSpec, queries: float, context: float) -> float:
    return 4 * model.layers * model.attention_heads * model.head_dim * queries * context


def _all_reduce_seconds(model: sizing.ModelSpec, tensor: int, tokens: float, ceil: Ceilings) -> float:
    if tensor == 1:
        return 0.0
    eff = hardware()["efficiency"]
    message = tokens * _hidden(model) * 2
    one = eff["allReduceSeconds"] + 2 * (tensor - 1) / tensor * message / ceil.link
    return 2 * model.layers * one


def prefill_seconds(
    model: sizing.ModelSpec, acc: sizing.Accelerator, budget: sizing.Budget, tensor: int, tokens: int
) -> float:
    """One prompt of `tokens` tokens alone."""
    dtype = budget.weight_dtype(model)
    ceil = ceilings(acc.name, dtype)
    weights = sizing.weight_bytes(model, dtype) / tensor
    compute = (2 * _active(model) * tokens + _attention_flops(model, tokens, tokens / 2)) / tensor / ceil.flops
    memory = streamed_weight_bytes(model, weights, tokens) / ceil.bandwidth
    return max(compute, memory) + _all_reduce_seconds(model, tensor, tokens, ceil)


def step_seconds(
    model: sizing.ModelSpec,
    acc: sizing.Accelerator,
    budget: sizing.Budget,
    tensor: int,
    work: Workload,
    concurrency: int,
    *,
    decode_only: bool = False,
) -> float:
    """One engine step at `concurrency` requests in flight (see the module docstring); decode_only: a step that
    carries no prompt of an arriving request (most of them: a benchmark's median inter-token latency)."""
    dtype = budget.weight_dtype(model)
    ceil = ceilings(acc.name, dtype)
    # prompt tokens per step, on average: each of the other requests in flight is replaced once in a request's O
    # steps, and its successor's prompt is prefilled in those steps (a lone request sees none)
    prefill = 0.0 if decode_only else (concurrency - 1) * work.input_tokens / work.output_tokens
    tokens = concurrency + prefill
    context = work.input_tokens + work.output_tokens / 2
    eff = hardware()["efficiency"]
    weights = streamed_weight_bytes(model, sizing.weight_bytes(model, dtype) / tensor, math.ceil(tokens))
    flops = 2 * _active(model) * tokens + _attention_flops(model, prefill, work.input_tokens / 2)
    linear = max(weights / ceil.bandwidth, flops / tensor / ceil.flops)  # the weight products, fused over the batch
    kv = concurrency * sizing.kv_sequence_bytes(model, tensor, budget.kv_dtype(model), int(context)) / tensor
    attention = max(kv / ceil.bandwidth, _attention_flops(model, concurrency, context) / tensor / ceil.flops)
    per_sequence = concurrency * eff["sequenceOverheadSeconds"]
    moe_layers = model.moe_layers * eff["moeLayerSeconds"]
    overhead = eff["stepOverheadSeconds"] + per_sequence + moe_layers
    return linear + attention + _all_reduce_seconds(model, tensor, tokens, ceil) + overhead


def point(
    model: sizing.ModelSpec,
    acc: sizing.Accelerator,
    budget: sizing.Budget,
    tensor: int,
    work: Workload,
    concurrency: int,
) -> Point:
    step = step_seconds(model, acc, budget, tensor, work, concurrency)
    ttft = prefill_seconds(model, acc, budget, tensor, work.input_tokens) + step
    return Point(concurrency, ttft, step, concurrency / step, concurrency / (ttft + work.output_tokens * step))


def max_num_seqs(acc: sizing.Accelerator) -> int:
    """vLLM 0.33's `vllm serve` default max_num_seqs by GPU memory (vllm/engine/arg_utils.py get_batch_defaults), which
    compares NVML's total, about the nominal memoryGiB (sizing.max_num_batched_tokens)."""
    return 1024 if acc.memory_gib >= 70 and "a100" not in acc.name else 256


def concurrency_limit(
    model: sizing.ModelSpec, acc: sizing.Accelerator, budget: sizing.Budget, tensor: int, work: Workload
) -> int:
    """Requests of I + O tokens the replica's KV cache holds at once, at most max_num_seqs."""
    fit = sizing.evaluate(model, acc, budget, tensor, 1, work.input_tokens + work.output_tokens, 1)
    if not fit.valid:
        return 0
    return min(fit.sequences, max_num_seqs(acc))


def best_point(
    model: sizing.ModelSpec,
    acc: sizing.Accelerator,
    budget: sizing.Budget,
    tensor: int,
    work: Workload,
    ttft: float | None,
    itl: float | None,
) -> Point | None:
    """The most requests in flight at which both targets still hold (latency grows with concurrency)."""

    def holds(n: int) -> bool:
        p = point(model, acc, budget, tensor, work, n)
        return (ttft is None or p.ttft <= ttft) and (itl is None or p.itl <= itl)

    limit = concurrency_limit(model, acc, budget, tensor, work)
    if limit < 1 or not holds(1):
        return None
    low, high = 1, limit
    while low < high:
        middle = (low + high + 1) // 2
        if holds(middle):
            low = middle
        else:
            high = middle - 1
    return point(model, acc, budget, tensor, work, low)


@dataclass(frozen=True)
class Choice:
    accelerator: str
    tensor: int
    replicas: int
    point: Point  # each replica's operating point
    usd_per_hour: float
    usd_per_million_output: float
    pricing: str


def price_table(path: str | Path | None = None) -> dict[str, dict[str, float]]:
    if path is None:
        return hardware()["prices"]["perGpuHour"]
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise UsageError(f"--prices {path}: {err}") from None
    table = (data or {}).get("perGpuHour") if isinstance(data, dict) else None
    if not isinstance(table, dict):
        raise UsageError(f"--prices {path}: expected perGpuHour: {{ACCELERATOR: {{onDemand: USD, spot: USD}}}}")
    return table


def rank(
    model: sizing.ModelSpec,
    rules: dict[str, Any],
    budget: sizing.Budget,
    work: Workload,
    *,
    qps: float,
    ttft: float | None,
    itl: float | None,
    pricing: str = "onDemand",
    prices: dict[str, dict[str, float]] | None = None,
) -> list[Choice]:
    """Every accelerator x tensor size whose replicas meet the latency targets, with the replicas that serve
    `qps` and their cost, cheapest per million output tokens first."""
    prices = prices if prices is not None else price_table()
    sizes = [int(n) for n in rules["tensorSizes"]]
    choices = []
    for name in rules["accelerators"]:
        if name not in hardware()["accelerators"] or pricing not in prices.get(name, {}):
            continue
        acc = sizing.accelerator(name, rules)
        for tensor in (n for n in sizes if n <= acc.max_per_node):
            best = best_point(model, acc, budget, tensor, work, ttft, itl)
            if best is None:
                continue
            replicas = max(1, math.ceil(qps / best.qps))
            per_hour = replicas * tensor * prices[name][pricing]
            tokens_per_second = qps * work.input_tokens / INPUT_TOKEN_RATIO + qps * work.output_tokens
            per_million = per_hour / 3600 / tokens_per_second * 1e6
            choices.append(Choice(name, tensor, replicas, best, per_hour, per_million, pricing))
    return sorted(choices, key=lambda c: (c.usd_per_million_output, c.replicas * c.tensor))


# --- the command's latency mode (`vllm-serving size MODEL --qps ...`) -----------------------------------


def seconds(text: str) -> float:
    """A duration as given on the command line: 1s, 50ms, 0.5 (seconds)."""
    value = text.strip().lower()
    scale = 1.0
    if value.endswith("ms"):
        value, scale = value[:-2], 0.001
    elif value.endswith("s"):
        value = value[:-1]
    try:
        number = float(value) * scale
    except ValueError:
        raise UsageError(f"{text!r} is not a duration; give seconds or milliseconds, e.g. 1s, 500ms") from None
    if number <= 0:
        raise UsageError(f"{text!r}: give a duration above 0")
    return number


def add_target_options(parser: Any) -> None:
    group = parser.add_argument_group("latency and cost (rank accelerators, tensor sizes and replicas)")
    group.add_argument("--qps", type=float, help="requests per second to serve; turns on the ranking")
    group.add_argument("--ttft", type=seconds, help="time-to-first-token target, e.g. 1s (default: none)")
    group.add_argument("--itl", type=seconds, help="inter-token latency target, e.g. 50ms (default: none)")
    group.add_argument(
        "--input-tokens", type=int, default=1000, help="prompt tokens per request (default: %(default)s)"
    )
    group.add_argument(
        "--output-tokens", type=int, default=200, help="tokens generated per request (default: %(default)s)"
    )
    group.add_argument("--pricing", choices=("onDemand", "spot"), default="onDemand", help="price list to rank by")
    group.add_argument("--prices", metavar="FILE", help="your own prices per GPU-hour (hardware.yaml's `prices` shape)")


def check_target_options(args: Any) -> None:
    if args.qps is None and (args.ttft is not None or args.itl is not None):
        raise UsageError("--ttft and --itl rank choices for a request rate: give --qps too")
    if args.qps is not None and args.qps <= 0:
        raise UsageError(f"--qps {args.qps}: give requests per second above 0")
    if args.input_tokens < 1 or args.output_tokens < 1:
        raise UsageError("--input-tokens and --output-tokens: give 1 or more tokens")


def render_choices(choices: list[Choice], model: sizing.ModelSpec, work: Workload, args: Any, top: int = 10) -> str:
    targets = ", ".join(
        f"{name} {value * 1000:g} ms" for name, value in (("TTFT", args.ttft), ("ITL", args.itl)) if value is not None
    )
    source = args.prices or f"hardware.yaml ({hardware()['prices']['date']}, approximate)"
    lines = [
        f"{model.name}: {args.qps:g} requests/s of {work.input_tokens} input and {work.output_tokens} output tokens"
        + (f", {targets}" if targets else ""),
        f"prices: {source}, {args.pricing} per GPU-hour",
        "",
    ]
    header = ["accelerator", "tensor", "replicas", "in flight", "TTFT ms", "ITL ms", "tok/s", "$/hour", "$/1M out"]
    rows = [header] + [
        [
            c.accelerator,
            str(c.tensor),
            str(c.replicas),
            str(c.point.concurrency),
            f"{c.point.ttft * 1000:.0f}",
            f"{c.point.itl * 1000:.1f}",
            f"{c.point.output_tps:,.0f}",
            f"{c.usd_per_hour:,.2f}",
            f"{c.usd_per_million_output:.3f}",
        ]
        for c in choices[:top]
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines += ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    if choices:
        best = choices[0]
        lines += [
            "",
            f"cheapest: {best.replicas} x {best.tensor} {best.accelerator} (parallelism.tensor: {best.tensor}), up to"
            f" {best.point.concurrency} requests in flight per replica",
        ]
    return "\n".join(lines)


def choice_json(c: Choice) -> dict[str, Any]:
    return {
        "accelerator": c.accelerator,
        "tensor": c.tensor,
        "replicas": c.replicas,
        "concurrency_per_replica": c.point.concurrency,
        "ttft_seconds": round(c.point.ttft, 4),
        "itl_seconds": round(c.point.itl, 5),
        "output_tokens_per_second_per_replica": round(c.point.output_tps, 1),
        "usd_per_hour": round(c.usd_per_hour, 2),
        "usd_per_million_output_tokens": round(c.usd_per_million_output, 4),
        "pricing": c.pricing,
    }


def rank_for(args: Any, model: sizing.ModelSpec, rules: dict[str, Any], budget: sizing.Budget) -> list[Choice]:
    """rank() for a command line's targets (--qps, --ttft, --itl, the request shape, --pricing, --prices),
    restricted to --accelerator when it is given."""
    check_target_options(args)
    if args.accelerator:
        rules = {**rules, "accelerators": {args.accelerator: rules["accelerators"][args.accelerator]}}
    work = Workload(args.input_tokens, args.output_tokens)
    return rank(
        model,
        rules,
        budget,
        work,
        qps=args.qps,
        ttft=args.ttft,
        itl=args.itl,
        pricing=args.pricing,
        prices=price_table(args.prices),
    )
