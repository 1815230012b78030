"""The Locust user of `vllm-serving loadtest`: closed-loop streamed chat completions.

Each user sends one request after another (no wait time), each with the next prompt of a seeded
shuffle of the prompts file, and measures it with ``client.ChatClient``. A shared ``Plan`` hands out
the prompts, bounds the number of requests and collects the samples.

`vllm-serving loadtest` runs this file through Locust's library API in a child process (see
``worker``). It also runs under Locust itself, headless or with its web UI (one test per process: the
plan, its request budget and its report belong to the process):

    locust -f "$(python -c 'import vllm_serving.loadtest.locustfile as m; print(m.__file__)')" \\
        --host http://127.0.0.1:8000 --max-requests 200 [--model M] [--prompts FILE] [--seed N]

and then prints the same report as `vllm-serving loadtest` when Locust quits (which it does by itself
once --max-requests requests have ended), exiting 1 when the run fails --max-error-rate.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import ClassVar

import gevent
from locust import User, constant, events, task
from locust.exception import StopUser

from vllm_serving.endpoint import Target
from vllm_serving.errors import VllmServingError
from vllm_serving.loadtest import report
from vllm_serving.loadtest.client import CHAT_PATH, ChatClient, Sample, list_models
from vllm_serving.loadtest.prompts import Prompt, load_prompts, prompt_order

logger = logging.getLogger(__name__)


class Plan:
    """The run's shared state: the k-th request's prompt, the request budget, the finished samples.

    Locust users are greenlets of one thread, so plain counters are safe.
    """

    def __init__(
        self,
        target: Target,
        model: str,
        prompts: list[Prompt],
        *,
        max_requests: int | None,
        seed: int,
        timeout: float,
    ):
        if not prompts:
            raise ValueError("a plan needs prompts")
        self.target = target
        self.model = model
        self.prompts = prompts
        self.max_requests = max_requests
        self.timeout = timeout
        self.started = 0
        self.in_flight = 0
        self.samples: list[Sample] = []
        self.closed = False
        self.start_time = time.perf_counter()
        self._order = prompt_order(len(prompts), seed)

    def take(self) -> Prompt | None:
        """The next request's prompt, or None when the run takes no more requests."""
        if self.closed or (self.max_requests is not None and self.started >= self.max_requests):
            return None
        self.started += 1
        self.in_flight += 1
        return self.prompts[next(self._order)]

    def record(self, sample: Sample) -> None:
        self.samples.append(sample)
        self.in_flight -= 1

    def close(self) -> None:
        """Start no more requests (those in flight still finish)."""
        self.closed = True

    @property
    def finished(self) -> bool:
        """Every request the plan allows has started and ended."""
        exhausted = self.closed or (self.max_requests is not None and self.started >= self.max_requests)
        return exhausted and self.in_flight == 0

    @property
    def cancelled(self) -> int:
        """Requests that started but never ended (their users were killed at the end of the run)."""
        return self.started - len(self.samples)


class RequestFailed(Exception):
    """What Locust's own statistics see for a failed request; the message is the error reason."""


class ChatCompletionsUser(User):
    wait_time = constant(0)
    plan: ClassVar[Plan | None] = None  # set by the worker, or by on_test_start when run by `locust -f`

    def on_start(self) -> None:
        # Without a plan (on_test_start could not build one, and said why) the task stops the user.
        if self.plan is not None:
            self.client = ChatClient(self.plan.target, self.plan.timeout)

    def on_stop(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()

    @task
    def chat_completion(self) -> None:
        plan = self.plan
        if plan is None:
            raise StopUser
        prompt = plan.take()
        if prompt is None:
            if plan.finished and self.environment.parsed_options is not None and self.environment.runner:
                # Under `locust -f`: the request budget is spent, so stop (from outside the users' greenlets).
                gevent.spawn(self.environment.runner.quit)
            raise StopUser
        start = time.perf_counter()
        try:
            sample = self.client.chat(plan.model, prompt.text, prompt.max_tokens)
        except Exception as err:  # a bug of the client must show up as an error reason, not vanish
            sample = Sample(start=start, end=time.perf_counter(), error=f"client error: {type(err).__name__}: {err}")
        plan.record(sample)
        self.environment.events.request.fire(
            request_type="POST",
            name=CHAT_PATH,
            response_time=sample.e2e * 1000,
            response_length=sample.output_tokens if sample.ok else 0,
            exception=None if sample.ok else RequestFailed(sample.error),
            context={},
        )


# ---- running under `locust -f` (the worker builds its own Environment and never fires these) ----


@events.init_command_line_parser.add_listener
def _add_arguments(parser, **_kwargs) -> None:
    group = parser.add_argument_group("vllm-serving loadtest")
    group.add_argument("--model", default=None, help="model name; default: the first of GET HOST/v1/models")
    group.add_argument("--prompts", default=None, help="JSONL prompts file; default: the one shipped")
    group.add_argument("--max-requests", type=int, default=None, help="stop starting requests after this many")
    group.add_argument("--seed", type=int, default=0, help="seed of the prompt order")
    group.add_argument("--request-timeout", type=float, default=60.0, help="seconds allowed per request")
    group.add_argument(
        "--max-error-rate", type=float, default=0.01, help="exit 1 when more than this fraction of requests fail"
    )


@events.test_start.add_listener
def _on_test_start(environment, **_kwargs) -> None:
    options = environment.parsed_options
    if ChatCompletionsUser.plan is not None or options is None:
        return
    try:
        if not environment.host:
            raise VllmServingError("give the server's base URL with --host, e.g. --host http://127.0.0.1:8000")
        target = Target.parse(environment.host)
        prompts = load_prompts(options.prompts)
        served = list_models(target)
        if options.model is not None and options.model not in served:
            raise VllmServingError(
                f"{target.url} does not serve model {options.model!r}; it serves: {', '.join(served)}"
            )
        model = options.model or served[0]
        ChatCompletionsUser.plan = Plan(
            target,
            model,
            prompts,
            max_requests=options.max_requests,
            seed=options.seed,
            timeout=options.request_timeout,
        )
    except VllmServingError as err:
        logger.error("error: %s", err)
        environment.process_exit_code = 2
        if environment.runner is not None:
            environment.runner.quit()


@events.quitting.add_listener
def _on_quitting(environment, **_kwargs) -> None:
    plan = ChatCompletionsUser.plan
    if plan is None or environment.parsed_options is None or not plan.samples:
        return
    summary = report.summarize(plan.samples, time.perf_counter() - plan.start_time, plan.cancelled)
    load = {
        "users": environment.parsed_options.num_users,
        "spawn_rate": environment.parsed_options.spawn_rate,
        "duration_s": environment.parsed_options.run_time or 0,
        "max_requests": plan.max_requests,
        "seed": environment.parsed_options.seed,
        "timeout_s": plan.timeout,
        "prompt_count": len(plan.prompts),
    }
    max_error_rate = environment.parsed_options.max_error_rate
    result = report.build_report(
        summary, url=plan.target.url, model=plan.model, load=load, max_error_rate=max_error_rate
    )
    print(report.render_text(result), file=sys.stderr)
    if environment.process_exit_code is None:  # our verdict, not Locust's "any failure is a failure"
        environment.process_exit_code = 0 if result["passed"] else 1
