"""Rendered manifests as Python objects: render the chart and find what a check or a test needs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vllm_serving import chart as chart_mod
from vllm_serving import helm

Object = dict[str, Any]


def render(
    values: dict[str, Any] | None = None,
    show_only: str | Sequence[str] = (),
    values_files: Sequence[Path] = (),
    chart: Path | None = None,
    **kwargs: Any,
) -> list[Object]:
    """Render the chart with helm and return the parsed objects (only those of show_only, if given)."""
    if isinstance(show_only, str):
        show_only = [show_only]
    manifest = helm.template(chart or chart_mod.chart_dir(), values, values_files, show_only=show_only, **kwargs)
    return helm.objects(manifest)


def of_kind(objects: Sequence[Object], kind: str) -> list[Object]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: Sequence[Object], kind: str) -> Object:
    """The single object of a kind; an AssertionError names what was there instead."""
    found = of_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, found {[o['kind'] for o in objects]}"
    return found[0]


def serving_pod_spec(objects: Sequence[Object]) -> Object:
    """The pod spec of the serving workload."""
    return one(objects, "Deployment")["spec"]["template"]["spec"]


def vllm_container(objects: Sequence[Object]) -> Object:
    return next(c for c in serving_pod_spec(objects)["containers"] if c["name"] == "vllm")


def hooks(objects: Sequence[Object], hook: str) -> list[Object]:
    """Objects annotated as the given Helm hook (e.g. "test")."""
    return [o for o in objects if hook in o["metadata"].get("annotations", {}).get("helm.sh/hook", "").split(",")]
