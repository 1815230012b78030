"""Validate rendered objects against the real schemas: Kubernetes' own (kubernetes-validate) for
built-in kinds, and the openAPIV3Schema of the upstream CRD for custom resources. Both strictly: a
field the schema does not know is an error, as `kubectl apply --validate=strict` would say."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import jsonschema
import kubernetes_validate
import kubernetes_validate.utils

# kubernetes-validate reads and parses its schema files, megabytes of JSON, on every call; they never
# change, so each is read once (the suite validates thousands of objects).
kubernetes_validate.utils.schema_contents = cache(kubernetes_validate.utils.schema_contents)


@cache
def _crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> schema, for every version of every CRD the chart uses."""
    from vllm_serving.cluster import crds

    schemas = {}
    for crd in crds.load():
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schemas[(f"{group}/{version['name']}", kind)] = _strict(version["schema"]["openAPIV3Schema"])
    return schemas


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """Forbid unknown fields wherever the CRD lists its fields and does not keep unknown ones."""
    schema = copy.deepcopy(schema)

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if "properties" in node and not node.get("x-kubernetes-preserve-unknown-fields"):
                node.setdefault("additionalProperties", False)
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    # metadata is an ObjectMeta the CRD schema leaves open; kubernetes-validate checks it elsewhere.
    schema.get("properties", {}).get("metadata", {}).pop("additionalProperties", None)
    return schema


def problems(obj: dict[str, Any], kubernetes_version: str) -> list[str]:
    """What is wrong with one object for a Kubernetes version ("1.35.0"); empty when it is valid."""
    where = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
    key = (obj.get("apiVersion", ""), obj.get("kind", ""))
    try:
        kubernetes_validate.validate(obj, kubernetes_version, strict=True)
        return []
    except kubernetes_validate.SchemaNotFoundError:
        pass  # a custom resource: its CRD's schema below
    except kubernetes_validate.ValidationError as err:
        return [f"{where}: {err.message} at {'.'.join(map(str, err.path))}"]
    schema = _crd_schemas().get(key)
    if schema is None:
        return [f"{where}: no schema for {key[0]} {key[1]} in Kubernetes {kubernetes_version} or the chart's CRDs"]
    validator = jsonschema.Draft7Validator(schema)
    return [f"{where}: {e.message} at {'.'.join(map(str, e.absolute_path))}" for e in validator.iter_errors(obj)]
