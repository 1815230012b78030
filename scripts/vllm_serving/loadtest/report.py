"""From per-request samples to the load test's report: rates, percentiles, errors, verdict, text table.

Pure functions over ``client.Sample`` objects; nothing here talks to a server or imports Locust.
Latencies in the report are milliseconds, rates are per second of the run's wall time.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from vllm_serving.loadtest.client import Sample

PERCENTILES = (50, 90, 95, 99)
MAX_REASONS = 20  # distinct error reasons kept in the report (most frequent first)
TEXT_REASONS = 5  # of which the text table shows


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100) of sorted values, linearly interpolated between closest ranks."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    rank = (len(sorted_values) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


def distribution_ms(seconds: Iterable[float]) -> dict[str, float] | None:
    """count, mean, min, p50..p99 and max of durations given in seconds, in milliseconds; None if empty."""
    values = sorted(seconds)
    if not values:
        return None
    stats: dict[str, float] = {
        "count": len(values),
        "mean": _ms(math.fsum(values) / len(values)),
        "min": _ms(values[0]),
    }
    stats.update({f"p{p}": _ms(percentile(values, p)) for p in PERCENTILES})
    stats["max"] = _ms(values[-1])
    return stats


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def summarize(samples: Sequence[Sample], elapsed_s: float, cancelled: int = 0) -> dict[str, Any]:
    """The measurements of a run: ``samples`` are the finished requests, ``cancelled`` those cut off at the end."""
    completed = [s for s in samples if s.ok]
    failed = [s for s in samples if not s.ok]
    tokens = sum(s.output_tokens for s in completed)
    with_usage = sum(s.usage_tokens is not None for s in completed)
    if not completed:
        token_source = None
    elif with_usage == len(completed):
        token_source = "usage"
    else:
        token_source = "chunks" if with_usage == 0 else "mixed"
    reasons = sorted(Counter(s.error or "unknown" for s in failed).items(), key=lambda kv: (-kv[1], kv[0]))
    per_second = (lambda n: round(n / elapsed_s, 3)) if elapsed_s > 0 else (lambda n: 0.0)
    return {
        "elapsed_s": round(elapsed_s, 3),
        "requests": {
            "started": len(samples) + cancelled,
            "completed": len(completed),
            "failed": len(failed),
            "cancelled": cancelled,
        },
        "request_rate": per_second(len(completed)),
        "output_tokens": tokens,
        "output_token_rate": per_second(tokens),
        "token_source": token_source,
        "ttft_ms": distribution_ms(s.ttft for s in completed if s.ttft is not None),
        "itl_ms": distribution_ms(gap for s in completed for gap in s.itls),
        "e2e_ms": distribution_ms(s.e2e for s in completed),
        "errors": {
            "count": len(failed),
            "rate": round(len(failed) / len(samples), 6) if samples else 0.0,
            "reasons": [{"reason": reason, "count": count} for reason, count in reasons[:MAX_REASONS]],
        },
    }


def verdict(summary: dict[str, Any], max_error_rate: float) -> list[str]:
    """Why the run fails (empty when it passes): an error rate above the limit, or no completed request."""
    failures = []
    if summary["requests"]["completed"] == 0:
        failures.append("no request completed")
    errors = summary["errors"]
    if errors["rate"] > max_error_rate:
        finished = summary["requests"]["completed"] + errors["count"]
        failures.append(
            f"error rate {errors['rate']:.2%} ({errors['count']} of {finished} requests) "
            f"exceeds --max-error-rate {max_error_rate:.2%}"
        )
    return failures


def build_report(
    summary: dict[str, Any], *, url: str, model: str, load: dict[str, Any], max_error_rate: float
) -> dict[str, Any]:
    """The whole report (what ``--output json`` prints): target, load, measurements, verdict."""
    failures = verdict(summary, max_error_rate)
    return {
        "url": url,
        "model": model,
        "load": load,
        "interrupted": False,
        **summary,
        "max_error_rate": max_error_rate,
        "passed": not failures,
        "failures": failures,
    }


def render_text(report: dict[str, Any]) -> str:
    load, requests, errors = report["load"], report["requests"], report["errors"]
    lines = [
        f"target       {report['url']}  model {report['model']}",
        f"load         {load['users']} users (spawn {load['spawn_rate']:g}/s), {_bounds(load)}, "
        f"{load['prompt_count']} prompts, seed {load['seed']}",
        f"requests     {requests['completed']} completed, {requests['failed']} failed, "
        f"{requests['cancelled']} cancelled in {report['elapsed_s']:.1f}s",
        f"throughput   {report['request_rate']:.2f} requests/s, {report['output_token_rate']:.1f} output tokens/s "
        f"({report['output_tokens']} tokens{_token_source(report['token_source'])})",
        "",
        f"{'latency (ms)':<14}" + "".join(f"{name:>10}" for name in ("p50", "p90", "p95", "p99", "mean", "max")),
    ]
    for label, key in (("TTFT", "ttft_ms"), ("ITL", "itl_ms"), ("end-to-end", "e2e_ms")):
        stats = report[key]
        cells = ("p50", "p90", "p95", "p99", "mean", "max")
        row = "".join(f"{stats[c]:>10.1f}" for c in cells) if stats else f"{'-':>10}" * len(cells)
        lines.append(f"  {label:<12}{row}")
    lines += ["", f"errors       {errors['count']} ({errors['rate']:.2%}; limit {report['max_error_rate']:.2%})"]
    shown = errors["reasons"][:TEXT_REASONS]
    lines += [f"  {entry['count']:>6}  {entry['reason']}" for entry in shown]
    hidden = len(errors["reasons"]) - len(shown)
    if hidden > 0:
        lines.append(f"  ... and {hidden} more reasons (see --output json)")
    result = "PASS" if report["passed"] else "FAIL: " + "; ".join(report["failures"])
    if report["interrupted"]:
        result += " (interrupted: the run was cut short)"
    lines += ["", f"result       {result}"]
    return "\n".join(lines)


def _token_source(source: str | None) -> str:
    return {
        "usage": ", counted by the server",
        "chunks": ", counted as content chunks: the server sent no usage",
        "mixed": ", partly counted as content chunks",
    }.get(source or "", "")


def _bounds(load: dict[str, Any]) -> str:
    bounds = [f"{load['duration_s']:g}s"] if load.get("duration_s") else []
    bounds += [f"{load['max_requests']} requests"] if load.get("max_requests") else []
    return "up to " + " or ".join(bounds) if bounds else "unbounded"
