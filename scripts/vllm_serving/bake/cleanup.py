"""``vllm-serving bake cleanup``: remove the temporary resources that crashed bake runs left behind.

Every temporary VM and disk carries the label vllm-serving-bake=<run id>; images and per-zone
disks (the outputs) do not, and are never touched here.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Sequence

from vllm_serving.bake import options, sweep, validate
from vllm_serving.bake.content import temporary_filter
from vllm_serving.errors import UsageError
from vllm_serving.gcp.compute import Gce
from vllm_serving.gcp.operations import Waiter
from vllm_serving.gcp.progress import Progress
from vllm_serving.gcp.runtime import Runtime

_RUN_ID = re.compile(r"^[a-z0-9-]{1,63}$")


def build_parser() -> argparse.ArgumentParser:
    parser = options.Parser(
        prog="vllm-serving bake cleanup", description="Remove temporary VMs and disks left behind by bake runs."
    )
    options.add_project(parser)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--run-id", help="only the resources of this run (printed by the failed run)")
    which.add_argument("--all", action="store_true", help="the leftovers of every run (none may be running)")
    parser.add_argument("--dry-run", action="store_true", help="list them, delete nothing")
    parser.add_argument("--operation-timeout", default="30m", help="how long one deletion may take (default 30m)")
    options.add_output(parser)
    return parser


def main(argv: Sequence[str], *, runtime: Runtime | None = None) -> int:
    args = options.parse(build_parser(), argv)
    if isinstance(args, int):
        return args
    project = validate.project(args.project)
    if args.run_id and not _RUN_ID.match(args.run_id):
        raise UsageError(f"--run-id: {args.run_id!r} is not a run id (e.g. 20250101-120000-a1b2)")
    timeout = validate.duration("--operation-timeout", args.operation_timeout)
    runtime = runtime or Runtime()
    progress = Progress(runtime.stderr, runtime.clock, tty=runtime.tty)
    gce = Gce(runtime, Waiter(runtime, progress), project, timeout=timeout)
    filter_ = temporary_filter(run_id=args.run_id)
    if args.dry_run:
        found = [f"{kind} {name}" + (f" in {zone}" if zone else "") for kind, name, zone in sweep.find(gce, filter_)]
        removed: list[str] = []
    else:
        found = removed = sweep.sweep(gce, filter_, progress)
    if args.output == "json":
        runtime.stdout.write(json.dumps({"found": found, "removed": removed}, indent=2) + "\n")
    elif not found:
        runtime.stdout.write("Nothing to clean up.\n")
    else:
        verb = "Would remove" if args.dry_run else "Removed"
        runtime.stdout.write("\n".join(f"{verb} {item}" for item in found) + "\n")
    return 0
