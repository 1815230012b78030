"""Rendered manifests as Python objects: render the chart and find what a check or a test needs."""

from __future__ import annotations

import shutil
import tempfile
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


def notes(values: dict[str, Any] | None = None, chart: Path | None = None, **kwargs: Any) -> str:
    """NOTES.txt as `helm install` would print it, without a cluster.

    `helm template` never renders NOTES.txt, so a copy of the chart renders its text through `tpl`
    in an ordinary template.
    """
    source = chart or chart_mod.chart_dir()
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / source.name
        shutil.copytree(source, copy)
        (copy / "notes-source.txt").write_text((copy / "templates" / "NOTES.txt").read_text())
        (copy / "templates" / "NOTES.txt").unlink()
        (copy / "templates" / "notes.yaml").write_text('text: {{ tpl (.Files.Get "notes-source.txt") . | toJson }}\n')
        rendered = helm.template(copy, values, show_only=["templates/notes.yaml"], **kwargs)
    return str(helm.objects(rendered)[0]["text"])
