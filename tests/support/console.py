"""Serial consoles for the fake's build VMs: what the bake startup script would print, on demand.

fake.compute.serial_source = startup_console("success")        # verdict on the 3rd read
fake.compute.serial_source = startup_console("failure", reason="cannot pull x")
"""

from __future__ import annotations

from collections.abc import Callable

from vllm_serving.bake import build_vm
from vllm_serving.bake.build_vm import marker_line

BEHAVIOURS = ("success", "failure", "silent", "agent-failure", "other-run", "split")


def script_args(instance: dict) -> list[str]:
    """The startup script's arguments from a fake instance's metadata."""
    items = (instance.get("metadata") or {}).get("items") or []
    value = next((i["value"] for i in items if i["key"] == build_vm.ARGS_ATTRIBUTE), "")
    return value.split("\n")


def run_id_of(instance: dict) -> str:
    args = script_args(instance)
    return args[args.index("--run-id") + 1]


def startup_console(
    behaviour: str, *, after: int = 3, reason: str = "cannot pull docker.io/x/y:1"
) -> Callable[[dict, int], str]:
    """A serial source: boot lines on read 1, a STEP line until read ``after``, then the verdict.

    success / failure: the script's markers; agent-failure: the guest agent's report of a failed
    script; other-run: a SUCCESS marker of another run; silent: nothing; split: a SUCCESS marker
    cut in two across reads ``after`` and ``after + 1``.
    """
    if behaviour not in BEHAVIOURS:
        raise ValueError(f"unknown console behaviour {behaviour!r}")

    def source(instance: dict, read: int) -> str:
        run = run_id_of(instance)
        success = f"startup-script: {marker_line(run, 'SUCCESS')}\n"
        if read == 1:
            return "Booting Debian GNU/Linux\ngoogle_metadata_script_runner: starting startup scripts\n"
        if read < after:
            return f"startup-script: {marker_line(run, 'STEP', 'pulling images')}\n"
        if behaviour == "split" and read in (after, after + 1):
            return success[:20] if read == after else success[20:]
        if read > after:
            return ""
        return {
            "success": success,
            "failure": f"startup-script: {marker_line(run, 'FAILURE', reason)}\n",
            "agent-failure": 'google_metadata_script_runner: Script "startup-script" failed with error: '
            "exit status 1\n",
            "other-run": f"startup-script: {marker_line('20000101-000000-0000', 'SUCCESS')}\n",
        }.get(behaviour, "")

    return source
