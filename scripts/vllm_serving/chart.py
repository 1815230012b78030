"""The chart on disk: where it is, its schema and its rule data; values files read as Helm reads them.

The values Helm computes from them come from Helm itself (vllm_serving.validate.chart_verdict)."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from vllm_serving import bundle
from vllm_serving.errors import UsageError

# Kubernetes minor versions GKE offers as of 2026-11: 1.35 to 1.37 in the release channels with
# standard support, 1.33 and 1.34 on the Extended channel. Rendered objects are validated against each.
GKE_MINOR_VERSIONS = ("1.33", "1.34", "1.35", "1.36", "1.37")


def chart_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The chart to work on: --chart, then $VLLM_SERVING_CHART, then the one this package carries."""
    path = Path(override or os.environ.get("VLLM_SERVING_CHART") or bundle.chart())
    if not (path / "Chart.yaml").is_file():
        raise UsageError(f"{path} is not a Helm chart (no Chart.yaml); pass --chart or set VLLM_SERVING_CHART")
    return path


@cache
def _load_yaml(path: Path) -> Any:
    # The chart's own files: libyaml's safe loader when present (same results, ten times faster).
    return yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def schema(chart: Path) -> dict[str, Any]:
    return json.loads((chart / "values.schema.json").read_text())


def rules(chart: Path) -> dict[str, Any]:
    """rules.yaml: the data behind _validate.tpl; Python reads its facts (accelerators), not its rules."""
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
