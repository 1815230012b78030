"""Predicted against published: vllm_serving.perf's latency model at the set-ups of published vLLM runs.

    .venv/bin/python benchmarks/sizing/published.py

Each point names its source and what it states; where the source leaves the request shape unsaid, the shape
used here is given with it. Each point fitted to an efficiency of scripts/vllm_serving/hardware.yaml says which:
decodeOfCopy to two single-request runs; sequenceOverheadSeconds and moeLayerSeconds to the other H100 points
(least squares of the log error; `published.py --fit` repeats it). The A100 and B200 points are held out: they
test the model on GPUs it knows only by their datasheets and the fractions measured on the H100.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, replace

from vllm_serving import chart, perf, sizing

MUSGRAVE = (
    "johnmusgrave.com/p/vllm-throughput-latency-sweep-on (vLLM 0.23.0, A100 40GB, Llama-3.1-8B-Instruct bf16,"
    " 1024 input / 128 output tokens, --ignore-eos)"
)
INFERENCEBENCH = (
    "yobitelcomm.github.io/bench/recipes/concurrency-sweep (vLLM 0.21.0, H100 80GB HBM3, Llama-3.1-8B-Instruct fp16,"
    " chatbot-short: the shape is not stated, 256 / 256 assumed)"
)


VLLM_FP8_KV = (
    "vLLM blog 2026-04-22, The State of FP8 KV-Cache and Attention Quantization in vLLM"
    " (https://vllm.ai/blog/fp8-kvcache, as vLLM's 2026-05-11 post links it;"
    " vllm-project/vllm-project.github.io@5ffe2dd5 _posts/2026-04-22-fp8-kvcache.md): vLLM 0.19.1, one GPU,"
    " FlashAttention 3 on the H100, FlashInfer on the"
    " B200, BF16 weights and KV cache, `vllm bench serve`;"
    " concurrency 1: 128 output tokens, inputs 256 to 125k, the published linear fit ITL = slope x input + intercept"
    " evaluated here at 1k and 100k; concurrency 8: 150 requests of ~20k input and ~2k output tokens (+-15 %),"
    " median ITL and output tok/s"
)
# The blog's fits (ms per input token, ms): H100 Llama-3.1-8B 4.37e-05 and 6.44; H100 gpt-oss-20b 8.94e-06 and
# 4.03-4.07 (BF16's within that range, 4.05 used); B200 Llama-3.1-8B 1.80e-05 and 3.93; B200 gpt-oss-20b 3.56e-06
# and 3.15.
LLAMA_8B, GPT_OSS_20B = "meta-llama/Llama-3.1-8B-Instruct", "openai/gpt-oss-20b"
FITS = {
    ("nvidia-h100-80gb", "meta-llama/Llama-3.1-8B-Instruct"): (4.37e-05, 6.44),
    ("nvidia-h100-80gb", "openai/gpt-oss-20b"): (8.94e-06, 4.05),
    ("nvidia-b200", "meta-llama/Llama-3.1-8B-Instruct"): (1.80e-05, 3.93),
    ("nvidia-b200", "openai/gpt-oss-20b"): (3.56e-06, 3.15),
}


@dataclass(frozen=True)
class Published:
    source: str
    accelerator: str
    model: str
    work: perf.Workload
    concurrency: int
    # "itl": seconds per output token, a request's mean (TPOT); "median-itl": the median gap between tokens, a
    # step without an arriving prompt's prefill; "throughput": output tokens per second, the run's
    what: str
    value: float
    fit: str = ""  # the hardware.yaml efficiency this point was fitted to, if any


def _blog_fit(accelerator: str, model: str, input_tokens: int) -> Published:
    slope, intercept = FITS[(accelerator, model)]
    itl = (slope * input_tokens + intercept) / 1000
    return Published(VLLM_FP8_KV, accelerator, model, perf.Workload(input_tokens, 128), 1, "itl", itl)


POINTS = [
    # "decode at one request per time runs at about 75 tokens/sec"
    Published(
        MUSGRAVE,
        "nvidia-tesla-a100",
        "meta-llama/Llama-3.1-8B-Instruct",
        perf.Workload(1024, 128),
        1,
        "itl",
        1 / 75,
        fit="decodeOfCopy",
    ),
    # "Batching buys throughput almost for free up to a concurrency of 8, a 6.6x gain"
    Published(
        MUSGRAVE,
        "nvidia-tesla-a100",
        "meta-llama/Llama-3.1-8B-Instruct",
        perf.Workload(1024, 128),
        8,
        "throughput",
        6.6 * 75,
    ),
    # the table's tpot_p50_ms at conc 1, 4 and 16
    Published(
        INFERENCEBENCH,
        "nvidia-h100-80gb",
        "meta-llama/Llama-3.1-8B-Instruct",
        perf.Workload(256, 256),
        1,
        "itl",
        6.48e-3,
        fit="decodeOfCopy",
    ),
    Published(
        INFERENCEBENCH,
        "nvidia-h100-80gb",
        "meta-llama/Llama-3.1-8B-Instruct",
        perf.Workload(256, 256),
        4,
        "itl",
        6.59e-3,
    ),
    Published(
        INFERENCEBENCH,
        "nvidia-h100-80gb",
        "meta-llama/Llama-3.1-8B-Instruct",
        perf.Workload(256, 256),
        16,
        "itl",
        10.94e-3,
    ),
    *(_blog_fit(acc, model, n) for acc, model in FITS for n in (1024, 100_000)),
    # Tables 4 and 5, BF16 rows: Llama-3.1-8B median ITL 15.18 ms, 450.3 output tok/s; gpt-oss-20b 8.09 ms, 831.6
    Published(VLLM_FP8_KV, "nvidia-h100-80gb", LLAMA_8B, perf.Workload(20_000, 2_000), 8, "median-itl", 15.18e-3),
    Published(VLLM_FP8_KV, "nvidia-h100-80gb", LLAMA_8B, perf.Workload(20_000, 2_000), 8, "throughput", 450.3),
    Published(VLLM_FP8_KV, "nvidia-h100-80gb", GPT_OSS_20B, perf.Workload(20_000, 2_000), 8, "median-itl", 8.09e-3),
    Published(VLLM_FP8_KV, "nvidia-h100-80gb", GPT_OSS_20B, perf.Workload(20_000, 2_000), 8, "throughput", 831.6),
]


PER_STEP = "sequenceOverheadSeconds, moeLayerSeconds"
POINTS = [replace(p, fit=PER_STEP) if p.accelerator == "nvidia-h100-80gb" and not p.fit else p for p in POINTS]


def predict(p: Published) -> float:
    rules = chart.rules(chart.chart_dir())
    model = sizing.builtin_model(p.model)
    acc = sizing.accelerator(p.accelerator, rules)
    point = perf.point(model, acc, sizing.Budget(), 1, p.work, p.concurrency)
    if p.what == "itl":
        return point.itl
    if p.what == "median-itl":
        return perf.step_seconds(model, acc, sizing.Budget(), 1, p.work, p.concurrency, decode_only=True)
    # a benchmark's output throughput counts each request's whole life: TTFT, then O tokens
    return p.concurrency * p.work.output_tokens / (point.ttft + p.work.output_tokens * point.itl)


def fit() -> None:
    """The per-step overheads that minimise the squared log error over the points fitted to them (10 us grid)."""
    efficiency = perf.hardware()["efficiency"]
    points = [p for p in POINTS if p.fit == PER_STEP]

    def loss(sequence: float, layer: float) -> float:
        efficiency["sequenceOverheadSeconds"], efficiency["moeLayerSeconds"] = sequence, layer
        return sum(math.log(predict(p) / p.value) ** 2 for p in points)

    grid = [(s * 1e-5, m * 1e-5) for s in range(41) for m in range(21)]
    sequence, layer = min(grid, key=lambda pair: loss(*pair))
    print(f"sequenceOverheadSeconds: {sequence:.5f}\nmoeLayerSeconds: {layer:.5f}\n(over {len(points)} points)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", action="store_true", help="refit the per-step overheads instead")
    if parser.parse_args().fit:
        fit()
        return 0
    print(
        f"{'accelerator':17} {'model':12} {'in/out':12} {'N':>3} {'what':10} {'published':>12} {'predicted':>12}"
        f" {'error':>7}"
    )
    errors = []
    for p in POINTS:
        predicted = predict(p)
        scale, unit = (1, "tok/s") if p.what == "throughput" else (1000, "ms")
        error = predicted / p.value - 1
        errors.append(abs(error))
        shape = f"{p.work.input_tokens}/{p.work.output_tokens}"
        print(
            f"{p.accelerator:17} {p.model.split('/')[-1][:12]:12} {shape:12} {p.concurrency:>3} {p.what:10}"
            f" {p.value * scale:>7.2f} {unit:5} {predicted * scale:>7.2f} {unit:5} {error:>+7.1%}"
            + (f"  (fit: {p.fit})" if p.fit else "")
        )
    print(f"\nlargest error {max(errors):.0%}; within 25 %: {sum(e <= 0.25 for e in errors)} of {len(errors)}")
    for source in dict.fromkeys(p.source for p in POINTS):
        print(f"source: {source}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
