"""What a command needs from its surroundings, injectable for tests: clients, clock, streams, intervals."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from vllm_serving.bake.clients import Clients
from vllm_serving.bake.clock import Clock, SystemClock


@dataclass
class Runtime:
    clients: Clients = field(default_factory=Clients.from_env)
    clock: Clock = field(default_factory=SystemClock)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    poll_interval: float = 5.0  # between polls of an operation
    serial_interval: float = 10.0  # between reads of the build VM's serial console
    retry_delay: float = 2.0  # first back-off after a transient API error (doubles)
    tty: bool | None = None  # None: ask the stderr stream


def run_bake_command(
    parser: argparse.ArgumentParser,
    argv: Sequence[str],
    plan_from: Callable[[argparse.Namespace], Any],
    bake: Callable[[Any, Runtime, Any], dict[str, Any]],
    render_text: Callable[[dict[str, Any]], str],
    runtime: Runtime | None,
) -> int:
    """The shape of every bake sub-command: parse, plan, bake with progress, print text or JSON."""
    from vllm_serving.bake import options
    from vllm_serving.bake.progress import Progress

    args = options.parse(parser, argv)
    if isinstance(args, int):
        return args
    plan = plan_from(args)
    runtime = runtime or Runtime()
    result = bake(plan, runtime, Progress(runtime.stderr, runtime.clock, tty=runtime.tty))
    runtime.stdout.write((json.dumps(result, indent=2) if args.output == "json" else render_text(result)) + "\n")
    return 0
