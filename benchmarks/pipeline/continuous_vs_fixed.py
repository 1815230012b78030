"""Continuous concurrency against fixed-size sequential batches, through the real pipeline (not a test).

The shape of the Dataflow/vLLM post's experiment (10,000 Gemma 2B prompts: 59.1 vCPU-hours with naive
fixed batches, 2.5 with vLLM's continuous batching) on this machine: N prompts whose answers differ in
length go through `vllm-serving pipeline run --runner DirectRunner` to the project's OpenAI stub, whose
latency model answers a request of T tokens in first-token-delay + (T - 1) x token-delay seconds,
independently of other requests (an idealised continuously batching server). `--mode continuous` keeps
--concurrency requests in flight at all times; `--mode fixed` sends groups of --concurrency and waits
for each group's slowest answer, as a framework that batches by itself does. Prints both throughputs
(the whole pipeline, and the serving span the stub saw, without Beam's start-up and I/O), what the
latency model predicts, the ratios, and the commands.

Then one worker against two: the same continuous run with Beam's FnApiRunner starting 1 or 2 SDK worker
processes (``--direct_num_workers=N --direct_running_mode=multi_processing``), each with --concurrency
requests in flight. The lines of the one input file reach both workers only because the pipeline
reshuffles them after reading (without it, both runs would take the same time).

    .venv/bin/python benchmarks/pipeline/continuous_vs_fixed.py --prompts 200 --concurrency 16
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from vllm_serving import cli

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from support.openai_stub import OpenAIStub


def write_prompts(path: Path, count: int, max_tokens: int, seed: int) -> None:
    """Requests whose answer lengths follow a long tail, like real completions: most short, a few long."""
    rng = random.Random(seed)
    with path.open("w") as out:
        for i in range(count):
            tokens = min(max_tokens, max(1, int(rng.paretovariate(1.2) * 8)))
            body = {"messages": [{"role": "user", "content": f"prompt {i}"}], "max_tokens": tokens}
            out.write(json.dumps({"custom_id": f"p{i}", "method": "POST", "url": "/v1/chat/completions", "body": body}))
            out.write("\n")


def delay(args: argparse.Namespace, tokens: int) -> float:
    """The stub's latency model: seconds to answer a request of ``tokens`` tokens."""
    return args.first_token_delay + args.token_delay * (min(tokens, args.max_tokens) - 1)


def run_pipeline(
    requests: Path, out: str, url: str, concurrency: int, batch: int, mode: str, workers: int = 0
) -> tuple[float, str]:
    argv = ["pipeline", "run", "--input", str(requests), "--output", out, "--endpoint", url, "--model", "stub-model"]
    argv += ["--concurrency", str(concurrency), "--batch-size", str(batch), "--mode", mode, "--runner", "DirectRunner"]
    if workers:
        argv += [f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"]
    started = time.monotonic()
    if cli.main(argv) != 0:
        raise SystemExit(f"{mode}: the pipeline failed")
    return time.monotonic() - started, shlex.join(["vllm-serving", *argv])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--token-delay", type=float, default=0.01, help="stub seconds per token")
    parser.add_argument("--first-token-delay", type=float, default=0.05, help="stub seconds to the first token")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pipeline-bench-") as tmp:
        requests = Path(tmp) / "requests.jsonl"
        write_prompts(requests, args.prompts, args.max_tokens, args.seed)
        requests_text = requests.read_text()
        results = {}
        with OpenAIStub(
            first_token_delay=args.first_token_delay, token_delay=args.token_delay, tokens=args.max_tokens
        ) as stub:
            for mode in ("continuous", "fixed"):
                before = len(stub.chat_requests)
                seconds, command = run_pipeline(
                    requests, f"{tmp}/{mode}/r", stub.url, args.concurrency, args.prompts, mode
                )
                sent = stub.chat_requests[before:]
                assert len(sent) == args.prompts
                # The serving span, without Beam's start-up and I/O: from the first request's arrival at
                # the stub to the end of the last answer, whose length the latency model fixes.
                ends = [r.received_at + delay(args, r.body["max_tokens"]) for r in sent]
                serving = max(ends) - min(r.received_at for r in sent)
                results[mode] = (seconds, serving, command)
            by_workers = {}
            for workers in (1, 2):
                before = len(stub.chat_requests)
                # Batches of a quarter of the prompts, so that there are batches to share out.
                seconds, command = run_pipeline(
                    requests,
                    f"{tmp}/w{workers}/r",
                    stub.url,
                    args.concurrency,
                    args.prompts // 4,
                    "continuous",
                    workers,
                )
                sent = stub.chat_requests[before:]
                assert len(sent) == args.prompts
                ends = [r.received_at + delay(args, r.body["max_tokens"]) for r in sent]
                serving = max(ends) - min(r.received_at for r in sent)
                agents = len({r.headers.get("User-Agent") for r in sent})
                by_workers[workers] = (seconds, serving, command, agents)
    # What the stub's latency model predicts: fixed groups last as long as their slowest request;
    # continuous concurrency at best spreads the total evenly over the slots.
    latency = [delay(args, json.loads(line)["body"]["max_tokens"]) for line in requests_text.splitlines()]
    c = args.concurrency
    fixed_model = sum(max(latency[i : i + c]) for i in range(0, len(latency), c))
    continuous_model = max(sum(latency) / c, max(latency))
    print()
    print(
        f"     model: {continuous_model:.1f} s continuous (at best), {fixed_model:.1f} s fixed: "
        f"{fixed_model / continuous_model:.2f}x from the latency model alone"
    )
    for mode, (seconds, serving, command) in results.items():
        print(
            f"{mode:>10}: {args.prompts / seconds:6.1f} prompts/s whole pipeline ({seconds:.1f} s), "
            f"{args.prompts / serving:6.1f} prompts/s serving ({serving:.1f} s at the stub)"
        )
        print(f"            {command}")
    whole = results["fixed"][0] / results["continuous"][0]
    serving = results["fixed"][1] / results["continuous"][1]
    print(f"     ratio: continuous / fixed throughput = {whole:.2f}x whole pipeline, {serving:.2f}x serving")
    for workers, (seconds, serving, command, agents) in by_workers.items():
        print(
            f" {workers} worker{'s' if workers > 1 else ' '}: {args.prompts / seconds:6.1f} prompts/s whole pipeline "
            f"({seconds:.1f} s), {args.prompts / serving:6.1f} prompts/s serving ({serving:.1f} s at the stub); "
            f"requests came from {agents} worker process(es)"
        )
        print(f"            {command}")
    two = by_workers[1][1] / by_workers[2][1]
    print(
        f"     ratio: two workers / one = {by_workers[1][0] / by_workers[2][0]:.2f}x whole pipeline, {two:.2f}x serving"
    )
    this = shlex.join([".venv/bin/python", "benchmarks/pipeline/continuous_vs_fixed.py", *sys.argv[1:]])
    print(f"   command: {this}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
