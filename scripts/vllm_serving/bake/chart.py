"""The chart on both sides of a bake: what the bake commands read from it (the default vLLM image) and what
they hand to the next step (node-pool flags, chart values, the chart's PV manifests)."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from vllm_serving import chart as chart_files
from vllm_serving.errors import UsageError


def chart_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """--chart, then $VLLM_SERVING_CHART, then charts/vllm-serving in this repository."""
    return chart_files.chart_dir(override)


def chart_image(override: str | os.PathLike[str] | None = None) -> str:
    """``image.repository:image.tag`` from the chart's values.yaml."""
    values_file = chart_dir(override) / "values.yaml"
    try:
        values = yaml.safe_load(values_file.read_text()) or {}
    except OSError as err:
        raise UsageError(
            f"--chart: cannot read {values_file}: {err.strerror}; pass images explicitly or "
            "point --chart at the chart directory"
        ) from None
    except yaml.YAMLError as err:
        raise UsageError(f"--chart: {values_file} is not valid YAML: {err}") from None
    image = values.get("image") if isinstance(values, dict) else None
    repository = image.get("repository") if isinstance(image, dict) else None
    tag = image.get("tag") if isinstance(image, dict) else None
    if not repository or not tag:
        raise UsageError(f"--chart: {values_file} sets no image.repository and image.tag; pass images explicitly")
    return f"{repository}:{tag}"


def image_path(project: str, image: str) -> str:
    return f"projects/{project}/global/images/{image}"


def disk_handle(project: str, zone: str, disk: str) -> str:
    return f"projects/{project}/zones/{zone}/disks/{disk}"


def node_pool_flags(project: str, image: str) -> list[str]:
    """The `gcloud container node-pools create` flags that put the cache on each node."""
    return [
        f"--secondary-boot-disk=disk-image={image_path(project, image)},mode=CONTAINER_IMAGE_CACHE",
        "--enable-image-streaming",
    ]


def image_cache_values(node_pool: str = "NODE_POOL") -> dict:
    """Chart values that schedule onto the (Standard) node pool with the cache and use image streaming."""
    return {"gke": {"nodePool": node_pool, "secondaryBootDisk": {"enabled": True}, "imageStreaming": True}}


def weights_values(handles: list[str], read_ahead_kb: int) -> dict:
    """Chart values that mount the baked disks (one per zone; the chart reads the zone from the handle)."""
    return {
        "weights": {
            "source": "persistentDisk",
            "persistentDisk": {"disks": list(handles), "readAheadKb": read_ahead_kb},
        }
    }


def persistent_volumes(handles: list[str], *, name: str, size_gb: int, read_ahead_kb: int) -> list[dict]:
    """A read-only PV and its PVC per zone, for clusters that do not install the chart: the chart's own
    objects (its persistentvolume and persistentvolumeclaim templates), named after the disk."""
    from vllm_serving import helm

    values = weights_values(handles, read_ahead_kb)
    values["weights"]["persistentDisk"]["capacity"] = f"{size_gb}Gi"
    values["fullnameOverride"] = name
    templates = ["templates/persistentvolume.yaml", "templates/persistentvolumeclaim.yaml"]
    return helm.objects(helm.template(chart_dir(), values, release="weights", show_only=templates))


def to_yaml(document: object) -> str:
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False)


def to_yaml_stream(documents: list[dict]) -> str:
    return yaml.safe_dump_all(documents, sort_keys=False, default_flow_style=False)
