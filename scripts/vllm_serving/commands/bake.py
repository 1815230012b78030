"""``vllm-serving bake SUBCOMMAND``: image-cache (container images into a disk image for a GKE secondary boot
disk), weights-disk (model weights into a disk image and a pd-ssd disk per zone) and cleanup (what crashed runs
left behind). Here: the options and their checks, all before any API call, and the output; the bakes themselves
are vllm_serving.bake.image_cache and weights_disk."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Sequence
from typing import Any

from vllm_serving import cli_options
from vllm_serving.bake import chart as bake_chart
from vllm_serving.bake import image_cache as image_cache_bake
from vllm_serving.bake import weights_disk as weights_disk_bake
from vllm_serving.bake.baker import RESERVED_LABELS, VmSpec, content_hash, find_leftovers, sweep, temporary_filter
from vllm_serving.errors import UsageError
from vllm_serving.gcp import options
from vllm_serving.gcp.compute import Gce
from vllm_serving.gcp.operations import Waiter
from vllm_serving.gcp.options import Parser, add_output, add_project, parse
from vllm_serving.gcp.progress import Progress
from vllm_serving.gcp.runtime import Runtime

# name -> (function of this module, help)
SUBCOMMANDS = {
    "image-cache": ("image_cache", "bake container images into a secondary-boot-disk image"),
    "weights-disk": ("weights_disk", "bake model weights into an image and a pd-ssd per zone"),
    "cleanup": ("cleanup", "remove what crashed bake runs left behind"),
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
    return globals()[SUBCOMMANDS[name][0]](rest, runtime=runtime)


# -- options every bake has --------------------------------------------------------------------------


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


# -- image-cache --------------------------------------------------------------------------------------


def image_cache_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="vllm-serving bake image-cache",
        description="Bake container images into a disk image for a GKE secondary boot disk "
        "(mode CONTAINER_IMAGE_CACHE).",
    )
    parser.add_argument(
        "images",
        nargs="*",
        metavar="IMAGE",
        help="container images to cache (default: the chart's image.repository:image.tag)",
    )
    cli_options.add_chart(parser, help=f"{cli_options.CHART_HELP}; the default image comes from it")
    parser.add_argument("--disk-size-gb", type=int, default=100, help="size of the disk image (default 100)")
    parser.add_argument(
        "--auth",
        choices=("auto", "none", "service-account"),
        default="auto",
        help="pull with the build VM's service-account token: for Google registries (auto), never, or always",
    )
    add_bake(parser, timeout="60m", disk_type="pd-balanced")
    return parser


def image_cache_plan(args: argparse.Namespace) -> image_cache_bake.Plan:
    """Every check that needs no API call."""
    common = checked_common(args)
    raw = args.images or [bake_chart.chart_image(args.chart)]
    images = list(dict.fromkeys(options.container_image(i) for i in raw))
    content = content_hash(image_cache_bake.KIND, images=sorted(images))
    disk_size = options.size_gb("--disk-size-gb", args.disk_size_gb)
    return image_cache_bake.Plan(
        **common,
        images=images,
        content=content,
        image_name=args.image_name or f"vllm-image-cache-{content[:12]}",
        disk_size_gb=disk_size,
        disk_type=args.build_disk_type,
        auth=args.auth,
        vm=vm_spec(args, boot_disk_size_gb=max(200, 2 * disk_size)),
    )


def image_cache_text(result: dict) -> str:
    state = "created" if result["created"] else "reused (same content)"
    lines = [
        f"Image {result['image']}: {state}" + (", verified" if result["verified"] else ""),
        *(f"  caches {image}" for image in result["images"]),
        "",
        "Node-pool flags (gcloud container node-pools create ...):",
        *(f"  {flag}" for flag in result["nodePoolFlags"]),
        f"or: vllm-serving nodepool create ... --secondary-boot-disk {result['image']}",
        "",
        "Chart values:",
        bake_chart.to_yaml(result["values"]).rstrip(),
    ]
    return "\n".join(lines)


def image_cache(argv: Sequence[str], *, runtime: Runtime | None = None) -> int:
    """``vllm-serving bake image-cache``."""
    return run_bake_command(
        image_cache_parser(), argv, image_cache_plan, image_cache_bake.bake, image_cache_text, runtime
    )


# -- weights-disk -------------------------------------------------------------------------------------


def weights_disk_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="vllm-serving bake weights-disk",
        description="Bake model weights into a disk image and a read-only pd-ssd disk per zone.",
    )
    parser.add_argument(
        "--source", required=True, help="gs://BUCKET/PATH of the model's files, or a Hugging Face model id (ORG/MODEL)"
    )
    parser.add_argument("--revision", help="Hugging Face revision (commit, tag or branch) to download")
    parser.add_argument(
        "--hf-token-secret", help="Secret Manager secret holding a Hugging Face token (for gated models)"
    )
    parser.add_argument(
        "--disk-zone",
        action="append",
        default=[],
        metavar="ZONE",
        help="zone to create a disk in (repeatable or comma-separated; default: --zone)",
    )
    parser.add_argument("--disk-name", help="name of the per-zone disks (default: the image name)")
    parser.add_argument(
        "--image-size-gb",
        type=int,
        default=200,
        help="size of the disk image: at least the model's size plus 10%% (default 200)",
    )
    parser.add_argument(
        "--disk-size-gb",
        type=int,
        default=1024,
        help="size of each per-zone disk (default 1024: pd-ssd throughput grows with size)",
    )
    parser.add_argument("--disk-type", default="pd-ssd", help="type of the per-zone disks (default pd-ssd)")
    parser.add_argument("--read-ahead-kb", type=int, default=4096, help="read_ahead_kb mount option (default 4096)")
    parser.add_argument(
        "--pv-manifests",
        action="store_true",
        help="print PersistentVolume and PersistentVolumeClaim manifests instead of chart values",
    )
    add_bake(parser, timeout="2h", disk_type="pd-ssd")
    return parser


def weights_disk_plan(args: argparse.Namespace) -> weights_disk_bake.Plan:
    """Every check that needs no API call."""
    common = checked_common(args)
    source = options.weights_source(args.source)
    if source.startswith("gs://") and (args.revision or args.hf_token_secret):
        raise UsageError("--revision and --hf-token-secret apply to Hugging Face sources only")
    if args.revision and (not args.revision.strip() or any(c.isspace() for c in args.revision)):
        raise UsageError(f"--revision: {args.revision!r} is not a revision")
    zones = [z.strip() for item in args.disk_zone for z in item.split(",") if z.strip()] or [common["zone"]]
    zones = list(dict.fromkeys(options.zone("--disk-zone", z) for z in zones))
    image_size = options.size_gb("--image-size-gb", args.image_size_gb)
    disk_size = options.size_gb("--disk-size-gb", args.disk_size_gb)
    if disk_size < image_size:
        raise UsageError(
            f"--disk-size-gb: {disk_size} GB is smaller than the image ({image_size} GB, "
            "--image-size-gb); a disk cannot be smaller than the image it is made from"
        )
    if not 128 <= args.read_ahead_kb <= 65536:
        raise UsageError(f"--read-ahead-kb: {args.read_ahead_kb} is out of range: use 128 to 65536")
    options.resource_name("--disk-type", args.disk_type)
    content = content_hash(weights_disk_bake.KIND, source=source, revision=args.revision or "")
    image_name = args.image_name or f"vllm-weights-{content[:12]}"
    disk_name = options.resource_name("--disk-name", args.disk_name) if args.disk_name else image_name
    return weights_disk_bake.Plan(
        **common,
        disk_zones=zones,
        source=source,
        revision=args.revision,
        hf_token_secret=args.hf_token_secret,
        content=content,
        image_name=image_name,
        disk_name=disk_name,
        image_size_gb=image_size,
        disk_size_gb=disk_size,
        disk_type=args.disk_type,
        build_disk_type=args.build_disk_type,
        read_ahead_kb=args.read_ahead_kb,
        pv_manifests=args.pv_manifests,
        vm=vm_spec(args, boot_disk_size_gb=50),
    )


def weights_disk_text(result: dict) -> str:
    lines = [f"Image {result['image']}: " + ("created" if result["imageCreated"] else "reused (same content)")]
    for handle in result["disks"]:
        lines.append(f"Disk {handle}: " + ("created" if handle in result["disksCreated"] else "reused"))
    lines.append("")
    if "manifests" in result:
        lines += [
            "PersistentVolumes and claims (kubectl apply -n default -f -):",
            bake_chart.to_yaml_stream(result["manifests"]),
        ]
    else:
        lines += ["Chart values:", bake_chart.to_yaml(result["values"]).rstrip()]
    return "\n".join(lines)


def weights_disk(argv: Sequence[str], *, runtime: Runtime | None = None) -> int:
    """``vllm-serving bake weights-disk``."""
    return run_bake_command(
        weights_disk_parser(), argv, weights_disk_plan, weights_disk_bake.bake, weights_disk_text, runtime
    )


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
