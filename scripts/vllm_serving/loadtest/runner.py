"""The load of `vllm-serving loadtest`, run in a child process (see ``worker`` for why not in this one), which
stops by itself after the duration or the request count; the summary comes back to this process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from vllm_serving import extras
from vllm_serving.errors import VllmServingError

# The worker needs time to import Locust and to stop; beyond duration + timeout, this much more.
_WORKER_SLACK = 60.0
_INTERRUPT_GRACE = 15.0  # seconds the worker has to report after Ctrl-C


def run_worker(config: dict[str, Any]) -> dict[str, Any]:
    """Run the load in a child process and return its summary."""
    extras.require("loadtest", "loadtest")  # also when called as a library, not through the CLI
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    limit = config["duration"] + config["timeout"] + _WORKER_SLACK
    with tempfile.TemporaryDirectory(prefix="vllm-serving-loadtest-") as tmp:
        config_file, results_file = Path(tmp, "config.json"), Path(tmp, "results.json")
        config_file.write_text(json.dumps(config), encoding="utf-8")
        command = [sys.executable, "-m", "vllm_serving.loadtest.worker", str(config_file), str(results_file)]
        # A session of its own: Ctrl-C reaches this process only, which forwards one SIGINT to the worker.
        with subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, start_new_session=True) as child:
            try:
                status = child.wait(timeout=limit)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
                raise VllmServingError(f"the load-test worker did not stop within {limit:g}s; it was killed") from None
            except KeyboardInterrupt:
                status = _interrupt(child)
        if status != 0 or not results_file.exists():
            raise VllmServingError(f"the load-test worker failed (exit status {status}); see its messages above")
        return json.loads(results_file.read_text(encoding="utf-8"))["summary"]


def _interrupt(child: subprocess.Popen) -> int:
    """Ask the worker to stop and report what ran; kill it if it does not, or on a second Ctrl-C."""
    child.send_signal(signal.SIGINT)
    try:
        return child.wait(timeout=_INTERRUPT_GRACE)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        child.kill()
        child.wait()
        raise KeyboardInterrupt from None
