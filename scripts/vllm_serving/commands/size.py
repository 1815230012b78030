"""`vllm-serving size`: how a model fits an accelerator's memory (vllm_serving.sizing), or with --qps, which
accelerator, tensor size and replica count serve a request rate within latency targets at the least cost
(vllm_serving.perf)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from vllm_serving import chart as chart_mod
from vllm_serving import cli_options, perf, sizing
from vllm_serving.errors import UsageError, VllmServingError


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="vllm-serving size",
        description="Size a model for a GPU: weights, KV cache per token, the longest context and the number "
        "of sequences each tensor size holds, and the smallest tensor size (or node count) that serves "
        "--concurrency sequences of --context tokens. Exit status 1 when no node of the accelerator holds "
        "the weights and one sequence.",
    )
    parser.add_argument(
        "model",
        metavar="MODEL",
        help="Hugging Face id, e.g. Qwen/Qwen3-32B: the built-in table's, else its config.json and checkpoint size"
        " from the Hub (HF_TOKEN for gated models, HF_ENDPOINT, HF_HUB_OFFLINE=1 answers from the Hub's cache)",
    )
    parser.add_argument(
        "--accelerator",
        help="cloud.google.com/gke-accelerator value, e.g. nvidia-l4 (required without --qps; with it, the only"
        " one ranked)",
    )
    parser.add_argument(
        "--dtype", choices=sizing.DTYPES, default="auto", help="weight dtype (default: the checkpoint's)"
    )
    parser.add_argument("--kv-cache-dtype", choices=sizing.KV_CACHE_DTYPES, default="auto", help="KV cache dtype")
    sizing.add_budget_options(parser)
    perf.add_target_options(parser)
    cli_options.add_output(parser)
    args = parser.parse_args(argv)
    sizing.check_budget_options(args)
    perf.check_target_options(args)
    if args.qps is None and not args.accelerator:
        raise UsageError("give --accelerator (how the model fits one GPU type), or --qps (rank them all)")

    chart = chart_mod.chart_dir(args.chart)
    rules = chart_mod.rules(chart)
    acc = sizing.accelerator(args.accelerator, rules) if args.accelerator else None
    model = sizing.find_model(args.model, args.config)
    sizing.note_capped_context(args.context, model)
    budget = sizing.Budget(args.dtype, args.kv_cache_dtype, args.gpu_memory_utilization, args.overhead_gib)
    if args.qps is not None:
        choices = perf.rank_for(args, model, rules, budget)
        if args.output == "json":
            print(cli_options.json_report({"model": model.name, "choices": [perf.choice_json(c) for c in choices]}))
        else:
            print(perf.render_choices(choices, model, perf.Workload(args.input_tokens, args.output_tokens), args))
        if not choices:
            raise VllmServingError(
                f"no accelerator and tensor size serves {model.name} within the targets; relax --ttft or --itl,"
                " or shorten the requests"
            )
        return 0
    result = sizing.plan(model, acc, budget, args.context or sizing.default_context(model), args.concurrency)
    starts = sizing.cold_starts(sizing.checkpoint_gb(model), chart_mod.default_values(chart)["startup"])
    print(
        cli_options.json_report(sizing.render_json(result, starts))
        if args.output == "json"
        else sizing.render_text(result, starts)
    )
    if result.most_on_one_node.sequences < 1:
        raise VllmServingError(sizing.does_not_fit(result, rules))
    return 0
