"""`vllm-serving loadtest URL`: a bounded load test of a vLLM (OpenAI-compatible) chat-completions server.

Checks everything that can be checked before any load: the URL, the prompts file, that the server
answers GET /v1/models and serves the model. Then it runs Locust headless in a child process
(vllm_serving.loadtest.runner), and reports: requests/s, output tokens/s, TTFT, inter-token and
end-to-end latency percentiles, errors and their top reasons.

The load only ever goes to URL, and it stops by itself: after --duration seconds or --max-requests
requests, whichever comes first (requests in flight then get --timeout seconds to finish).
Exit status 1 when the error rate exceeds --max-error-rate or no request completed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from vllm_serving import cli_options
from vllm_serving.endpoint import Target
from vllm_serving.errors import UsageError
from vllm_serving.loadtest import report, runner
from vllm_serving.loadtest.client import list_models
from vllm_serving.loadtest.prompts import default_prompts_file, load_prompts


def _positive(kind: type):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
        return value

    return parse


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vllm-serving loadtest",
        description="Load-test an OpenAI-compatible chat-completions server (vLLM) with Locust, headless and "
        "bounded: streamed requests from a prompts file, for --duration seconds or --max-requests requests.",
        epilog="A server started with an API key (vllm.apiKey) gets $VLLM_API_KEY as a bearer token. "
        "Exit status: 0 pass, 1 error rate above --max-error-rate or no completed request, 2 bad input.",
    )
    parser.add_argument("url", metavar="URL", help="the server's base URL, e.g. http://127.0.0.1:8000 (no /v1)")
    parser.add_argument("--model", help="model name to request; default: the first id of GET URL/v1/models")
    parser.add_argument(
        "--prompts",
        type=Path,
        help='JSONL file, one {"prompt": "...", "max_tokens": N} per line; default: the prompts shipped',
    )
    parser.add_argument("--users", type=_positive(int), default=4, help="concurrent users (default: %(default)s)")
    parser.add_argument(
        "--spawn-rate",
        type=_positive(float),
        help="users started per second (default: --users, all within the first second)",
    )
    parser.add_argument(
        "--duration", type=_positive(float), default=60.0, help="seconds of load, at most (default: %(default)g)"
    )
    parser.add_argument(
        "--max-requests", type=_positive(int), default=500, help="requests to send, at most (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the prompt order (default: %(default)s)")
    parser.add_argument(
        "--timeout", type=_positive(float), default=60.0, help="seconds allowed per request (default: %(default)g)"
    )
    parser.add_argument(
        "--max-error-rate",
        type=_fraction,
        default=0.01,
        help="fail when more than this fraction of requests fail (default: %(default)g)",
    )
    cli_options.add_output(parser)
    return parser


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    target = Target.parse(args.url)
    prompts_file = args.prompts or default_prompts_file()
    prompts = load_prompts(prompts_file)
    served = list_models(target, timeout=min(args.timeout, 10.0))
    if args.model is not None and args.model not in served:
        raise UsageError(f"{target.url} does not serve model {args.model!r}; it serves: {', '.join(served)}")
    model = args.model or served[0]
    spawn_rate = args.spawn_rate or float(args.users)
    load = {
        "users": args.users,
        "spawn_rate": spawn_rate,
        "duration_s": args.duration,
        "max_requests": args.max_requests,
        "seed": args.seed,
        "timeout_s": args.timeout,
        "prompts": str(prompts_file),
        "prompt_count": len(prompts),
    }
    print(
        f"loadtest: {target.url} model {model}: {args.users} users for up to {args.duration:g}s "
        f"or {args.max_requests} requests",
        file=sys.stderr,
        flush=True,
    )
    summary = runner.run_worker(
        {
            "url": target.url,
            "model": model,
            "prompts": [{"prompt": p.text, "max_tokens": p.max_tokens} for p in prompts],
            "users": args.users,
            "spawn_rate": spawn_rate,
            "duration": args.duration,
            "max_requests": args.max_requests,
            "seed": args.seed,
            "timeout": args.timeout,
        }
    )
    result = report.build_report(summary, url=target.url, model=model, load=load, max_error_rate=args.max_error_rate)
    print(cli_options.json_report(result) if args.output == "json" else report.render_text(result), flush=True)
    if result["interrupted"]:
        raise KeyboardInterrupt  # the report of what ran is out; exit as interrupted
    return 0 if result["passed"] else 1
