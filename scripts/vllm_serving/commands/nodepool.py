"""``vllm-serving nodepool create``: a GPU node pool for vLLM, through the GKE API.

The pool gets the accelerator (with the GPU driver installed by GKE), autoscaling bounds,
image streaming and, optionally, a secondary boot disk in CONTAINER_IMAGE_CACHE mode made by
``vllm-serving bake image-cache``. Capacity is on-demand by default, or Spot VMs (``--spot``, with the
taint the chart's gke.spot tolerates), a reservation (``--reservation-affinity``, ``--reservation``), or
DWS flex-start VMs (``--flex-start``, with ``--queued-provisioning`` for the chart's batch.provisioning).
Upgrades default to max-surge 0 / max-unavailable 1: a surge node would need GPUs the project may not
have. ``--dry-run`` prints the API request and the equivalent gcloud command and calls nothing.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Sequence
from pathlib import Path

from vllm_serving import cli_options
from vllm_serving.chart import accelerators
from vllm_serving.errors import UsageError
from vllm_serving.gcp import node_pools, options
from vllm_serving.gcp.options import Parser, add_output, add_project, parse
from vllm_serving.gcp.runtime import Runtime

_IMAGE_REF = re.compile(r"^(?:(?:projects/(?P<project>[^/]+)/)?global/images/)?(?P<name>[^/]+)$")
_K8S_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_K8S_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="vllm-serving nodepool", description="GPU node pools for vLLM on GKE.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    create = commands.add_parser(
        "create",
        help="create a GPU node pool",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    create.add_argument("name", help="node pool name")
    add_project(create)
    create.add_argument("--cluster", required=True, help="cluster name")
    create.add_argument("--location", required=True, help="cluster location: region or zone")
    create.add_argument("--machine-type", required=True, help="e.g. g2-standard-24")
    create.add_argument("--accelerator", required=True, help="GPU type, e.g. nvidia-l4")
    create.add_argument("--accelerator-count", type=int, default=1, help="GPUs per node (default 1)")
    create.add_argument(
        "--gpu-driver-version",
        choices=("default", "latest", "disabled"),
        default="latest",
        help="driver GKE installs (default latest; disabled: install it yourself)",
    )
    create.add_argument("--min-nodes", type=int, default=0, help="autoscaling minimum per zone (default 0)")
    create.add_argument("--max-nodes", type=int, default=1, help="autoscaling maximum per zone (default 1)")
    create.add_argument("--num-nodes", type=int, default=None, help="initial nodes per zone (default: --min-nodes)")
    create.add_argument("--node-locations", default="", help="comma-separated zones (default: the cluster's)")
    create.add_argument(
        "--secondary-boot-disk",
        metavar="IMAGE",
        help="disk image caching the container images (projects/P/global/images/I or I)",
    )
    create.add_argument(
        "--no-image-streaming",
        dest="image_streaming",
        action="store_false",
        help="do not enable image streaming (not allowed with --secondary-boot-disk)",
    )
    create.add_argument(
        "--spot", action="store_true", help="Spot VMs, tainted cloud.google.com/gke-spot=true:NoSchedule (gke.spot)"
    )
    create.add_argument(
        "--reservation-affinity",
        choices=("any", "none", "specific"),
        default=None,
        help="consume Compute Engine reservations: any matching one, none, or the one --reservation names",
    )
    create.add_argument(
        "--reservation", metavar="NAME", help="the reservation (specific): NAME, or projects/P/reservations/NAME"
    )
    create.add_argument(
        "--flex-start",
        action="store_true",
        help="DWS flex-start VMs (nodes labelled cloud.google.com/gke-flex-start=true; batch.provisioning flexStart),"
        " created as GKE's guide does: location policy ANY, no reservation, no auto-repair",
    )
    create.add_argument(
        "--queued-provisioning",
        action="store_true",
        help="nodes only through ProvisioningRequests (with --flex-start; batch.provisioning queuedProvisioning)",
    )
    create.add_argument(
        "--max-run-duration",
        type=int,
        metavar="SECONDS",
        help="longest a node runs before GKE deletes it (flex-start: at most 604800, the default)",
    )
    create.add_argument("--disk-type", default="pd-balanced", help="boot disk type (default pd-balanced)")
    create.add_argument("--disk-size-gb", type=int, default=200, help="boot disk size (default 200)")
    create.add_argument("--service-account", help="node service account email (default: the cluster's default)")
    create.add_argument(
        "--node-label",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Kubernetes label on the nodes (repeatable)",
    )
    create.add_argument(
        "--location-policy",
        choices=("BALANCED", "ANY"),
        help="autoscaler zone choice; ANY finds scarce GPUs more easily",
    )
    create.add_argument("--max-surge", type=int, default=0, help="upgrade surge nodes (default 0)")
    create.add_argument("--max-unavailable", type=int, default=1, help="nodes upgraded at once (default 1)")
    cli_options.add_chart(create, help=f"{cli_options.CHART_HELP}; its rules.yaml lists the known GPUs")
    create.add_argument("--timeout", default="30m", help="how long creation may take (default 30m)")
    create.add_argument("--dry-run", action="store_true", help="print the request and gcloud command only")
    add_output(create)
    return parser


# -- checks --------------------------------------------------------------------------------------


def _check_accelerator(accelerator: str, count: int, chart_dir: Path | None) -> None:
    from vllm_serving.sizing import TENSOR_SIZES  # GPUs per node GKE machines come in (rules.yaml tensorSizes)

    if count not in TENSOR_SIZES:
        sizes = [str(n) for n in TENSOR_SIZES]
        raise UsageError(
            f"--accelerator-count: {count} GPUs per node is not offered: use {', '.join(sizes[:-1])} or {sizes[-1]}"
        )
    table = accelerators(chart_dir)
    if table is None:
        return
    if accelerator not in table:
        raise UsageError(
            f"--accelerator: {accelerator!r} is not a GPU the chart knows: use one of {', '.join(sorted(table))}"
        )
    largest = (table[accelerator] or {}).get("maxPerNode")
    if isinstance(largest, int) and count > largest:
        machine = table[accelerator].get("largestMachine", "the largest machine")
        raise UsageError(
            f"--accelerator-count: {count} {accelerator} GPUs per node is more than {machine} has ({largest})"
        )


def _image_path(project: str, ref: str) -> str:
    match = _IMAGE_REF.match(ref)
    if not match:
        raise UsageError(f"--secondary-boot-disk: {ref!r} is not a disk image: use projects/P/global/images/I or I")
    options.resource_name("--secondary-boot-disk", match["name"])
    return f"projects/{match['project'] or project}/global/images/{match['name']}"


def _node_labels(pairs: list[str]) -> dict[str, str]:
    labels = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not _K8S_LABEL_KEY.match(key) or not _K8S_LABEL_VALUE.match(value):
            raise UsageError(f"--node-label: {pair!r} is not a Kubernetes label KEY=VALUE")
        labels[key] = value
    return labels


FLEX_START_MAX_RUN = 7 * 24 * 3600
_RESERVATION = re.compile(r"^(projects/[a-z][-a-z0-9]{4,28}[a-z0-9]/reservations/)?[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


def _check_capacity(args: argparse.Namespace) -> str:
    """The capacity flags that go together (GKE's Spot, reservation and flex-start guides); returns the
    reservation affinity to request."""
    affinity = args.reservation_affinity
    if args.reservation and affinity not in (None, "specific"):
        raise UsageError(f"--reservation: names a reservation, but --reservation-affinity is {affinity}; use specific")
    if args.reservation:
        affinity = "specific"
        if not _RESERVATION.match(args.reservation):
            raise UsageError(
                f"--reservation: {args.reservation!r} is not a reservation: use NAME or projects/P/reservations/NAME"
            )
    if affinity == "specific" and not args.reservation:
        raise UsageError("--reservation-affinity: specific needs --reservation NAME")
    if args.spot and args.flex_start:
        raise UsageError("--spot: Spot and flex-start are two provisioning models; choose one")
    if (args.spot or args.flex_start) and affinity in ("any", "specific"):
        model = "--spot" if args.spot else "--flex-start"
        raise UsageError(f"--reservation-affinity: {model} VMs consume no reservation; drop --reservation-affinity")
    if args.queued_provisioning and not args.flex_start:
        raise UsageError("--queued-provisioning: GKE queues provisioning requests for flex-start VMs; add --flex-start")
    if args.max_run_duration is not None:
        if args.max_run_duration < 1:
            raise UsageError(f"--max-run-duration: {args.max_run_duration} is not a number of seconds above 0")
        if args.flex_start and args.max_run_duration > FLEX_START_MAX_RUN:
            raise UsageError(
                f"--max-run-duration: {args.max_run_duration} is longer than flex-start VMs run"
                f" ({FLEX_START_MAX_RUN} s, 7 days); use {FLEX_START_MAX_RUN} or less"
            )
    if args.flex_start and args.location_policy == "BALANCED":
        raise UsageError("--location-policy: flex-start places nodes where capacity is found; use ANY")
    if args.flex_start and (args.num_nodes or args.min_nodes):
        raise UsageError("--min-nodes/--num-nodes: a flex-start pool starts empty and grows on demand; use 0")
    # Flex-start VMs never consume reservations: say so explicitly, as GKE's flex-start guides do.
    return "none" if args.flex_start else (affinity or "")


def spec_from(args: argparse.Namespace) -> node_pools.Spec:
    """Every check that needs no API call."""
    project = options.project(args.project)
    location = options.location("--location", args.location)
    options.resource_name("name", args.name, max_length=40)
    options.resource_name("--cluster", args.cluster, max_length=40)
    if not re.match(r"^[a-z0-9]+(-[a-z0-9]+)+$", args.machine_type):
        raise UsageError(f"--machine-type: {args.machine_type!r} is not a machine type (e.g. g2-standard-24)")
    _check_accelerator(args.accelerator, args.accelerator_count, args.chart)
    zones = [z.strip() for z in args.node_locations.split(",") if z.strip()]
    region = location if not re.match(r".*-[a-z]$", location) else options.region_of(location)
    for zone in zones:
        options.zone("--node-locations", zone)
        if options.region_of(zone) != region:
            raise UsageError(f"--node-locations: {zone} is not in the cluster's region {region}")
    if args.min_nodes < 0 or args.max_nodes < 1 or args.min_nodes > args.max_nodes or args.max_nodes > 1000:
        raise UsageError(
            f"--min-nodes/--max-nodes: {args.min_nodes}..{args.max_nodes} is not a valid range: "
            "0 <= min <= max, 1 <= max <= 1000"
        )
    num_nodes = args.min_nodes if args.num_nodes is None else args.num_nodes
    if not args.min_nodes <= num_nodes <= args.max_nodes:
        raise UsageError(
            f"--num-nodes: {num_nodes} is outside --min-nodes..--max-nodes ({args.min_nodes}..{args.max_nodes})"
        )
    affinity = _check_capacity(args)
    image = _image_path(project, args.secondary_boot_disk) if args.secondary_boot_disk else None
    if image and not args.image_streaming:
        raise UsageError(
            "--no-image-streaming: a secondary boot disk in CONTAINER_IMAGE_CACHE mode needs image "
            "streaming; drop --no-image-streaming"
        )
    options.size_gb("--disk-size-gb", args.disk_size_gb)
    options.resource_name("--disk-type", args.disk_type)
    if args.max_surge < 0 or args.max_unavailable < 0 or args.max_surge + args.max_unavailable == 0:
        raise UsageError("--max-surge/--max-unavailable: both >= 0 and not both 0")
    return node_pools.Spec(
        project=project,
        location=location,
        cluster=args.cluster,
        name=args.name,
        machine_type=args.machine_type,
        accelerator=args.accelerator,
        accelerator_count=args.accelerator_count,
        gpu_driver_version=args.gpu_driver_version,
        min_nodes=args.min_nodes,
        max_nodes=args.max_nodes,
        num_nodes=num_nodes,
        node_locations=zones,
        secondary_boot_disk=image,
        image_streaming=args.image_streaming,
        spot=args.spot,
        reservation_affinity=affinity,
        reservation=args.reservation,
        flex_start=args.flex_start,
        queued_provisioning=args.queued_provisioning,
        max_run_duration=args.max_run_duration,
        disk_type=args.disk_type,
        disk_size_gb=args.disk_size_gb,
        service_account=args.service_account,
        node_labels=_node_labels(args.node_label),
        # GKE's flex-start pool commands (with or without queued provisioning) pass --location-policy=ANY.
        location_policy=args.location_policy or ("ANY" if args.flex_start else None),
        max_surge=args.max_surge,
        max_unavailable=args.max_unavailable,
    )


# -- output ---------------------------------------------------------------------------------------


def render_text(result: dict, dry_run: bool) -> str:
    if not dry_run:
        return f"Node pool {result['nodePool']} created.\nEquivalent gcloud command:\n" + node_pools.render_command(
            result["gcloud"]
        )
    request = result["request"]
    return "\n".join(
        [
            f"Request: {request['method']} {request['url']}",
            json.dumps(request["body"], indent=2),
            "",
            "Equivalent gcloud command:",
            node_pools.render_command(result["gcloud"]),
        ]
    )


def main(argv: Sequence[str], *, runtime: Runtime | None = None) -> int:
    args = parse(build_parser(), argv)
    if isinstance(args, int):
        return args
    spec = spec_from(args)
    timeout = options.duration("--timeout", args.timeout)
    runtime = runtime or Runtime()
    result = node_pools.create(spec, runtime, dry_run=args.dry_run, timeout=timeout)
    if args.output == "json":
        runtime.stdout.write(cli_options.json_report(result) + "\n")
    else:
        runtime.stdout.write(render_text(result, args.dry_run) + "\n")
    return 0
