"""Values the chart passes through to Kubernetes unread (securityContext, affinity, tolerations, ...),
checked against the Kubernetes OpenAPI schema of the oldest minor version GKE offers (strict: a misspelt
field is an error), as the API server would check them at install. Helm's schema cannot: the chart keeps
these open so that any field Kubernetes knows may be set.

The schemas are kubernetes-validate's strict JSON-schema rendering of the Kubernetes OpenAPI document.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from vllm_serving.chart import GKE_MINOR_VERSIONS

# values key -> (Kubernetes type, whether the value is a list of them)
PASS_THROUGH: dict[str, tuple[str, bool]] = {
    "securityContext": ("io.k8s.api.core.v1.SecurityContext", False),
    "podSecurityContext": ("io.k8s.api.core.v1.PodSecurityContext", False),
    "affinity": ("io.k8s.api.core.v1.Affinity", False),
    "tolerations": ("io.k8s.api.core.v1.Toleration", True),
    "topologySpreadConstraints": ("io.k8s.api.core.v1.TopologySpreadConstraint", True),
    "env": ("io.k8s.api.core.v1.EnvVar", True),
}
KUBERNETES_VERSION = f"{GKE_MINOR_VERSIONS[0]}.0"


@cache
def _definitions() -> dict[str, Any]:
    import kubernetes_validate

    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    return json.loads((root / f"v{KUBERNETES_VERSION}-local-strict" / "_definitions.json").read_text())["$defs"]


@cache
def _validator(kind: str) -> Any:
    import jsonschema

    schema = {"$defs": _definitions(), "$ref": f"#/$defs/{kind}"}
    return jsonschema.Draft202012Validator(schema)


def problems(values: dict[str, Any], defaults: dict[str, Any]) -> list[str]:
    """What Kubernetes would refuse in the pass-through values of Helm's computed values. A value equal to
    the chart's default (`defaults`: key -> default) is not checked again: the chart's tests check those."""
    found = []
    for key, (kind, is_list) in PASS_THROUGH.items():
        value = values.get(key)
        if not value or value == defaults.get(key):
            continue
        items = list(enumerate(value)) if is_list and isinstance(value, list) else [(None, value)]
        for index, item in items:
            for error in sorted(_validator(kind).iter_errors(item), key=lambda e: list(map(str, e.absolute_path))):
                where = ".".join([key, *([] if index is None else [str(index)]), *map(str, error.absolute_path)])
                found.append(
                    f"{where}: {error.message} in Kubernetes {GKE_MINOR_VERSIONS[0]}'s {kind.rsplit('.', 1)[1]};"
                    " the API server drops an unknown field and refuses a wrong type"
                )
    return found
