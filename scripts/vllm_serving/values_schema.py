"""values.schema.json, generated: `vllm-serving docs` writes the whole schema from two files, each saying what
only it can say.

- values.yaml gives the keys, each key's `default` (its value), its `type` (from the value) and its
  `description` (the `# --` comment above it). A mapping there is one of the chart's own objects: strict
  (`additionalProperties: false`), with one property per key.
- values.schema.overlay.yaml gives only what values.yaml cannot: enum, pattern, min/max, `required`, item
  schemas, if/then blocks, the `$ref` of a key passed through to Kubernetes, the type of a key whose default is
  null or of a wider kind than its default (a quantity that may be a string or a number), and keys only the
  schema has (`global`), written whole. It is a flat mapping from a key's dotted path (`(root)` for the
  top) to those keywords. A mapping whose overlay entry gives `additionalProperties` (its entries' schema)
  or an `allOf` with a `$ref` is a map or a Kubernetes object, whose keys are not the chart's. The
  overlay holds no `default`: defaults live in values.yaml only.

Helm 3.17 validates values with gojsonschema against JSON Schema draft-07 (helm/helm#13283 moved 3.18 to
another library), hence the `$schema` written here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from vllm_serving.errors import UsageError

DRAFT_07 = "http://json-schema.org/draft-07/schema#"
ROOT = "(root)"  # the overlay's name for the whole values file, as Helm's schema errors call it
OVERLAY = "values.schema.overlay.yaml"

_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}


def load_overlay(path: Path) -> dict[str, dict[str, Any]]:
    overlay = yaml.safe_load(path.read_text()) or {}
    if defaults := list(_defaults(overlay)):
        raise UsageError(
            f"{path}: a default at {', '.join(defaults)}; defaults live in values.yaml only (the schema's `default` "
            "is each key's values.yaml value)"
        )
    return overlay


def _defaults(node: Any, where: str = "") -> Iterator[str]:
    """Where a schema in the overlay carries `default` (a property that is *named* default is no default)."""
    if isinstance(node, dict):
        for key, sub in node.items():
            if key == "default" and not where.endswith("/properties"):
                yield where.lstrip("/") or key
            yield from _defaults(sub, f"{where}/{key}")
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            yield from _defaults(sub, f"{where}/{i}")


def _is_open(entry: Mapping[str, Any]) -> bool:
    """A mapping the overlay describes as a map (its entries' schema) or a Kubernetes object ($ref)."""
    return entry.get("additionalProperties", False) is not False or any(
        "$ref" in part for part in entry.get("allOf", [])
    )


def generate(values: dict[str, Any], descriptions: Mapping[str, str], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """The schema of `values` (values.yaml as Helm reads it) with `descriptions` (its `# --` comments) and the
    overlay's constraints. Raises UsageError for a null default without an overlay type, and for an overlay
    entry that names no key."""
    entries = {path: dict(entry) for path, entry in overlay.items()}
    root = entries.pop(ROOT, {})
    schema = {"$schema": DRAFT_07, **_node("", values, root, descriptions, entries, default=False)}
    if entries:
        raise UsageError(
            f"{OVERLAY}: {', '.join(entries)}: no such key in values.yaml; a key only the schema has is written "
            "whole, with its type and description"
        )
    return schema


def _node(
    path: str,
    value: Any,
    entry: dict[str, Any],
    descriptions: Mapping[str, str],
    entries: dict[str, dict[str, Any]],
    *,
    default: bool = True,
) -> dict[str, Any]:
    constraints = dict(entry)
    kind = constraints.pop("type", None) or _TYPES.get(type(value))
    if kind is None:
        raise UsageError(f"values.yaml: {path} is null; give its type in {OVERLAY} (e.g. [integer, 'null'])")
    if path and "description" in constraints:
        raise UsageError(f"{OVERLAY}: {path}: its description is its `# --` comment in values.yaml, not the overlay's")
    node: dict[str, Any] = {"type": kind}
    if path in descriptions:
        node["description"] = descriptions[path]
    node |= constraints
    if isinstance(value, dict) and not _is_open(entry):
        node["additionalProperties"] = False
        node["properties"] = {
            key: _node(_join(path, key), sub, entries.pop(_join(path, key), {}), descriptions, entries)
            for key, sub in value.items()
        }
        for extra in [p for p in entries if p.rpartition(".")[0] == path and "description" in entries[p]]:
            node["properties"][extra.rpartition(".")[2]] = entries.pop(extra)
    if default:
        node["default"] = value
    return node


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
