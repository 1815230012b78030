"""``vllm-serving bake SUBCOMMAND``: image-cache and weights-disk (vllm_serving.bake.image_cache and weights_disk,
each a ``main``) and ``cleanup`` (here), which removes what crashed bake runs left behind."""

from __future__ import annotations

import argparse
import importlib
import re
from collections.abc import Sequence

from vllm_serving import cli_options
from vllm_serving.bake.baker import find_leftovers, sweep, temporary_filter
from vllm_serving.errors import UsageError
from vllm_serving.gcp import options
from vllm_serving.gcp.compute import Gce
from vllm_serving.gcp.operations import Waiter
from vllm_serving.gcp.options import Parser, add_output, add_project, parse
from vllm_serving.gcp.progress import Progress
from vllm_serving.gcp.runtime import Runtime

# name -> (module:function, help); a bake's module is imported only when asked for
SUBCOMMANDS = {
    "image-cache": ("vllm_serving.bake.image_cache:main", "bake container images into a secondary-boot-disk image"),
    "weights-disk": ("vllm_serving.bake.weights_disk:main", "bake model weights into an image and a pd-ssd per zone"),
    "cleanup": ("vllm_serving.commands.bake:cleanup", "remove what crashed bake runs left behind"),
}


def usage() -> str:
    lines = ["usage: vllm-serving bake SUBCOMMAND [ARGS...]", "", "subcommands:"]
    lines += [f"  {name:<13} {help_}" for name, (_, help_) in SUBCOMMANDS.items()]
    lines += ["", "Run `vllm-serving bake SUBCOMMAND --help` for its options."]
    return "\n".join(lines)


def main(argv: Sequence[str], *, runtime: Runtime | None = None) -> int:
    argv = list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        (runtime.stdout.write(usage() + "\n") if runtime else print(usage()))
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        raise UsageError(f"unknown bake subcommand {name!r}: use one of {', '.join(SUBCOMMANDS)}")
    module, _, function = SUBCOMMANDS[name][0].partition(":")
    return getattr(importlib.import_module(module), function)(rest, runtime=runtime)


# -- cleanup ----------------------------------------------------------------------------------------

_RUN_ID = re.compile(r"^[a-z0-9-]{1,63}$")


def cleanup_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="vllm-serving bake cleanup", description="Remove temporary VMs and disks left behind by bake runs."
    )
    add_project(parser)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--run-id", help="only the resources of this run (printed by the failed run)")
    which.add_argument("--all", action="store_true", help="the leftovers of every run (none may be running)")
    parser.add_argument("--dry-run", action="store_true", help="list them, delete nothing")
    parser.add_argument("--operation-timeout", default="30m", help="how long one deletion may take (default 30m)")
    add_output(parser)
    return parser


def cleanup(argv: Sequence[str], *, runtime: Runtime | None = None) -> int:
    """``vllm-serving bake cleanup``: every temporary VM and disk carries the label vllm-serving-bake=<run id>;
    images and per-zone disks (the outputs) do not, and are never touched here."""
    args = parse(cleanup_parser(), argv)
    if isinstance(args, int):
        return args
    project = options.project(args.project)
    if args.run_id and not _RUN_ID.match(args.run_id):
        raise UsageError(f"--run-id: {args.run_id!r} is not a run id (e.g. 20250101-120000-a1b2)")
    timeout = options.duration("--operation-timeout", args.operation_timeout)
    runtime = runtime or Runtime()
    progress = Progress(runtime.stderr, runtime.clock, tty=runtime.tty)
    gce = Gce(runtime, Waiter(runtime, progress), project, timeout=timeout)
    filter_ = temporary_filter(run_id=args.run_id)
    if args.dry_run:
        found = [
            f"{kind} {name}" + (f" in {zone}" if zone else "") for kind, name, zone in find_leftovers(gce, filter_)
        ]
        removed: list[str] = []
    else:
        found = removed = sweep(gce, filter_, progress)
    if args.output == "json":
        runtime.stdout.write(cli_options.json_report({"found": found, "removed": removed}) + "\n")
    elif not found:
        runtime.stdout.write("Nothing to clean up.\n")
    else:
        verb = "Would remove" if args.dry_run else "Removed"
        runtime.stdout.write("\n".join(f"{verb} {item}" for item in found) + "\n")
    return 0
