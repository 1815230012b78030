"""Step-by-step progress on stderr, with a progress bar on long waits when stderr is a terminal.

Off a terminal (CI logs, ``--output json``) there is no carriage-return redrawing: a wait
prints a line when its detail changes and otherwise at most once a minute.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from vllm_serving.gcp.clock import Clock, SystemClock, format_duration

_BAR_WIDTH = 24
_QUIET_INTERVAL = 60.0


class Progress:
    def __init__(self, stream: TextIO | None = None, clock: Clock | None = None, *, tty: bool | None = None):
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock or SystemClock()
        self.tty = self.stream.isatty() if tty is None else tty
        self.steps = 0
        self._bar_open = False
        self._last_detail: str | None = None
        self._last_line_at = 0.0

    def _write(self, text: str) -> None:
        if self._bar_open:
            self.stream.write("\n")
            self._bar_open = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def info(self, text: str) -> None:
        self._write(text)

    def warn(self, text: str) -> None:
        self._write(f"warning: {text}")

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        """``[n] title`` then ``ok`` or ``failed`` with the time it took."""
        self.steps += 1
        self._write(f"[{self.steps}] {title}")
        started = self.clock.now()
        self._last_detail = None
        try:
            yield
        except BaseException:
            self._write(f"    failed after {format_duration(self.clock.now() - started)}")
            raise
        self._write(f"    ok ({format_duration(self.clock.now() - started)})")

    def wait(self, elapsed: float, total: float, detail: str = "") -> None:
        """Report a wait that may last up to ``total`` seconds."""
        if self.tty:
            filled = min(_BAR_WIDTH, int(_BAR_WIDTH * elapsed / total)) if total > 0 else 0
            bar = "#" * filled + "." * (_BAR_WIDTH - filled)
            line = f"    [{bar}] {format_duration(elapsed)} of {format_duration(total)} {detail}"[:120]
            self.stream.write("\r" + line.ljust(120))
            self.stream.flush()
            self._bar_open = True
            return
        if detail != self._last_detail or elapsed - self._last_line_at >= _QUIET_INTERVAL:
            self._last_detail, self._last_line_at = detail, elapsed
            self._write(
                f"    {format_duration(elapsed)} of at most {format_duration(total)}"
                + (f": {detail}" if detail else "")
            )
