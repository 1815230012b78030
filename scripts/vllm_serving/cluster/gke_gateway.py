"""GKE's Gateway controller for the local cluster: its documented refusals as ValidatingAdmissionPolicies.

``apply`` creates one ValidatingAdmissionPolicy per rule of ``gke_gateway.yaml`` and a binding that enforces
it on every HTTPRoute of the cluster (the local cluster's Gateways stand for gke-l7-* ones). Where GKE
accepts such a route and then marks it Accepted=False, the local API server refuses it at apply time, with a
message that names GKE's status and the fix. Needs the Gateway API CRDs (``crds.yaml``) Established.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from vllm_serving.cluster import autopilot
from vllm_serving.cluster.autopilot import wait_refused
from vllm_serving.cluster.rest import Rest

PREFIX = "gke-gateway-"
HTTPROUTES = "/apis/gateway.networking.k8s.io/v1/namespaces/{ns}/httproutes"
# Where the readiness probes are dry-run (any namespace works: the bindings are cluster-wide).
PROBE_NAMESPACE = "default"


def spec(path: Path | None = None) -> dict[str, Any]:
    path = path or Path(str(resources.files("vllm_serving.cluster") / "gke_gateway.yaml"))
    return yaml.safe_load(path.read_text())


# The requests GKE's Gateway controller judges: every HTTPRoute written.
HTTPROUTE_RULE = {"apiGroups": ["gateway.networking.k8s.io"], "apiVersions": ["*"], "resources": ["httproutes"]}


def objects(data: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The ValidatingAdmissionPolicies and their bindings, on every HTTPRoute in every namespace."""
    data = data or spec()
    rules = {**data, "resourceRules": [HTTPROUTE_RULE], "variables": data.get("variables", [])}
    return autopilot.objects(rules, prefix=PREFIX, namespace_labels=None)


def probe_route(rules: list[dict[str, Any]]) -> dict[str, Any]:
    """An HTTPRoute with these rules (each given a backend), valid for the Gateway API CRD."""
    backend = {"name": "probe", "port": 80}
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "gke-gateway-probe"},
        "spec": {"parentRefs": [{"name": "probe"}], "rules": [{"backendRefs": [backend], **r} for r in rules]},
    }


def refusal(rest: Rest, namespace: str, route: dict[str, Any]) -> str | None:
    """The API server's message if it refuses the HTTPRoute (dry run), else None."""
    status, body = rest.request("POST", HTTPROUTES.format(ns=namespace) + "?dryRun=All", route)
    return None if status in (200, 201) else json.loads(body).get("message", body.decode(errors="replace"))


def apply(rest: Rest, timeout: float = 60) -> list[str]:
    """Create the policies with their bindings; return once the API server enforces every one, with their names."""
    data = spec()
    names = autopilot.create(rest, objects(data))
    probes = {PREFIX + p["name"]: probe_route(p["probe"]) for p in data["policies"]}
    wait_refused(
        "GKE Gateway controller policies",
        {name: (lambda route=route: refusal(rest, PROBE_NAMESPACE, route)) for name, route in probes.items()},
        timeout,
    )
    return names
