"""The load test's child process: Locust's library API, headless, in a process of its own.

    python -m vllm_serving.loadtest.worker CONFIG.json RESULTS.json

Why a child process: importing Locust monkey-patches the standard library with gevent (socket, ssl,
threading, time.sleep) for the rest of the process, and patching after ``ssl`` has been imported
breaks it (``RecursionError`` in ``ssl.SSLContext``, gevent issue #1016). The tooling's other
modules import ``ssl`` (kubernetes, google-cloud, urllib3), and so does any pytest session that
collects them; running Locust in such a process is unsafe, and patching it would change how every
later test and thread behaves. So `vllm-serving loadtest` checks its inputs in its own process and
runs the load here, where ``locust`` is imported before anything else.

CONFIG is written by ``runner``: url, model, prompts (a list of {"prompt", "max_tokens"}), users,
spawn_rate, duration, max_requests, seed, timeout. RESULTS receives {"summary": ...} (see
``report.summarize``, plus "interrupted") when the run ends, also after a SIGINT.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

# Locust before vllm_serving.loadtest.client: importing locust monkey-patches the standard
# library, which must happen before anything imports ssl or http.client.
import gevent
import gevent.event
from locust.env import Environment

from vllm_serving.endpoint import Target
from vllm_serving.loadtest import report
from vllm_serving.loadtest.locustfile import ChatCompletionsUser, Plan
from vllm_serving.loadtest.prompts import Prompt

PROGRESS_EVERY = 10.0  # seconds between progress lines on stderr
_POLL = 0.02


def run(config: dict[str, Any]) -> dict[str, Any]:
    """Run the load the config describes and return its summary, plus whether SIGINT cut it short."""
    plan = Plan(
        Target.parse(config["url"]),
        config["model"],
        [Prompt(p["prompt"], p["max_tokens"]) for p in config["prompts"]],
        max_requests=config["max_requests"],
        seed=config["seed"],
        timeout=config["timeout"],
    )
    ChatCompletionsUser.plan = plan
    # stop_timeout: at the end of the duration, requests in flight get their own timeout to finish.
    env = Environment(user_classes=[ChatCompletionsUser], host=plan.target.url, stop_timeout=config["timeout"] + 1.0)
    runner = env.create_local_runner()
    # SIGINT (forwarded by the command on Ctrl-C) ends the run at once, with a report of what ran.
    interrupted = gevent.event.Event()
    gevent.signal_handler(signal.SIGINT, interrupted.set)
    start = plan.start_time = time.perf_counter()
    deadline = start + config["duration"]
    next_progress = start + PROGRESS_EVERY
    runner.start(config["users"], spawn_rate=config["spawn_rate"])
    try:
        while not plan.finished and not interrupted.is_set() and (now := time.perf_counter()) < deadline:
            if now >= next_progress:
                _progress(plan, now - start)
                next_progress += PROGRESS_EVERY
            interrupted.wait(_POLL)
        load_end = time.perf_counter()
        bounded_by_count = plan.finished
        plan.close()
        if interrupted.is_set():
            env.stop_timeout = 0  # kill the users now; their requests in flight count as cancelled
        runner.stop()  # waits for requests in flight, up to stop_timeout, then kills their users
    finally:
        runner.quit()
    # The run lasts until its last request ended, or until the end of the duration if that came first.
    last_end = max((s.end for s in plan.samples), default=start)
    end = last_end if bounded_by_count else max(load_end, last_end)
    return {**report.summarize(plan.samples, end - start, plan.cancelled), "interrupted": interrupted.is_set()}


def _progress(plan: Plan, elapsed: float) -> None:
    failed = sum(not s.ok for s in plan.samples)
    completed = len(plan.samples) - failed
    print(
        f"loadtest: {elapsed:.0f}s: {completed} completed, {failed} failed, {plan.in_flight} in flight",
        file=sys.stderr,
        flush=True,
    )


def main(argv: Sequence[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m vllm_serving.loadtest.worker CONFIG.json RESULTS.json", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="loadtest: %(levelname)s: %(message)s")
    with open(argv[0], encoding="utf-8") as f:
        config = json.load(f)
    summary = run(config)
    with open(argv[1], "w", encoding="utf-8") as f:
        json.dump({"summary": summary}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
