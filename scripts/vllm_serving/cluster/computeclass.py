"""GKE's admission of Pods that select a ComputeClass, for the local cluster: the rules of
``computeclass-policies.yaml`` as ValidatingAdmissionPolicies bound in every namespace, since GKE applies
them in Standard and Autopilot clusters alike (the ComputeClass objects' own rules are CEL validations
of the local CRD, ``computeclass-crd.yaml``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from vllm_serving.cluster import autopilot
from vllm_serving.cluster.rest import Rest

PREFIX = "gke-computeclass-"


def spec(path: Path | None = None) -> dict[str, Any]:
    path = path or Path(str(resources.files("vllm_serving.cluster") / "computeclass-policies.yaml"))
    return yaml.safe_load(path.read_text())


def objects(data: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return autopilot.objects(data or spec(), prefix=PREFIX, namespace_labels=None)


def apply(rest: Rest, timeout: float = 60) -> list[str]:
    """Create the policies and their bindings; return once the API server enforces every one."""
    data = spec()
    names = autopilot.create(rest, objects(data))
    autopilot.wait_enforced(rest, {f"{PREFIX}{p['name']}": p["probe"] for p in data["policies"]}, "default", timeout)
    return names
