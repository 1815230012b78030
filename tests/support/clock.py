"""A clock for tests: ``sleep`` advances time at once, and can raise on a chosen call."""

from __future__ import annotations

from collections.abc import Callable


class FakeClock:
    def __init__(self, start: float = 1000.0):
        self.time = start
        self.sleeps: list[float] = []
        # Called before each sleep with the number of sleeps so far; may raise (e.g. KeyboardInterrupt).
        self.on_sleep: Callable[[int], None] | None = None

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        if self.on_sleep is not None:
            self.on_sleep(len(self.sleeps))
        self.sleeps.append(seconds)
        self.time += seconds
