"""The chart on disk: where it is, its schema and its rule data; values files read as Helm reads them.

The values Helm computes from them come from Helm itself (vllm_serving.verdict.chart_verdict)."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

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


def default_values(chart: Path) -> dict[str, Any]:
    """values.yaml: the chart's defaults (read for facts such as the startup rates, never to re-decide a rule)."""
    return _load_yaml(chart / "values.yaml")


def rules(chart: Path) -> dict[str, Any]:
    """rules.yaml: the data behind the chart's cross-field rules (templates/validate/); Python reads its facts
    (accelerators), not its rules."""
    return _load_yaml(chart / "rules.yaml")


def accelerators(override: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """The GPU table (rules.yaml ``accelerators``) of the chart --chart names, or None if it has none."""
    try:
        table = rules(chart_dir(override)).get("accelerators")
    except (UsageError, OSError, yaml.YAMLError, AttributeError):
        return None
    return table if isinstance(table, dict) else None


_STR, _BOOL = "tag:yaml.org,2002:str", "tag:yaml.org,2002:bool"
# YAML 1.1 booleans as Helm's YAML library reads them (go-yaml v2 under sigs.k8s.io/yaml, resolve.go):
# PyYAML's list lacks y and n.
YAML11_BOOLEANS = {
    **{word: True for word in ("y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE")},
    **{word: False for word in ("n", "N", "no", "No", "NO", "off", "Off", "OFF", "false", "False", "FALSE")},
}


class _HelmLoader(yaml.SafeLoader):
    """YAML as Helm reads it: like PyYAML's safe loader, but a date such as 2026-11-21 and a sexagesimal
    number such as 30:00 stay strings (Helm converts YAML to JSON, which has no dates; go-yaml v2 has no
    base-60 numbers), and y/n are booleans."""

    bool_values: ClassVar[dict[str, bool]] = {word.lower(): value for word, value in YAML11_BOOLEANS.items()}

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        tag = super().resolve(kind, value, implicit)
        if kind is yaml.ScalarNode and implicit[0]:
            if tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float") and ":" in value:
                return _STR
            if value in YAML11_BOOLEANS:
                return _BOOL
        return tag


_HelmLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def helm_reading_problems(path: str | os.PathLike[str]) -> list[str]:
    """What Helm would silently read otherwise than written: a second YAML document (Helm reads only the
    first), a key given twice (Helm keeps the last) and an unquoted key that YAML 1.1 reads as a boolean
    (`on:` becomes the key "true"). Each names the line. A file that does not parse is Helm's to report."""
    p = Path(path)
    try:
        documents = [d for d in yaml.compose_all(p.read_text(), Loader=_HelmLoader) if d is not None]
    except (OSError, yaml.YAMLError):
        return []
    problems = [
        f"{p}: line {extra.start_mark.line + 1} starts a second YAML document; Helm reads only the first and"
        " silently ignores the rest; merge them into one document"
        for extra in documents[1:]
    ]
    if documents:
        _key_problems(documents[0], [], p, problems)
    return problems


def _key_problems(node: yaml.Node, where: list[str], path: Path, problems: list[str]) -> None:
    if isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _key_problems(item, [*where, str(i)], path, problems)
    if not isinstance(node, yaml.MappingNode):
        return
    seen: dict[str, int] = {}
    for key, value in node.value:
        name, line = str(key.value), key.start_mark.line + 1
        dotted = ".".join([*where, name])
        if isinstance(key, yaml.ScalarNode) and key.style is None and name in YAML11_BOOLEANS:
            problems.append(
                f"{dotted}: the key {name} ({path}, line {line}) is read by Helm as the boolean"
                f' {str(YAML11_BOOLEANS[name]).lower()} (YAML 1.1); quote it ("{name}") if you mean the word'
            )
        if name in seen:
            problems.append(
                f"{dotted}: given twice in {path} (lines {seen[name]} and {line}); Helm silently keeps only the"
                " last; remove one"
            )
        seen.setdefault(name, line)
        _key_problems(value, [*where, name], path, problems)


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
