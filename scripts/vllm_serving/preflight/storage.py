"""Storage: existing claims (present, bound, the right access modes, reachable from the GPU nodes), the
per-zone persistent disks (a GPU node in each disk's zone, no other release's volume on the same disk) and
the CSI drivers the weights need."""

from __future__ import annotations

from dataclasses import dataclass

from vllm_serving.preflight.core import FAIL, PASS, WARN, Context, Result, Status, gpus, listing
from vllm_serving.preflight.kube import Object
from vllm_serving.preflight.nodes import GpuFit, fit_of, term_matches

GCSFUSE_DRIVER = "gcsfuse.csi.storage.gke.io"
PD_DRIVER = "pd.csi.storage.gke.io"
_ORDER = {PASS: 0, WARN: 1, FAIL: 2}


@dataclass
class ClaimRef:
    name: str
    where: str  # the value that names it
    use: str  # weights (read-only, shared), cache or batch (written)


def claim_references(values: dict) -> list[ClaimRef]:
    weights, source = values["weights"], values["weights"]["source"]
    refs = []
    if source == "persistentDisk" and weights["persistentDisk"]["existingClaim"]:
        refs.append(
            ClaimRef(weights["persistentDisk"]["existingClaim"], "weights.persistentDisk.existingClaim", "weights")
        )
    if source == "nfs" and weights["nfs"]["existingClaim"]:
        refs.append(ClaimRef(weights["nfs"]["existingClaim"], "weights.nfs.existingClaim", "weights"))
    if source == "huggingface" and weights["huggingface"]["cache"]["existingClaim"]:
        refs.append(
            ClaimRef(
                weights["huggingface"]["cache"]["existingClaim"], "weights.huggingface.cache.existingClaim", "cache"
            )
        )
    if values["batch"]["enabled"] and values["batch"]["existingClaim"]:
        refs.append(ClaimRef(values["batch"]["existingClaim"], "batch.existingClaim", "batch"))
    cache = values["compileCache"]
    if cache["enabled"] and cache["storage"] == "claim" and cache["existingClaim"]:
        refs.append(ClaimRef(cache["existingClaim"], "compileCache.existingClaim", "compile"))
    return refs


def _combine(name: str, findings: list[tuple[Status, str]], passed: str) -> Result:
    if not findings:
        return Result(name, PASS, passed)
    worst = max((status for status, _ in findings), key=_ORDER.__getitem__)
    return Result(name, worst, "; ".join(text for _, text in findings))


def _pods_sharing(values: dict, use: str) -> int:
    """How many pods may mount a written claim at once."""
    if use == "batch":
        return values["batch"]["parallelism"]
    scaling = values["autoscaling"]
    replicas = scaling["maxReplicas"] if scaling["enabled"] else values["replicaCount"]
    return replicas * values["parallelism"]["pipeline"]


def _volume_terms(pv: Object) -> list[Object]:
    return (((pv.get("spec") or {}).get("nodeAffinity") or {}).get("required") or {}).get("nodeSelectorTerms") or []


def _zones_of_terms(terms: list[Object]) -> set[str]:
    return {
        str(v)
        for term in terms
        for expr in term.get("matchExpressions") or []
        if expr["key"].endswith("/zone") and expr["operator"] == "In"
        for v in expr.get("values") or []
    }


def _reachable(fit: GpuFit, terms: list[Object]) -> bool:
    """Whether any node that can hold the GPU pods satisfies a volume's node affinity."""
    return not terms or any(any(term_matches(node, term) for term in terms) for node in fit.large)


def claim_check(ctx: Context, ref: ClaimRef, fit: GpuFit) -> Result:
    ns, name = ctx.namespace, f"claim/{ref.name}"
    claim = ctx.kube.get(f"/api/v1/namespaces/{ns}/persistentvolumeclaims/{ref.name}")
    if claim is None:
        what = {
            "weights": "a ReadOnlyMany claim bound to the volume that holds the weights",
            "cache": "a ReadWriteMany claim (e.g. Filestore) so every replica shares the downloads",
            "compile": "a ReadWriteMany claim (e.g. Filestore) on which the replicas share vLLM's compile cache",
            "batch": "a claim whose volume holds batch.input",
        }[ref.use]
        return Result(
            name,
            FAIL,
            f"PersistentVolumeClaim {ref.name} ({ref.where}) does not exist in namespace {ns}; create it ({what}),"
            f" or unset {ref.where}",
        )
    spec, status = claim.get("spec") or {}, claim.get("status") or {}
    phase = status.get("phase", "Pending")
    modes = status.get("accessModes") or spec.get("accessModes") or []
    findings: list[tuple[Status, str]] = []
    shown = f"PersistentVolumeClaim {ref.name} ({ref.where})"

    if ref.use == "weights" and "ReadWriteMany" in modes and "ReadOnlyMany" not in modes:
        findings.append(
            (
                WARN,
                f"{shown} is ReadWriteMany: every replica can mount it (read-only), but a weights claim should be"
                " ReadOnlyMany, so that nothing can write to the weights while they are served",
            )
        )
    elif ref.use == "weights" and "ReadOnlyMany" not in modes:
        findings.append(
            (
                FAIL,
                f"{shown} is {listing(modes)}, not ReadOnlyMany: weights claims must be ReadOnlyMany so that every"
                " replica, on any node, mounts the same volume read-only; recreate the claim (and its volume) with"
                " accessModes [ReadOnlyMany]",
            )
        )
    if ref.use != "weights":
        written = {
            "cache": "the Hugging Face cache is written to",
            "compile": "vLLM writes its compile cache to it",
        }.get(ref.use, "results are written to it")
        pods = _pods_sharing(ctx.values, ref.use)
        if modes and set(modes) <= {"ReadOnlyMany"}:
            findings.append((FAIL, f"{shown} is ReadOnlyMany, but {written}; use a ReadWriteMany claim"))
        elif modes and set(modes) <= {"ReadWriteOnce", "ReadWriteOncePod"} and pods > 1:
            findings.append(
                (
                    WARN,
                    f"{shown} is {listing(modes)}: only pods on one node can mount it (ReadWriteOncePod: one pod),"
                    f" and up to {pods} pods use it; use a ReadWriteMany claim (e.g. Filestore)",
                )
            )

    if phase == "Lost":
        findings.append(
            (FAIL, f"{shown} is Lost: its volume {spec.get('volumeName', '')} is gone; recreate the volume and claim")
        )
    elif phase == "Pending":
        storage_class = spec.get("storageClassName")
        sc = ctx.kube.get(f"/apis/storage.k8s.io/v1/storageclasses/{storage_class}") if storage_class else None
        if sc and sc.get("volumeBindingMode") == "WaitForFirstConsumer":
            findings.append(
                (
                    WARN,
                    f"{shown} is Pending: its storage class {storage_class} binds WaitForFirstConsumer, so a volume"
                    " is bound (or made, in the first pod's zone) when the first pod using it is scheduled",
                )
            )
        else:
            why = (
                f"storage class {storage_class} does not exist"
                if storage_class and sc is None
                else f"storage class {storage_class} binds Immediate"
                if storage_class
                else "it names no storage class, so only a static PersistentVolume can bind it"
            )
            findings.append(
                (
                    FAIL,
                    f"{shown} is Pending: no volume is bound ({why}); pods using it would stay Pending. See"
                    f" kubectl describe pvc {ref.name} -n {ns}: create a PersistentVolume that matches it"
                    " (accessModes, capacity, storageClassName, claimRef) or fix its storage class",
                )
            )
    elif phase == "Bound" and fit.large:
        pv = ctx.kube.get(f"/api/v1/persistentvolumes/{spec.get('volumeName', '')}") if spec.get("volumeName") else None
        terms = _volume_terms(pv or {})
        if not _reachable(fit, terms):
            zones = _zones_of_terms(terms)
            findings.append(
                (
                    FAIL,
                    f"{shown} is bound to volume {spec['volumeName']}"
                    + (f" in {listing(zones)}" if zones else "")
                    + f", which no node that can hold the GPU pods reaches (they are in {listing(fit.zones)});"
                    " move the data to a volume in one of those zones, or add GPU nodes where the volume is",
                )
            )
    state = f"{phase}, {listing(modes)}"
    return _combine(name, findings, f"{shown} exists ({state})")


def disk_checks(ctx: Context, fit: GpuFit) -> list[Result]:
    """weights.persistentDisk.disks: a GPU node in each disk's zone; no other release's volume on the disk."""
    weights = ctx.values["weights"]
    if weights["source"] != "persistentDisk" or weights["persistentDisk"]["existingClaim"]:
        return []
    ours = {
        o["spec"]["csi"]["volumeHandle"]: o
        for o in ctx.of_kind("PersistentVolume")
        if (o["spec"].get("csi") or {}).get("driver") == PD_DRIVER
    }
    existing = ctx.kube.list("/api/v1/persistentvolumes")
    results = []
    for handle in weights["persistentDisk"]["disks"]:
        # The chart renders one volume per listed disk, pinned to the disk's zone: read the zone from it.
        mine = ours[handle]
        zone, disk = min(_zones_of_terms(_volume_terms(mine))), handle.rsplit("/", 1)[-1]
        name = f"disk/{zone}/{disk}"
        findings: list[tuple[Status, str]] = []
        terms = _volume_terms(mine) if mine else []
        if not _reachable(fit, terms) or not fit.large:
            where = f"{fit.accelerator} node" + (f" of pool {fit.pool}" if fit.pool else "")
            elsewhere = f"they run in {listing(fit.zones)}" if fit.zones else "none runs anywhere: see gpu-nodes"
            findings.append(
                (
                    WARN if (ctx.autoscaler or ctx.autopilot) else FAIL,
                    f"disk {handle} is in {zone}, where no {where} with {gpus(fit.tensor)} runs ({elsewhere});"
                    " bake a copy in a zone with such nodes (vllm-serving bake weights-disk ... --disk-zone ZONE)"
                    f" and list it instead, or add GPU nodes in {zone}",
                )
            )
        for pv in existing:
            csi = (pv.get("spec") or {}).get("csi") or {}
            pv_name = pv["metadata"]["name"]
            if mine and pv_name == mine["metadata"]["name"]:
                if csi.get("volumeHandle") != handle:
                    findings.append(
                        (
                            FAIL,
                            f"PersistentVolume {pv_name} already exists with volumeHandle {csi.get('volumeHandle')},"
                            f" and a volume's source cannot change; uninstall the release first (Retain keeps the"
                            " disk), or delete the PersistentVolume",
                        )
                    )
                continue
            if csi.get("driver") == PD_DRIVER and csi.get("volumeHandle") == handle:
                claim = (pv.get("spec") or {}).get("claimRef") or {}
                annotations = pv["metadata"].get("annotations") or {}
                owner = annotations.get("meta.helm.sh/release-name")
                bound = f"claim {claim.get('namespace')}/{claim.get('name')}" if claim else "no claim"
                findings.append(
                    (
                        FAIL,
                        f"disk {handle} is already the volume of PersistentVolume {pv_name} ({bound}"
                        + (f", release {owner} in {annotations.get('meta.helm.sh/release-namespace')}" if owner else "")
                        + "); two PersistentVolumes of one disk confuse attaching and mounting on a node that"
                        " runs pods of both. Use that claim (weights.persistentDisk.existingClaim) from its"
                        " namespace, or bake a separate disk for this release",
                    )
                )
        results.append(
            _combine(name, findings, f"disk {handle}: GPU nodes in {zone}; no other PersistentVolume uses it")
        )
    return results


def csi_driver_checks(ctx: Context) -> list[Result]:
    values = ctx.values
    weights, batch, cache = values["weights"], values["batch"], values["compileCache"]
    needed: list[tuple[str, str, str]] = []
    cache_in_bucket = cache["enabled"] and cache["storage"] == "gcsfuse"
    if weights["source"] == "gcsfuse" or (batch["enabled"] and batch["bucket"]) or cache_in_bucket:
        why = (
            "weights.source gcsfuse"
            if weights["source"] == "gcsfuse"
            else "batch.bucket"
            if batch["enabled"] and batch["bucket"]
            else "compileCache.bucket"
        )
        needed.append(
            (
                GCSFUSE_DRIVER,
                why,
                "enable the Cloud Storage FUSE CSI driver: gcloud container clusters update CLUSTER --location"
                " LOCATION --update-addons GcsFuseCsiDriver=ENABLED (Autopilot clusters have it)",
            )
        )
    if weights["source"] == "persistentDisk" and weights["persistentDisk"]["disks"]:
        needed.append(
            (
                PD_DRIVER,
                "weights.persistentDisk.disks",
                "enable the Compute Engine persistent disk CSI driver: gcloud container clusters update CLUSTER"
                " --location LOCATION --update-addons GcePersistentDiskCsiDriver=ENABLED",
            )
        )
    results = []
    for driver, why, fix in needed:
        if ctx.kube.get(f"/apis/storage.k8s.io/v1/csidrivers/{driver}") is None:
            results.append(
                Result(
                    f"csi-driver/{driver}",
                    FAIL,
                    f"the CSI driver {driver} ({why}) is not installed (no CSIDriver object), so the weights volume"
                    f" would never mount; {fix}",
                )
            )
        else:
            results.append(Result(f"csi-driver/{driver}", PASS, f"CSIDriver {driver} is installed ({why})"))
    return results


# GKE installs the Cloud Storage FUSE profiles' StorageClasses from this version on (GKE "Cloud Storage FUSE
# profiles", https://cloud.google.com/kubernetes-engine/docs/how-to/persistent-volumes/gcsfuse-profiles).
GCSFUSE_PROFILES_SINCE = "1.35.1-gke.1616000"


def gcsfuse_profile_checks(ctx: Context) -> list[Result]:
    """weights.gcsfuse.profile names a StorageClass GKE installs only from GCSFUSE_PROFILES_SINCE on."""
    weights = ctx.values["weights"]
    profile = weights["gcsfuse"]["profile"] if weights["source"] == "gcsfuse" else ""
    if not profile:
        return []
    name = f"storage-class/{profile}"
    if ctx.kube.get(f"/apis/storage.k8s.io/v1/storageclasses/{profile}") is not None:
        return [Result(name, PASS, f"StorageClass {profile} (weights.gcsfuse.profile) exists")]
    return [
        Result(
            name,
            FAIL,
            f"StorageClass {profile} (weights.gcsfuse.profile) does not exist on this cluster"
            f" ({ctx.kube.server_version() or 'version unknown'}): GKE installs the Cloud Storage FUSE profiles from"
            f" {GCSFUSE_PROFILES_SINCE} on; upgrade the cluster, or unset weights.gcsfuse.profile to use the chart's"
            " own mount options",
        )
    ]


def checks(ctx: Context) -> list[Result]:
    fit = fit_of(ctx)
    results: list[Result] = []
    if ctx.namespace_object is not None:
        results += [claim_check(ctx, ref, fit) for ref in claim_references(ctx.values)]
    results += disk_checks(ctx, fit)
    results += csi_driver_checks(ctx)
    results += gcsfuse_profile_checks(ctx)
    return results
