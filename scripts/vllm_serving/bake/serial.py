"""Watching the build VM's serial console for the startup script's markers.

The script prints, and the guest agent copies to serial port 1 (with a prefix of its own)::

    VLLM-SERVING-BAKE[<run id>] STEP: pulling docker.io/vllm/vllm-openai:v0.33.0
    VLLM-SERVING-BAKE[<run id>] SUCCESS
    VLLM-SERVING-BAKE[<run id>] FAILURE: cannot pull docker.io/vllm/vllm-openai:v0.33.0

Only markers with this run's id count (``unknown`` too: the script could not read its arguments).
The guest agent's own report of a failed startup script is a failure as well.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable

from vllm_serving.errors import CloudError
from vllm_serving.gcp.clock import Clock, format_duration
from vllm_serving.gcp.progress import Progress

MARKER = "VLLM-SERVING-BAKE"
_MARKER = re.compile(rf"{MARKER}\[(?P<run>[a-z0-9-]+)\] (?P<kind>STEP|SUCCESS|FAILURE)(?::\s*(?P<text>.*))?")
_AGENT_FAILURE = re.compile(r'[Ss]cript "?startup-script"? failed|startup-script exit status [1-9]')
_CONTEXT_LINES = 15


class ScriptFailed(CloudError):
    """The startup script reported a failure."""


class ScriptTimeout(CloudError):
    """The startup script reported nothing conclusive in time."""


def marker_line(run_id: str, kind: str, text: str = "") -> str:
    """A marker line as the script prints it (for tests and fakes)."""
    return f"{MARKER}[{run_id}] {kind}" + (f": {text}" if text else "")


class SerialWatcher:
    def __init__(
        self,
        read: Callable[[int], tuple[str, int]],
        run_id: str,
        *,
        clock: Clock,
        interval: float,
        timeout: float,
        progress: Progress,
        vm: str,
    ):
        self.read = read
        self.run_id = run_id
        self.clock = clock
        self.interval = interval
        self.timeout = timeout
        self.progress = progress
        self.vm = vm
        self.recent: deque[str] = deque(maxlen=_CONTEXT_LINES)
        self.step = "starting up"
        self._partial = ""
        self._offset = 0

    def wait(self) -> None:
        """Return on SUCCESS; raise ScriptFailed on FAILURE, ScriptTimeout when time is up."""
        started = self.clock.now()
        while True:
            text, self._offset = self.read(self._offset)
            if self._scan(text):
                return
            elapsed = self.clock.now() - started
            if elapsed >= self.timeout:
                raise ScriptTimeout(
                    f"the build VM {self.vm} reported no result within {format_duration(self.timeout)} "
                    f"(last step: {self.step}); raise --timeout if the images are large" + self._context()
                )
            self.progress.wait(elapsed, self.timeout, self.step)
            self.clock.sleep(min(self.interval, self.timeout - elapsed))

    def _scan(self, text: str) -> bool:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()  # an unfinished line waits for the next read
        for raw in lines:
            line = raw.rstrip("\r")
            self.recent.append(line)
            match = _MARKER.search(line)
            if match and match["run"] in (self.run_id, "unknown"):
                if match["kind"] == "SUCCESS":
                    return True
                if match["kind"] == "FAILURE":
                    raise ScriptFailed(
                        f"the build VM {self.vm} failed: {match['text'] or 'no reason given'}" + self._context()
                    )
                self.step = match["text"] or self.step
            elif _AGENT_FAILURE.search(line):
                raise ScriptFailed(
                    f"the build VM {self.vm}: the startup script failed (step: {self.step})" + self._context()
                )
        return False

    def _context(self) -> str:
        if not self.recent:
            return ""
        return "\nlast lines of its serial console:\n" + "\n".join(f"  {line}" for line in self.recent)
