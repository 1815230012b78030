"""gke-version: the GKE features the rendered release uses against the cluster's GKE version.

A ComputeClass, its priorities' reservations and gpu.driverVersion, flex-start (a class priority, the
flex-start node selector or a ProvisioningRequest) and a class's node pool auto-creation each need a
minimum GKE version (rules.yaml gkeVersions, with their pages). Below it, the object is accepted and the
pods stay Pending, so the check fails and names the version. The features are read from what the chart
rendered, not from the values: the chart decides what the release uses.
"""

from __future__ import annotations

import re

from vllm_serving.preflight.core import FAIL, PASS, WARN, Context, Result

NAME = "gke-version"
_GKE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)-gke\.(\d+)")
FLEX_START_LABEL = "cloud.google.com/gke-flex-start"
CLASS_LABEL = "cloud.google.com/compute-class"


def parse(version: str) -> tuple[int, ...] | None:
    """A GKE version (v1.33.5-gke.1080000) as numbers to compare; None if it is not a GKE version."""
    found = _GKE.match(version)
    return tuple(int(part) for part in found.groups()) if found else None


def uses(ctx: Context) -> list[tuple[str, str]]:
    """(feature key of rules.yaml gkeVersions, what in the release uses it), in a stable order."""
    found: list[tuple[str, str]] = []
    for cc in ctx.of_kind("ComputeClass"):
        name = f"ComputeClass {cc['metadata']['name']}"
        found.append(("customComputeClass", name))
        spec = cc.get("spec") or {}
        if (spec.get("nodePoolAutoCreation") or {}).get("enabled"):
            found.append(("classNodePoolAutoCreation", f"{name} (nodePoolAutoCreation)"))
        for i, priority in enumerate(spec.get("priorities") or []):
            where = f"{name} priorities[{i}]"
            if (priority.get("gpu") or {}).get("driverVersion"):
                found.append(("classGpuDriverVersion", f"{where}.gpu.driverVersion"))
            if (priority.get("reservations") or {}).get("affinity", "None") != "None":
                found.append(("classReservations", f"{where}.reservations"))
            if (priority.get("flexStart") or {}).get("enabled"):
                found.append(("flexStart", f"{where}.flexStart"))
    for pod in ctx.pod_templates:
        selector = pod.spec.get("nodeSelector") or {}
        if selector.get(FLEX_START_LABEL) == "true":
            found.append(("flexStart", f"{pod.label} (node selector {FLEX_START_LABEL})"))
    for request in ctx.of_kind("ProvisioningRequest"):
        found.append(("flexStart", f"ProvisioningRequest {request['metadata']['name']} (queued provisioning)"))
    return list(dict.fromkeys(found))


def checks(ctx: Context) -> list[Result]:
    used = uses(ctx)
    if not used:
        return []
    version = ctx.kube.server_version()
    current = parse(version)
    if current is None:
        return [
            Result(
                NAME,
                PASS,
                f"{version or 'the cluster'} is not a GKE version, so GKE's minimum versions were not checked",
            )
        ]
    minimums = ctx.rules["gkeVersions"]
    results = []
    for feature, where in used:
        minimum = minimums[feature]
        if current >= parse(minimum):
            continue
        if feature == "classNodePoolAutoCreation":
            # Cluster-level node auto-provisioning, which the Kubernetes API does not show, makes it work.
            results.append(
                Result(
                    NAME,
                    WARN,
                    f"{where}: GKE {version.lstrip('v')} creates a ComputeClass's node pools only with cluster-level"
                    f" node auto-provisioning enabled (from {minimum} the class alone does); enable it (gcloud"
                    " container clusters update CLUSTER --enable-autoprovisioning with GPU limits), or upgrade the"
                    f" cluster to {minimum} or later",
                )
            )
        else:
            results.append(
                Result(
                    NAME,
                    FAIL,
                    f"{where} needs GKE {minimum} or later; the cluster runs {version.lstrip('v')}: upgrade the"
                    f" control plane (gcloud container clusters upgrade CLUSTER --master --cluster-version"
                    f" {minimum}), or remove it from the values",
                )
            )
    if not results:
        features = ", ".join(sorted({feature for feature, _ in used}))
        results.append(Result(NAME, PASS, f"GKE {version.lstrip('v')} runs what the release uses ({features})"))
    return results
