"""Measure a GPU's ceilings for the sizing model: memory bandwidth and matrix-product rates at the shapes
vLLM runs for the models in charts/vllm-serving/rules.yaml (its model table).

Run it on the GPU whose ceilings you want (it needs PyTorch with CUDA, nothing of vllm_serving):

    python3 benchmarks/sizing/ceilings.py --out results/   # writes ceilings-<card>.json, prints a table

What it measures, each as the median of timed repeats after a warm-up (CUDA events):
- copy: a 4 GiB device-to-device copy; bandwidth counts the bytes read plus the bytes written.
- gemm: the four weight products of a decoder layer (fused QKV, attention output, fused gate/up, down) of
  each model, at tensor-parallel sizes 1 and 8 (the weight's output or input dimension split, as vLLM's
  column- and row-parallel layers split it), for token counts from a single decode step to a long
  prefill, in bf16 and (where the card has it) fp8 with per-tensor scales (torch._scaled_mm). For each:
  TFLOP/s and the bandwidth at which the weight matrix streamed through (what bounds a decode step).
- peak: one large square product per dtype, the card's dense matrix ceiling.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
from pathlib import Path

import torch
import yaml

MODELS = ("meta-llama/Llama-3.1-8B-Instruct", "google/gemma-2-9b-it", "meta-llama/Llama-3.1-70B-Instruct")
TOKENS = (1, 8, 32, 128, 512, 2048, 8192)
TENSOR_SIZES = (1, 8)


def timed(fn, repeats: int = 30, warmup: int = 5) -> float:
    """Median seconds of fn() on the device."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1000)
    return statistics.median(times)


def layer_shapes(config: dict) -> dict[str, tuple[int, int]]:
    """(K, N) of each weight product of one layer: activations [tokens, K] times weights [K, N]."""
    hidden, inter = config["hidden_size"], config["intermediate_size"]
    head_dim = config.get("head_dim") or hidden // config["num_attention_heads"]
    q, kv = config["num_attention_heads"] * head_dim, config["num_key_value_heads"] * head_dim
    return {"qkv": (hidden, q + 2 * kv), "o": (q, hidden), "gate_up": (hidden, 2 * inter), "down": (inter, hidden)}


def split(name: str, k: int, n: int, tp: int) -> tuple[int, int]:
    """Column-parallel layers (qkv, gate_up) split N; row-parallel ones (o, down) split K."""
    return (k, n // tp) if name in ("qkv", "gate_up") else (k // tp, n)


def randn(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, device="cuda", dtype=torch.bfloat16)


def product(m: int, k: int, n: int, dtype: str):
    """A callable that runs [m, k] x [k, n] in the dtype, and its weight bytes."""
    a, b = randn(m, k), randn(n, k)
    if dtype == "bf16":
        bt = b.t()
        return (lambda: torch.mm(a, bt)), k * n * 2
    a8, b8 = a.to(torch.float8_e4m3fn), b.to(torch.float8_e4m3fn).t()
    one = torch.ones((), device="cuda")
    return (lambda: torch._scaled_mm(a8, b8, scale_a=one, scale_b=one, out_dtype=torch.bfloat16)), k * n


def fp8_supported() -> bool:
    return torch.cuda.get_device_capability() >= (8, 9) and hasattr(torch, "_scaled_mm")


def measure_copy() -> dict:
    size = 4 << 30
    src = torch.empty(size, dtype=torch.uint8, device="cuda").random_(0, 255)
    dst = torch.empty_like(src)
    seconds = timed(lambda: dst.copy_(src), repeats=20)
    return {"bytes": size, "seconds": seconds, "gb_per_s": 2 * size / seconds / 1e9}


def measure_peak(dtype: str) -> dict:
    n = 8192
    fn, _ = product(n, n, n, dtype)
    seconds = timed(fn, repeats=20)
    return {"m": n, "k": n, "n": n, "dtype": dtype, "seconds": seconds, "tflops": 2 * n**3 / seconds / 1e12}


def driver() -> str:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True, text=True
        )
        return out.stdout.strip().splitlines()[0]
    except (OSError, IndexError):
        return "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for ceilings-<card>.json")
    parser.add_argument("--models", type=Path, default=Path(__file__).parents[2] / "charts/vllm-serving/rules.yaml")
    args = parser.parse_args()
    torch.manual_seed(0)
    configs = yaml.safe_load(args.models.read_text())["models"]
    dtypes = ["bf16", *(["fp8"] if fp8_supported() else [])]
    props = torch.cuda.get_device_properties(0)
    result = {
        "card": props.name,
        "memory_bytes": props.total_memory,
        "sm_count": props.multi_processor_count,
        "capability": ".".join(map(str, torch.cuda.get_device_capability())),
        "driver": driver(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "method": "median of CUDA-event-timed repeats after warm-up; benchmarks/sizing/ceilings.py",
        "copy": measure_copy(),
        "peak": [measure_peak(d) for d in dtypes],
        "gemm": [],
    }
    for model in MODELS:
        for tp in TENSOR_SIZES:
            for name, (k, n) in layer_shapes(configs[model]).items():
                k, n = split(name, k, n, tp)
                for dtype in dtypes:
                    for m in TOKENS:
                        fn, weight_bytes = product(m, k, n, dtype)
                        seconds = timed(fn)
                        result["gemm"].append(
                            {
                                "model": model,
                                "tp": tp,
                                "layer": name,
                                "dtype": dtype,
                                "m": m,
                                "k": k,
                                "n": n,
                                "seconds": seconds,
                                "tflops": 2 * m * k * n / seconds / 1e12,
                                "weight_gb_per_s": weight_bytes / seconds / 1e9,
                            }
                        )
    args.out.mkdir(parents=True, exist_ok=True)
    slug = props.name.lower().replace("nvidia ", "").replace(" ", "-")
    path = args.out / f"ceilings-{slug}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{result['card']} driver {result['driver']} torch {result['torch']}")
    print(f"copy: {result['copy']['gb_per_s']:.0f} GB/s (read + write)")
    for p in result["peak"]:
        print(f"peak {p['dtype']}: {p['tflops']:.0f} TFLOP/s at {p['m']}^3")
    print(f"{'model':38} {'tp':>2} {'layer':8} {'dtype':5} " + " ".join(f"{m:>7}" for m in TOKENS))
    rows: dict[tuple, list] = {}
    for g in result["gemm"]:
        rows.setdefault((g["model"], g["tp"], g["layer"], g["dtype"]), []).append(g)
    for (model, tp, layer, dtype), gs in rows.items():
        cells = " ".join(f"{g['tflops']:7.0f}" for g in gs)
        print(f"{model:38} {tp:>2} {layer:8} {dtype:5} {cells}   (m=1: {gs[0]['weight_gb_per_s']:.0f} GB/s)")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
