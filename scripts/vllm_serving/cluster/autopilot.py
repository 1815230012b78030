"""GKE Autopilot mode for the local cluster: Warden's published constraints as ValidatingAdmissionPolicies.

``apply`` creates one ValidatingAdmissionPolicy per constraint of ``autopilot.yaml`` and a binding
that enforces it in namespaces labelled ``vllm-serving.dev/gke-mode=autopilot`` (``NAMESPACE_LABELS``),
plus GKE's GCPResourceAllowlist CRD. The real kube-apiserver then refuses, with Warden's wording, what
GKE Autopilot would refuse, while other namespaces keep behaving like GKE Standard.

``provision_nodes`` plays Autopilot's node provisioning for pods that select labels only a node created
for them carries (the secondary boot disk's): it adds a node shaped like an existing node of the pod's
accelerator, with those labels.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from vllm_serving.cluster import crds, nodes
from vllm_serving.cluster.rest import Rest
from vllm_serving.errors import ClusterError

LABEL = "vllm-serving.dev/gke-mode"
NAMESPACE_LABELS = {LABEL: "autopilot"}
# The Autopilot-mode namespace every local cluster offers (any namespace with the label is one).
NAMESPACE = "autopilot"
API = "/apis/admissionregistration.k8s.io/v1"
# Node labels Autopilot puts on a node it creates for a pod that selects them.
PROVISIONED_PREFIX = "cloud.google.com.node-restriction.kubernetes.io/gke-secondary-boot-disk-"


def spec(path: Path | None = None) -> dict[str, Any]:
    path = path or Path(str(resources.files("vllm_serving.cluster") / "autopilot.yaml"))
    return yaml.safe_load(path.read_text())


def _cel_list(items: list[str]) -> str:
    return json.dumps(items)  # a JSON list of plain strings is a CEL list literal


def _policy_variables(policy: dict[str, Any]) -> list[dict[str, str]]:
    """Variables a policy's own data adds to the shared ones."""
    found = []
    if "allowedKeys" in policy:
        found += [
            {
                "name": "separatedKeys",
                "expression": (
                    f"variables.selector.filter(k, !k.matches({json.dumps(policy['systemLabelDomains'])})"
                    " && has(variables.spec.tolerations) && variables.spec.tolerations.exists(t, has(t.key)"
                    " && t.key == k && (!has(t.operator) || t.operator == 'Equal') && has(t.value)"
                    " && t.value == variables.selector[k] && has(t.effect) && t.effect in ['NoSchedule', 'NoExecute']))"
                ),
            },
            {"name": "allowedKeys", "expression": _cel_list(policy["allowedKeys"])},
            {
                "name": "refusedKeys",
                "expression": (
                    "variables.selector.filter(k, !(k in variables.allowedKeys)"
                    f" && !{_cel_list(policy['allowedKeyPrefixes'])}.exists(p, k.startsWith(p))"
                    " && !(k in variables.separatedKeys))"
                ),
            },
        ]
    if "allowedCapabilities" in policy:
        found += [
            {"name": "allowedCapabilities", "expression": _cel_list(policy["allowedCapabilities"])},
            {
                "name": "refusedCapabilities",
                "expression": (
                    "variables.containers.filter(c, has(c.securityContext) && has(c.securityContext.capabilities)"
                    " && has(c.securityContext.capabilities.add)"
                    " && c.securityContext.capabilities.add.exists(a, !(a in variables.allowedCapabilities)))"
                ),
            },
        ]
    if "allowedHostPathPrefixes" in policy:
        # A path is compared with a trailing slash, so /var/log itself counts as under /var/log/.
        path = "(v.hostPath.path.endsWith('/') ? v.hostPath.path : v.hostPath.path + '/')"
        found += [
            {"name": "allowedHostPathPrefixes", "expression": _cel_list(policy["allowedHostPathPrefixes"])},
            {
                "name": "refusedHostPaths",
                "expression": (
                    "(has(variables.spec.volumes) ? variables.spec.volumes : []).filter(v, has(v.hostPath)"
                    f" && !variables.allowedHostPathPrefixes.exists(p, {path}.startsWith(p)))"
                ),
            },
        ]
    if "classFieldLabels" in policy:
        found += [
            # a JSON object of strings is a CEL map literal
            {"name": "classFieldLabels", "expression": json.dumps(policy["classFieldLabels"])},
            {"name": "classDecided", "expression": "variables.selector.filter(k, k in variables.classFieldLabels)"},
        ]
    return found


def objects(
    data: dict[str, Any] | None = None,
    prefix: str = "gke-autopilot-",
    namespace_labels: dict[str, str] | None = NAMESPACE_LABELS,
) -> list[dict[str, Any]]:
    """The ValidatingAdmissionPolicies of a policy file and their bindings: enforced in namespaces with
    namespace_labels, or in every namespace when it is None."""
    data = data or spec()
    found: list[dict[str, Any]] = []
    match = {"namespaceSelector": {"matchLabels": namespace_labels}} if namespace_labels else {}
    for policy in data["policies"]:
        name = f"{prefix}{policy['name']}"
        found.append(
            {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "ValidatingAdmissionPolicy",
                "metadata": {"name": name, "annotations": {"vllm-serving.dev/source": policy["source"]}},
                "spec": {
                    "failurePolicy": "Fail",
                    "matchConstraints": {
                        "resourceRules": [
                            {**rule, "operations": ["CREATE", "UPDATE"]} for rule in data["resourceRules"]
                        ]
                    },
                    "variables": list(data["variables"]) + _policy_variables(policy),
                    "validations": policy["validations"],
                },
            }
        )
        binding_spec: dict[str, Any] = {"policyName": name, "validationActions": ["Deny"]}
        if match:
            binding_spec["matchResources"] = match
        found.append(
            {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "ValidatingAdmissionPolicyBinding",
                "metadata": {"name": name},
                "spec": binding_spec,
            }
        )
    return found


def create(rest: Rest, policy_objects: list[dict[str, Any]]) -> list[str]:
    """Create (or replace) policies and bindings; return the policy names."""
    names = []
    for obj in policy_objects:
        plural = (
            "validatingadmissionpolicies"
            if obj["kind"] == "ValidatingAdmissionPolicy"
            else "validatingadmissionpolicybindings"
        )
        rest.create_or_replace(f"{API}/{plural}", obj)
        if obj["kind"] == "ValidatingAdmissionPolicy":
            names.append(obj["metadata"]["name"])
    return names


def apply(rest: Rest, timeout: float = 60) -> list[str]:
    """Create the GCPResourceAllowlist CRD, the policies with their bindings and the Autopilot-mode namespace;
    return once the API server enforces every policy, with the policy names."""
    data = spec()
    crd = crds.apply(rest, [data["allowlistCrd"]])
    names = create(rest, objects(data))
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": NAMESPACE_LABELS}}
    rest.create_or_replace("/api/v1/namespaces", namespace)
    crds.wait_established(rest, crd, timeout)
    wait_enforced(rest, {f"gke-autopilot-{p['name']}": p["probe"] for p in data["policies"]}, NAMESPACE, timeout)
    return names


def refusal(rest: Rest, namespace: str, pod_spec: dict[str, Any]) -> str | None:
    """The API server's message if it refuses a Pod with this spec (dry run), else None."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "autopilot-probe"}, "spec": pod_spec}
    status, body = rest.request("POST", f"/api/v1/namespaces/{namespace}/pods?dryRun=All", pod)
    return None if status in (200, 201) else json.loads(body).get("message", body.decode(errors="replace"))


def wait_enforced(rest: Rest, probes: dict[str, dict[str, Any]], namespace: str, timeout: float) -> None:
    """Wait until the API server refuses each policy's probe pod spec in the namespace (policies take
    effect a moment after they are created)."""
    checks = {name: (lambda probe=probe: refusal(rest, namespace, probe)) for name, probe in probes.items()}
    wait_refused("admission policies", checks, timeout)


def wait_refused(what: str, checks: dict[str, Callable[[], str | None]], timeout: float) -> None:
    """Wait until each named policy refuses its probe (policies take effect a moment after they are created):
    ``checks`` maps a policy name to a call returning the API server's refusal of that policy's probe, if any."""
    pending = dict(checks)
    deadline = time.monotonic() + timeout
    while pending:
        for name, check in list(pending.items()):
            if f"ValidatingAdmissionPolicy '{name}'" in (check() or ""):
                del pending[name]
        if pending and time.monotonic() > deadline:
            raise ClusterError(f"{what} not enforced after {timeout:.0f} s: {', '.join(sorted(pending))}")
        if pending:
            time.sleep(0.2)


def provision_nodes(rest: Rest, namespace: str) -> list[str]:
    """Autopilot's node provisioning for the namespace's pending pods that select provisioned labels.

    Each such pod gets a node cloned from a node of its accelerator, carrying the pod's selector labels
    (as GKE creates a node with the secondary boot disk the pod asks for). Returns the nodes created.
    """
    pods = rest.get(f"/api/v1/namespaces/{namespace}/pods")["items"]
    existing = rest.get("/api/v1/nodes")["items"]
    created: list[str] = []
    for pod in pods:
        selector = pod["spec"].get("nodeSelector") or {}
        wanted = {k: v for k, v in selector.items() if k.startswith(PROVISIONED_PREFIX)}
        if pod["spec"].get("nodeName") or not wanted:
            continue
        accelerator = selector.get(nodes.ACCELERATOR_LABEL)
        # A node of the pod's accelerator whose taints the pod tolerates: Spot, ComputeClass and queued pools
        # carry taints of their own that GKE would not put on the node it creates for this pod.
        template = next(
            (
                n
                for n in existing
                if (n["metadata"].get("labels") or {}).get(nodes.ACCELERATOR_LABEL) == accelerator
                and all(_tolerated(t, pod["spec"].get("tolerations") or []) for t in n["spec"].get("taints", []))
            ),
            None,
        )
        if template is None:
            continue
        name = f"gk3-autopilot-{pod['metadata']['name']}"[:63].rstrip("-")
        if any(n["metadata"]["name"] == name for n in existing):
            continue
        labels = {**template["metadata"]["labels"], nodes.NODEPOOL_LABEL: "nap-autopilot", **wanted}
        labels["kubernetes.io/hostname"] = name
        address = next(a["address"] for a in template["status"]["addresses"] if a["type"] == "InternalIP")
        spec_ = nodes.NodeSpec(
            name=name,
            pool="nap-autopilot",
            zone=labels.get("topology.kubernetes.io/zone", ""),
            machine_type=labels.get("node.kubernetes.io/instance-type", ""),
            labels=labels,
            annotations={nodes.KWOK_ANNOTATION: "fake"},
            taints=template["spec"].get("taints", []),
            capacity=template["status"]["capacity"],
            allocatable=template["status"]["allocatable"],
            internal_ip=address,
            accelerator=accelerator,
            gpus=int(template["status"]["capacity"].get(nodes.GPU_RESOURCE, 0)),
        )
        node = nodes.node_manifest(spec_, kubelet_version=template["status"]["nodeInfo"]["kubeletVersion"])
        rest.create("/api/v1/nodes", node)
        existing.append(node)
        created.append(name)
    return created


def _tolerated(taint: dict[str, Any], tolerations: list[dict[str, Any]]) -> bool:
    """Whether one of the pod's tolerations matches the taint (Kubernetes' matching rules)."""
    for t in tolerations:
        if t.get("effect") and t["effect"] != taint.get("effect"):
            continue
        if t.get("operator") == "Exists" and (not t.get("key") or t["key"] == taint["key"]):
            return True
        if t.get("key") == taint["key"] and t.get("value", "") == taint.get("value", ""):
            return True
    return False
