"""``vllm-serving bake image-cache``: container images baked into a disk image for a GKE secondary boot disk.

A scratch disk and a temporary VM; the VM's startup script installs containerd, formats the disk,
pulls the images into containerd's k8s.io namespace and copies their layers onto the disk; the
disk is detached, the VM deleted, the disk imaged and deleted. The default image list is the
chart's vLLM image. Prints the node-pool flags and the chart values that use the image.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, replace

from vllm_serving import cli_options
from vllm_serving.bake import build_vm, chart
from vllm_serving.bake.baker import (
    Baker,
    Run,
    VmSpec,
    content_hash,
    existing_image,
    new_run_id,
    sweep,
    temporary_filter,
)
from vllm_serving.bake.plan import BakePlan, add_bake, checked_common, run_bake_command, vm_spec
from vllm_serving.gcp import options
from vllm_serving.gcp.compute import Gce
from vllm_serving.gcp.operations import Waiter
from vllm_serving.gcp.progress import Progress
from vllm_serving.gcp.runtime import Runtime

KIND = "image-cache"


@dataclass
class Plan(BakePlan):
    """The plan of one image-cache bake."""

    images: list[str]
    disk_size_gb: int
    disk_type: str
    auth: str


def build_parser() -> argparse.ArgumentParser:
    parser = options.Parser(
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


def plan_from(args: argparse.Namespace) -> Plan:
    """Every check that needs no API call."""
    common = checked_common(args)
    raw = args.images or [chart.chart_image(args.chart)]
    images = list(dict.fromkeys(options.container_image(i) for i in raw))
    content = content_hash(KIND, images=sorted(images))
    disk_size = options.size_gb("--disk-size-gb", args.disk_size_gb)
    return Plan(
        **common,
        images=images,
        content=content,
        image_name=args.image_name or f"vllm-image-cache-{content[:12]}",
        disk_size_gb=disk_size,
        disk_type=args.build_disk_type,
        auth=args.auth,
        vm=vm_spec(args, boot_disk_size_gb=max(200, 2 * disk_size)),
    )


def verify_image(
    gce: Gce,
    run: Run,
    image: str,
    size_gb: int,
    vm: VmSpec,
    runtime: Runtime,
    progress: Progress,
    images: Sequence[str] = (),
) -> None:
    """Boot a small VM on a disk made from ``image`` and let the startup script check the contents."""
    small = replace(vm, machine_type="e2-standard-2", boot_disk_size_gb=20)
    with Baker(gce, run, runtime, progress) as baker:
        disk = baker.scratch_disk(
            "check", size_gb=size_gb, disk_type="pd-balanced", source_image=chart.image_path(run.project, image)
        )
        baker.run_build_vm(
            "check-vm", disk, build_vm.verify_args(run.run_id, run.content, list(images)), small, read_only=True
        )
        baker.release(disk)


def bake(plan: Plan, runtime: Runtime, progress: Progress) -> dict:
    gce = Gce(runtime, Waiter(runtime, progress), plan.project, timeout=plan.operation_timeout)
    run = Run(plan.project, plan.zone, new_run_id(), plan.content, KIND, plan.labels, plan.script_timeout)
    progress.info(f"Baking {', '.join(plan.images)} into image {plan.image_name} (run {run.run_id})")
    image, reuse = existing_image(gce, plan.image_name, plan.content, force=plan.force, progress=progress)
    if not reuse:
        sweep(gce, temporary_filter(content=plan.content), progress)
        with Baker(gce, run, runtime, progress) as baker:
            disk = baker.scratch_disk("disk", size_gb=plan.disk_size_gb, disk_type=plan.disk_type)
            args = build_vm.image_cache_args(run.run_id, plan.content, plan.images, auth=plan.auth)
            baker.run_build_vm("vm", disk, args, plan.vm)
            if image is not None:
                with progress.step(f"Deleting the previous image {plan.image_name}"):
                    gce.delete_image(plan.image_name)
            baker.image_from(
                disk,
                name=plan.image_name,
                family=plan.family,
                description=f"vllm-serving image cache: {' '.join(plan.images)}",
                storage_location=plan.storage_location,
            )
            baker.release(disk)
    if plan.verify:
        size = int((gce.get_image(plan.image_name) or image).disk_size_gb or plan.disk_size_gb)
        verify_image(gce, run, plan.image_name, size, plan.vm, runtime, progress, plan.images)
    return {
        "image": chart.image_path(plan.project, plan.image_name),
        "name": plan.image_name,
        "created": not reuse,
        "verified": plan.verify,
        "content": plan.content,
        "images": plan.images,
        "runId": run.run_id,
        "nodePoolFlags": chart.node_pool_flags(plan.project, plan.image_name),
        "values": chart.image_cache_values(),
    }


def render_text(result: dict) -> str:
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
        chart.to_yaml(result["values"]).rstrip(),
    ]
    return "\n".join(lines)


def main(argv: Sequence[str], *, runtime: Runtime | None = None) -> int:
    return run_bake_command(build_parser(), argv, plan_from, bake, render_text, runtime)
