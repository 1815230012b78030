"""What runs on the temporary build VM and how its verdict comes back.

The VM's startup script is ``startup.sh`` (shipped in the package); its arguments reach it as instance
metadata. The script prints markers, and the guest agent copies them to serial port 1 (with a prefix
of its own)::

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
from importlib import resources

from vllm_serving.errors import CloudError
from vllm_serving.gcp.clock import Clock, format_duration
from vllm_serving.gcp.progress import Progress

DEVICE_NAME = "vllm-serving-bake-data"  # the data disk appears as /dev/disk/by-id/google-<this>
ARGS_ATTRIBUTE = "vllm-serving-bake-args"


def script_text() -> str:
    return resources.files("vllm_serving.bake").joinpath("startup.sh").read_text()


def metadata_items(args: list[str]) -> dict[str, str]:
    """Instance metadata: the script, and its arguments one per line (none may contain a newline)."""
    for arg in args:
        if "\n" in arg:
            raise ValueError(f"startup script argument {arg!r} contains a newline")
    return {"startup-script": script_text(), ARGS_ATTRIBUTE: "\n".join(args)}


def image_cache_args(run_id: str, content: str, images: list[str], *, auth: str) -> list[str]:
    return ["image-cache", "--run-id", run_id, "--content", content, "--auth", auth, "--", *images]


def weights_args(
    run_id: str, content: str, source: str, *, revision: str | None, hf_token_secret: str | None
) -> list[str]:
    args = ["weights", "--run-id", run_id, "--content", content, "--source", source]
    if revision:
        args += ["--revision", revision]
    if hf_token_secret:
        args += ["--hf-token-secret", hf_token_secret]
    return args


def verify_args(run_id: str, content: str, images: list[str] = ()) -> list[str]:
    return ["verify", "--run-id", run_id, "--content", content, "--", *images]


# -- the serial console ------------------------------------------------------------------------------

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
