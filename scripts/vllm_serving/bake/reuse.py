"""Idempotency: an output that already holds the same content is reused, unless --force."""

from __future__ import annotations

from google.cloud import compute_v1

from vllm_serving.bake.content import CONTENT_LABEL
from vllm_serving.errors import CloudError, UsageError
from vllm_serving.gcp.compute import Gce
from vllm_serving.gcp.progress import Progress


def existing_image(
    gce: Gce, name: str, content: str, *, force: bool, progress: Progress
) -> tuple[compute_v1.Image | None, bool]:
    """``(image, reuse)``: the image named ``name`` if it exists, and whether it can be used as it is.

    An image with other content is a conflict unless ``force`` (then the caller replaces it).
    """
    with progress.step(f"Looking for an existing image {name}"):
        image = gce.get_image(name)
    if image is None:
        return None, False
    found = image.labels.get(CONTENT_LABEL, "")
    if found == content and image.status == "READY" and not force:
        progress.info(f"    image {name} already holds this content: reusing it (--force rebuilds it)")
        return image, True
    if found != content and not force:
        raise UsageError(
            f"--image-name: image {name} already exists with other content "
            f"({CONTENT_LABEL}={found or 'none'}, this bake is {content}); choose another "
            "--image-name or pass --force to replace it"
        )
    return image, False


def existing_disk(
    gce: Gce, zone: str, name: str, content: str, *, force: bool, progress: Progress
) -> tuple[compute_v1.Disk | None, bool]:
    """``(disk, reuse)`` for the output disk ``name`` in ``zone``; refuses to replace a disk in use."""
    disk = gce.get_disk(zone, name)
    if disk is None:
        return None, False
    found = disk.labels.get(CONTENT_LABEL, "")
    if found == content and not force:
        progress.info(f"    disk {name} in {zone} already holds this content: reusing it")
        return disk, True
    if found != content and not force:
        raise UsageError(
            f"--disk-name: disk {name} in {zone} already exists with other content "
            f"({CONTENT_LABEL}={found or 'none'}); choose another --disk-name or pass --force "
            "to replace it"
        )
    if disk.users:
        raise CloudError(
            f"disk {name} in {zone} is in use by {', '.join(disk.users)}; it cannot be replaced "
            "while attached: scale the workload down or choose another --disk-name"
        )
    return disk, False
