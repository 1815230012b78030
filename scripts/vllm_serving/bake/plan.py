"""What every bake run needs (BakePlan), the options that fill it and their checks (all before any API call),
and the shape of a bake sub-command (parse, plan, bake with progress, print)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from vllm_serving import cli_options
from vllm_serving.bake.baker import RESERVED_LABELS, VmSpec
from vllm_serving.errors import UsageError
from vllm_serving.gcp import options
from vllm_serving.gcp.options import add_output, add_project, parse
from vllm_serving.gcp.progress import Progress
from vllm_serving.gcp.runtime import Runtime


@dataclass
class BakePlan:
    """What every bake run needs: where it runs, what it makes, how long it may take."""

    project: str
    zone: str
    content: str  # hash of what goes on the disk: the idempotency label
    image_name: str
    family: str | None
    labels: dict[str, str]
    vm: VmSpec
    script_timeout: float
    operation_timeout: float
    storage_location: str | None
    force: bool
    verify: bool


def add_bake(parser: argparse.ArgumentParser, *, timeout: str, disk_type: str) -> None:
    """Options every bake command has: where, how long, labels, the build VM."""
    add_project(parser)
    parser.add_argument("--zone", required=True, help="zone of the temporary build VM and disk, e.g. us-central1-a")
    parser.add_argument("--image-name", help="name of the disk image to create (default: derived from the content)")
    parser.add_argument("--family", help="image family to put the image in")
    parser.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="label for every resource created (repeatable)",
    )
    parser.add_argument("--storage-location", help="where the image is stored (e.g. us); default: nearest")
    parser.add_argument("--build-disk-type", default=disk_type, help=f"type of the build disk (default {disk_type})")
    parser.add_argument(
        "--timeout", default=timeout, help=f"how long the build VM may take to fill the disk (default {timeout})"
    )
    parser.add_argument("--operation-timeout", default="30m", help="how long one API operation may take (default 30m)")
    parser.add_argument("--force", action="store_true", help="rebuild even if an image with the same content exists")
    parser.add_argument(
        "--verify",
        action="store_true",
        help="afterwards, boot a VM on a disk made from the image and check its contents",
    )
    add_output(parser)
    vm = parser.add_argument_group("build VM")
    vm.add_argument("--machine-type", default="e2-standard-8", help="(default e2-standard-8)")
    vm.add_argument("--boot-image", default=VmSpec.boot_image, help=f"(default {VmSpec.boot_image})")
    vm.add_argument("--boot-disk-size-gb", type=int, default=None, help="boot disk size")
    vm.add_argument("--network", default="global/networks/default", help="(default global/networks/default)")
    vm.add_argument("--subnet", help="subnetwork, e.g. regions/us-central1/subnetworks/NAME")
    vm.add_argument(
        "--no-external-ip",
        dest="external_ip",
        action="store_false",
        help="no external IP (the subnet then needs Cloud NAT or Private Google Access)",
    )
    vm.add_argument(
        "--service-account",
        default="default",
        help="service account of the build VM (default: the Compute Engine default)",
    )


def vm_spec(args: argparse.Namespace, *, boot_disk_size_gb: int) -> VmSpec:
    size = args.boot_disk_size_gb or boot_disk_size_gb
    options.size_gb("--boot-disk-size-gb", size)
    if not args.machine_type or not all(c.isalnum() or c == "-" for c in args.machine_type):
        raise UsageError(f"--machine-type: {args.machine_type!r} is not a machine type (e.g. e2-standard-8)")
    return VmSpec(
        machine_type=args.machine_type,
        boot_image=args.boot_image,
        boot_disk_size_gb=size,
        network=args.network,
        subnet=args.subnet,
        external_ip=args.external_ip,
        service_account=args.service_account,
    )


def checked_common(args: argparse.Namespace) -> dict:
    """The BakePlan fields every bake command shares (all but content, image_name and vm), checked."""
    checked = {
        "project": options.project(args.project),
        "zone": options.zone("--zone", args.zone),
        "labels": options.labels("--label", args.label, RESERVED_LABELS),
        "script_timeout": options.duration("--timeout", args.timeout),
        "operation_timeout": options.duration("--operation-timeout", args.operation_timeout),
        "family": args.family,
        "storage_location": args.storage_location,
        "force": args.force,
        "verify": args.verify,
    }
    if args.image_name:
        options.resource_name("--image-name", args.image_name)
    if args.family:
        options.resource_name("--family", args.family)
    options.resource_name("--build-disk-type", args.build_disk_type)
    return checked


def run_bake_command(
    parser: argparse.ArgumentParser,
    argv: Sequence[str],
    plan_from: Callable[[argparse.Namespace], Any],
    bake: Callable[[Any, Runtime, Any], dict[str, Any]],
    render_text: Callable[[dict[str, Any]], str],
    runtime: Runtime | None,
) -> int:
    """The shape of every bake sub-command: parse, plan, bake with progress, print text or JSON."""
    args = parse(parser, argv)
    if isinstance(args, int):
        return args
    plan = plan_from(args)
    runtime = runtime or Runtime()
    result = bake(plan, runtime, Progress(runtime.stderr, runtime.clock, tty=runtime.tty))
    runtime.stdout.write((cli_options.json_report(result) if args.output == "json" else render_text(result)) + "\n")
    return 0
