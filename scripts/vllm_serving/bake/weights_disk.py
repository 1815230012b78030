"""``vllm-serving bake weights-disk``: model weights baked into a disk image, then a pd-ssd disk per zone.

The weights come from a GCS path (``gcloud storage cp``) or a Hugging Face model id
(``huggingface_hub``) and land at the root of the disk. The per-zone disks default to 1 TiB:
a pd-ssd's throughput grows with its size. Prints the chart's ``weights.persistentDisk`` values
(or, with ``--pv-manifests``, a read-only PV and PVC per zone).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass

from vllm_serving.bake import build_vm, chart
from vllm_serving.bake.baker import (
    Baker,
    Run,
    content_hash,
    existing_disk,
    existing_image,
    new_run_id,
    sweep,
    temporary_filter,
)
from vllm_serving.bake.image_cache import verify_image
from vllm_serving.bake.plan import BakePlan, add_bake, checked_common, run_bake_command, vm_spec
from vllm_serving.errors import UsageError
from vllm_serving.gcp import options
from vllm_serving.gcp.compute import Gce
from vllm_serving.gcp.operations import Waiter
from vllm_serving.gcp.progress import Progress
from vllm_serving.gcp.runtime import Runtime

KIND = "weights"


@dataclass
class Plan(BakePlan):
    """The plan of one weights-disk bake."""

    disk_zones: list[str]
    source: str
    revision: str | None
    hf_token_secret: str | None
    disk_name: str
    image_size_gb: int
    disk_size_gb: int
    disk_type: str
    build_disk_type: str
    read_ahead_kb: int
    pv_manifests: bool


def build_parser() -> argparse.ArgumentParser:
    parser = options.Parser(
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


def plan_from(args: argparse.Namespace) -> Plan:
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
    content = content_hash(KIND, source=source, revision=args.revision or "")
    image_name = args.image_name or f"vllm-weights-{content[:12]}"
    disk_name = options.resource_name("--disk-name", args.disk_name) if args.disk_name else image_name
    return Plan(
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


def bake(plan: Plan, runtime: Runtime, progress: Progress) -> dict:
    gce = Gce(runtime, Waiter(runtime, progress), plan.project, timeout=plan.operation_timeout)
    run = Run(plan.project, plan.zone, new_run_id(), plan.content, KIND, plan.labels, plan.script_timeout)
    progress.info(
        f"Baking {plan.source} into image {plan.image_name} and disk {plan.disk_name} in "
        f"{', '.join(plan.disk_zones)} (run {run.run_id})"
    )
    if plan.source.startswith("hf://") and not plan.revision:
        progress.warn(
            "no --revision: a later bake of the same model id reuses this image even if the model "
            "changed; pin a commit for reproducible disks"
        )
    image, reuse = existing_image(gce, plan.image_name, plan.content, force=plan.force, progress=progress)
    if image is not None and reuse and int(image.disk_size_gb) > plan.disk_size_gb:
        raise UsageError(
            f"--disk-size-gb: {plan.disk_size_gb} GB is smaller than the existing image "
            f"{plan.image_name} ({image.disk_size_gb} GB)"
        )
    decisions = {}  # zone -> (existing disk or None, reuse it)
    for zone in plan.disk_zones:
        with progress.step(f"Looking for an existing disk {plan.disk_name} in {zone}"):
            decisions[zone] = existing_disk(
                gce, zone, plan.disk_name, plan.content, force=plan.force, progress=progress
            )
    created_disks: list[str] = []
    sweep(gce, temporary_filter(content=plan.content), progress)
    image_path = chart.image_path(plan.project, plan.image_name)
    with Baker(gce, run, runtime, progress) as baker:
        if not reuse:
            disk = baker.scratch_disk("disk", size_gb=plan.image_size_gb, disk_type=plan.build_disk_type)
            args = build_vm.weights_args(
                run.run_id, plan.content, plan.source, revision=plan.revision, hf_token_secret=plan.hf_token_secret
            )
            baker.run_build_vm("vm", disk, args, plan.vm)
            if image is not None:
                with progress.step(f"Deleting the previous image {plan.image_name}"):
                    gce.delete_image(plan.image_name)
            revision = f"@{plan.revision}" if plan.revision else ""
            baker.image_from(
                disk,
                name=plan.image_name,
                family=plan.family,
                description=f"vllm-serving weights: {plan.source}{revision}",
                storage_location=plan.storage_location,
            )
            baker.release(disk)
        for zone, (found, keep) in decisions.items():
            if keep:
                continue
            if found is not None:
                with progress.step(f"Deleting the previous disk {plan.disk_name} in {zone} (--force)"):
                    gce.delete_disk(zone, plan.disk_name)
            baker.disk_from_image(
                zone, name=plan.disk_name, image=image_path, size_gb=plan.disk_size_gb, disk_type=plan.disk_type
            )
            created_disks.append(zone)
    if plan.verify:
        size = int((gce.get_image(plan.image_name) or image).disk_size_gb or plan.image_size_gb)
        verify_image(gce, run, plan.image_name, size, plan.vm, runtime, progress)
    handles = [chart.disk_handle(plan.project, z, plan.disk_name) for z in plan.disk_zones]
    result = {
        "image": image_path,
        "imageCreated": not reuse,
        "disks": handles,
        "disksCreated": [chart.disk_handle(plan.project, z, plan.disk_name) for z in created_disks],
        "verified": plan.verify,
        "content": plan.content,
        "source": plan.source + (f"@{plan.revision}" if plan.revision else ""),
        "runId": run.run_id,
        "values": chart.weights_values(handles, plan.read_ahead_kb),
    }
    if plan.pv_manifests:
        result["manifests"] = chart.persistent_volumes(
            handles, name=plan.disk_name, size_gb=plan.disk_size_gb, read_ahead_kb=plan.read_ahead_kb
        )
    return result


def render_text(result: dict) -> str:
    lines = [f"Image {result['image']}: " + ("created" if result["imageCreated"] else "reused (same content)")]
    for handle in result["disks"]:
        lines.append(f"Disk {handle}: " + ("created" if handle in result["disksCreated"] else "reused"))
    lines.append("")
    if "manifests" in result:
        lines += [
            "PersistentVolumes and claims (kubectl apply -n default -f -):",
            chart.to_yaml_stream(result["manifests"]),
        ]
    else:
        lines += ["Chart values:", chart.to_yaml(result["values"]).rstrip()]
    return "\n".join(lines)


def main(argv: Sequence[str], *, runtime: Runtime | None = None) -> int:
    return run_bake_command(build_parser(), argv, plan_from, bake, render_text, runtime)
