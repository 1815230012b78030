"""What a command needs from its surroundings, injectable for tests: clients, clock, streams, intervals."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TextIO

from vllm_serving.gcp.clients import Clients
from vllm_serving.gcp.clock import Clock, SystemClock


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
