"""The weights-disk bake (``vllm-serving bake weights-disk``): model weights into a disk image, then a pd-ssd
disk per zone.

The weights come from a GCS path (``gcloud storage cp``) or a Hugging Face model id
(``huggingface_hub``) and land at the root of the disk. The per-zone disks default to 1 TiB:
a pd-ssd's throughput grows with its size. The result holds the chart's ``weights.persistentDisk`` values
(or, with ``--pv-manifests``, a read-only PV and PVC per zone).
"""

from __future__ import annotations

from dataclasses import dataclass

from vllm_serving.bake import build_vm, chart
from vllm_serving.bake.baker import (
    Baker,
    Run,
    existing_disk,
    existing_image,
    new_run_id,
    sweep,
    temporary_filter,
)
from vllm_serving.bake.image_cache import verify_image
from vllm_serving.bake.plan import BakePlan
from vllm_serving.errors import UsageError
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
