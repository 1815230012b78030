"""The image-cache bake (``vllm-serving bake image-cache``): container images into a disk image for a GKE
secondary boot disk.

A scratch disk and a temporary VM; the VM's startup script installs containerd, formats the disk,
pulls the images into containerd's k8s.io namespace and copies their layers onto the disk; the
disk is detached, the VM deleted, the disk imaged and deleted. The default image list is the
chart's vLLM image. The result names the node-pool flags and the chart values that use the image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from vllm_serving.bake import build_vm, chart
from vllm_serving.bake.baker import (
    Baker,
    Run,
    VmSpec,
    existing_image,
    new_run_id,
    sweep,
    temporary_filter,
)
from vllm_serving.bake.plan import BakePlan
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
