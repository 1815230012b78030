"""What the bake commands read from the chart: the default vLLM image, and the GPUs it knows."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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


def accelerators(override: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """The chart's GPU table (rules.yaml ``accelerators``), or None if the chart has none."""
    try:
        table = chart_files.rules(chart_dir(override)).get("accelerators")
    except (UsageError, OSError, yaml.YAMLError, AttributeError):
        return None
    return table if isinstance(table, dict) else None
