"""Predicted against published: vllm_serving.perf's latency model at the set-ups of published vLLM runs.

    .venv/bin/python benchmarks/sizing/published.py

Each point names its source and what it states; where the source leaves the request shape unsaid, the shape
used here is given with it. The efficiencies in scripts/vllm_serving/hardware.yaml were fitted to the
single-request points (marked "fit"), and sequenceOverheadSeconds, the cost each running sequence adds to a
step, to the points with more than one request in flight (least squares of the log error; marked "fit:
per-sequence"): until points from other sources are added, none tests the model.
"""

from __future__ import annotations

from dataclasses import dataclass

from vllm_serving import chart, perf, sizing

MUSGRAVE = (
    "johnmusgrave.com/p/vllm-throughput-latency-sweep-on (vLLM 0.23.0, A100 40GB, Llama-3.1-8B-Instruct bf16,"
    " 1024 input / 128 output tokens, --ignore-eos)"
)
INFERENCEBENCH = (
    "yobitelcomm.github.io/bench/recipes/concurrency-sweep (vLLM 0.21.0, H100 80GB HBM3, Llama-3.1-8B-Instruct fp16,"
    " chatbot-short: the shape is not stated, 256 / 256 assumed)"
)


@dataclass(frozen=True)
class Published:
    source: str
    accelerator: str
    model: str
    work: perf.Workload
    concurrency: int
    what: str  # "itl" (seconds per output token) or "throughput" (output tokens per second, the run's)
    value: float
    fit: bool = False


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
        fit=True,
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
        fit=True,
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
]


def predict(p: Published) -> float:
    rules = chart.rules(chart.chart_dir())
    model = sizing.builtin_model(p.model)
    acc = sizing.accelerator(p.accelerator, rules)
    point = perf.point(model, acc, sizing.Budget(), 1, p.work, p.concurrency)
    if p.what == "itl":
        return point.itl
    # a benchmark's output throughput counts each request's whole life: TTFT, then O tokens
    return p.concurrency * p.work.output_tokens / (point.ttft + p.work.output_tokens * point.itl)


def main() -> int:
    print(f"{'accelerator':18} {'in/out':9} {'N':>3} {'what':10} {'published':>10} {'predicted':>10} {'error':>7}")
    errors = []
    for p in POINTS:
        predicted = predict(p)
        scale, unit = (1000, "ms") if p.what == "itl" else (1, "tok/s")
        error = predicted / p.value - 1
        errors.append(abs(error))
        print(
            f"{p.accelerator:18} {p.work.input_tokens}/{p.work.output_tokens:<5} {p.concurrency:>3} {p.what:10}"
            f" {p.value * scale:>7.2f} {unit:2} {predicted * scale:>7.2f} {unit:2} {error:>+7.1%}"
            + ("  (fit)" if p.fit else "  (fit: per-sequence)" if p.concurrency > 1 else "")
        )
    print(f"\nlargest error {max(errors):.0%}; within 25 %: {sum(e <= 0.25 for e in errors)} of {len(errors)}")
    for source in dict.fromkeys(p.source for p in POINTS):
        print(f"source: {source}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
