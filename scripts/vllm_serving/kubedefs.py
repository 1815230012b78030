"""The Kubernetes definitions inside values.schema.json: values the chart passes through to Kubernetes unread
(securityContext, affinity, tolerations, extraContainers, ...) are checked by Helm itself against Kubernetes'
own schema, strictly (an unknown field is an error: the API server would drop it silently), so that a plain
`helm install` or an Argo CD sync refuses a misspelt field.

The schema names each pass-through key's Kubernetes type by a `$ref` to `#/$defs/<definition>`; `vllm-serving
docs` writes `$defs`: every definition those refer to, transitively, from kubernetes-validate's strict JSON-schema
rendering of the Kubernetes OpenAPI document of the oldest minor GKE offers (a field newer minors added is one
the oldest would drop), without descriptions (the Kubernetes API reference has them).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from vllm_serving.chart import GKE_MINOR_VERSIONS

KUBERNETES_VERSION = f"{GKE_MINOR_VERSIONS[0]}.0"
PREFIX = "#/$defs/"


@cache
def _upstream() -> dict[str, Any]:
    import kubernetes_validate

    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    return json.loads((root / f"v{KUBERNETES_VERSION}-local-strict" / "_definitions.json").read_text())["$defs"]


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(PREFIX):
                yield value.removeprefix(PREFIX)
            elif key != "$defs":
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _bare(node: Any) -> Any:
    """A definition without its prose and Kubernetes' own extension keys (x-kubernetes-*), which no JSON
    schema validator reads."""
    if isinstance(node, dict):
        return {k: _bare(v) for k, v in node.items() if k != "description" and not k.startswith("x-kubernetes-")}
    if isinstance(node, list):
        return [_bare(v) for v in node]
    return node


def definitions(schema: dict[str, Any]) -> dict[str, Any]:
    """`$defs` for a values schema: each Kubernetes definition it refers to, and theirs, sorted by name."""
    upstream, found = _upstream(), {}
    todo = list(_refs(schema))
    while todo:
        name = todo.pop()
        if name in found:
            continue
        if name not in upstream:
            raise KeyError(f"{PREFIX}{name}: no such definition in Kubernetes {KUBERNETES_VERSION}")
        found[name] = _bare(upstream[name])
        todo += _refs(upstream[name])
    return dict(sorted(found.items()))
