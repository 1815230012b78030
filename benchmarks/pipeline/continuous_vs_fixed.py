"""Continuous concurrency against fixed-size sequential batches, through the real pipeline (not a test).

The shape of the Dataflow/vLLM post's experiment (10,000 Gemma 2B prompts: 59.1 vCPU-hours with naive
fixed batches, 2.5 with vLLM's continuous batching) on this machine: N prompts whose answers differ in
length go through `vllm-serving pipeline run --runner DirectRunner` to the project's OpenAI stub, whose
latency model answers a request of T tokens in first-token-delay + (T - 1) x token-delay seconds,
independently of other requests (an idealised continuously batching server). `--mode continuous` keeps
--concurrency requests in flight at all times; `--mode fixed` sends groups of --concurrency and waits
for each group's slowest answer, as a framework that batches by itself does. Prints both throughputs,
their ratio, and the commands.

    .venv/bin/python benchmarks/pipeline/continuous_vs_fixed.py --prompts 400 --concurrency 16
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
from vllm_serving.testing.openai_stub import OpenAIStub


def write_prompts(path: Path, count: int, max_tokens: int, seed: int) -> None:
    """Requests whose answer lengths follow a long tail, like real completions: most short, a few long."""
    rng = random.Random(seed)
    with path.open("w") as out:
        for i in range(count):
            tokens = min(max_tokens, max(1, int(rng.paretovariate(1.2) * 8)))
            body = {"messages": [{"role": "user", "content": f"prompt {i}"}], "max_tokens": tokens}
            out.write(json.dumps({"custom_id": f"p{i}", "method": "POST", "url": "/v1/chat/completions", "body": body}))
            out.write("\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--token-delay", type=float, default=0.004, help="stub seconds per token")
    parser.add_argument("--first-token-delay", type=float, default=0.02, help="stub seconds to the first token")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="pipeline-bench-") as tmp,
        OpenAIStub(
            first_token_delay=args.first_token_delay, token_delay=args.token_delay, tokens=args.max_tokens
        ) as stub,
    ):
        requests = Path(tmp) / "requests.jsonl"
        write_prompts(requests, args.prompts, args.max_tokens, args.seed)
        results = {}
        for mode in ("continuous", "fixed"):
            argv_ = ["pipeline", "run", "--input", str(requests), "--output", f"{tmp}/{mode}/results"]
            argv_ += ["--endpoint", stub.url, "--model", "stub-model", "--concurrency", str(args.concurrency)]
            argv_ += ["--batch-size", str(args.prompts), "--mode", mode, "--runner", "DirectRunner"]
            before = len(stub.chat_requests)
            started = time.monotonic()
            code = cli.main(argv_)
            seconds = time.monotonic() - started
            sent = len(stub.chat_requests) - before
            if code != 0 or sent != args.prompts:
                print(f"{mode}: exit {code}, {sent} of {args.prompts} requests sent", file=sys.stderr)
                return 1
            results[mode] = (seconds, args.prompts / seconds, shlex.join(["vllm-serving", *argv_]))
    print()
    for mode, (seconds, rate, command) in results.items():
        print(f"{mode:>10}: {rate:7.1f} prompts/s ({args.prompts} prompts in {seconds:.1f} s, whole pipeline)")
        print(f"            {command}")
    ratio = results["continuous"][1] / results["fixed"][1]
    print(f"     ratio: continuous / fixed = {ratio:.2f}x at concurrency {args.concurrency}")
    print(
        f"   command: .venv/bin/python benchmarks/pipeline/continuous_vs_fixed.py {shlex.join(sys.argv[1:])}".rstrip()
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
