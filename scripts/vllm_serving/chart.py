"""The chart on disk: where it is, its schema, its defaults, its rule data, and Helm's value merge."""

from __future__ import annotations

import copy
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from vllm_serving.errors import UsageError

REPO_ROOT = Path(__file__).resolve().parents[2]

# Kubernetes minor versions GKE offers as of 2026-11: 1.35 to 1.37 in the release channels with
# standard support, 1.33 and 1.34 on the Extended channel. Rendered objects are validated against each.
GKE_MINOR_VERSIONS = ("1.33", "1.34", "1.35", "1.36", "1.37")


def chart_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The chart to work on: --chart, then $VLLM_SERVING_CHART, then the repository's own chart."""
    path = Path(override or os.environ.get("VLLM_SERVING_CHART") or REPO_ROOT / "charts" / "vllm-serving")
    if not (path / "Chart.yaml").is_file():
        raise UsageError(f"{path} is not a Helm chart (no Chart.yaml); pass --chart or set VLLM_SERVING_CHART")
    return path


@cache
def _load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def schema(chart: Path) -> dict[str, Any]:
    return json.loads((chart / "values.schema.json").read_text())


def defaults(chart: Path) -> dict[str, Any]:
    """values.yaml, a fresh copy each call (callers merge into it)."""
    return copy.deepcopy(_load_yaml(chart / "values.yaml"))


def rules(chart: Path) -> dict[str, Any]:
    """rules.yaml: accelerators, owned flags, token variables; shared with _validate.tpl."""
    return _load_yaml(chart / "rules.yaml")


class _HelmLoader(yaml.SafeLoader):
    """YAML as Helm reads it: like PyYAML's safe loader, but a date such as 2026-11-21 stays a string
    (Helm converts YAML to JSON, which has no dates)."""


_HelmLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_values_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A user values file as a mapping; an empty file is an empty mapping."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{p}: no such values file")
    try:
        data = yaml.load(p.read_text(), Loader=_HelmLoader)  # a SafeLoader subclass
    except yaml.YAMLError as err:
        raise UsageError(f"{p}: not valid YAML: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{p}: a values file must be a mapping of keys, not a {type(data).__name__}")
    return data


def coalesce(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge values the way Helm does: mappings merge key by key, anything else replaces, and a
    null in the override deletes the key (so `key: null` restores "unset")."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = coalesce(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def layer(*overrides: dict[str, Any]) -> dict[str, Any]:
    """User values files merged for Helm's stdin, later over earlier; a null survives, so Helm still
    reads it as "delete this key from the chart's defaults"."""
    merged: dict[str, Any] = {}
    for override in overrides:
        for key, value in override.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = layer(merged[key], value)
            else:
                merged[key] = copy.deepcopy(value)
    return merged


def effective_values(chart: Path, *overrides: dict[str, Any]) -> dict[str, Any]:
    """values.yaml with each override layered on top, as `helm -f a -f b` would."""
    values = defaults(chart)
    for override in overrides:
        values = coalesce(values, override)
    return _drop_nulls(values)


def _drop_nulls(values: dict[str, Any]) -> dict[str, Any]:
    # Helm also removes nulls that come from values.yaml itself.
    return {k: _drop_nulls(v) if isinstance(v, dict) else v for k, v in values.items() if v is not None}
