"""Finding and removing what crashed runs left behind, by the labels every temporary resource carries."""

from __future__ import annotations

from vllm_serving.bake.content import RUN_LABEL
from vllm_serving.errors import CloudError, VllmServingError
from vllm_serving.gcp.compute import Gce
from vllm_serving.gcp.progress import Progress


def find(gce: Gce, filter_: str) -> list[tuple[str, str, str | None]]:
    """``(kind, name, zone)`` of the VMs, disks and images matching ``filter_``, VMs first."""
    found: list[tuple[str, str, str | None]] = []
    found += [("instance", vm.name, zone) for zone, vm in gce.find_instances(filter_)]
    found += [("disk", disk.name, zone) for zone, disk in gce.find_disks(filter_)]
    found += [("image", image.name, None) for image in gce.find_images(filter_)]
    return found


def sweep(gce: Gce, filter_: str, progress: Progress, *, skip_run: str | None = None) -> list[str]:
    """Delete every leftover matching ``filter_`` (except those of run ``skip_run``); return their names."""
    leftovers = [r for r in find(gce, filter_) if not (skip_run and skip_run in r[1])]
    if not leftovers:
        return []
    removed, failures = [], []
    with progress.step(f"Removing {len(leftovers)} leftover resource(s) of earlier runs (label {RUN_LABEL})"):
        for kind, name, zone in leftovers:
            label = f"{kind} {name}" + (f" in {zone}" if zone else "")
            try:
                if kind == "instance":
                    gce.delete_instance(zone, name)
                elif kind == "disk":
                    gce.delete_disk(zone, name)
                else:
                    gce.delete_image(name)
            except VllmServingError as err:
                failures.append(f"{label}: {err}")
                continue
            removed.append(label)
            progress.info(f"    removed {label}")
        if failures:
            raise CloudError("could not remove leftovers of earlier runs:\n" + "\n".join(f"  {f}" for f in failures))
    return removed
