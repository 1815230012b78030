"""GPU nodes: a node pool with the accelerator whose nodes hold parallelism.tensor GPUs (and, multi-node,
parallelism.pipeline such nodes in one pool and zone); the node pool of the secondary boot disk."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from vllm_serving.preflight.core import (
    ACCELERATOR_LABEL,
    FAIL,
    NODEPOOL_LABEL,
    PASS,
    WARN,
    Context,
    Result,
    gpus,
    listing,
    node_gpus,
    node_labels,
    node_pool,
    node_zone,
)
from vllm_serving.preflight.kube import Object

# ----------------------------------------------------------------- the scheduler's filters, in brief


def tolerates(tolerations: list[Object], taint: Object) -> bool:
    """Whether a pod's tolerations cover a taint (the API's matching rules)."""
    for toleration in tolerations or []:
        if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
            continue
        if toleration.get("operator") == "Exists":
            if not toleration.get("key") or toleration["key"] == taint.get("key"):
                return True
        elif toleration.get("key") == taint.get("key") and str(toleration.get("value", "")) == str(
            taint.get("value", "")
        ):
            return True
    return False


def _requirement_holds(value: str | None, operator: str, values: list[str]) -> bool:
    if operator == "In":
        return value is not None and value in values
    if operator == "NotIn":
        return value is None or value not in values
    if operator == "Exists":
        return value is not None
    if operator == "DoesNotExist":
        return value is None
    if operator in ("Gt", "Lt") and value is not None and values:
        try:
            have, limit = int(value), int(values[0])
        except ValueError:
            return False
        return have > limit if operator == "Gt" else have < limit
    return False


def term_matches(node: Object, term: Object) -> bool:
    """A nodeSelectorTerm: every matchExpression (labels) and matchField (metadata.name) holds."""
    labels = node_labels(node)
    for expr in term.get("matchExpressions") or []:
        if not _requirement_holds(
            labels.get(expr["key"]), expr["operator"], [str(v) for v in expr.get("values") or []]
        ):
            return False
    for expr in term.get("matchFields") or []:
        value = node["metadata"]["name"] if expr["key"] == "metadata.name" else None
        if not _requirement_holds(value, expr["operator"], [str(v) for v in expr.get("values") or []]):
            return False
    return True


def exclusion(node: Object, pod_spec: Object) -> str | None:
    """Why the scheduler would never place the pod on this node (selector, required affinity, taints,
    cordon), or None if it may. Resources are judged separately."""
    labels = node_labels(node)
    for key, want in (pod_spec.get("nodeSelector") or {}).items():
        if labels.get(key) != str(want):
            return f"nodeSelector {key}={want}"
    required = (
        ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        )
        or {}
    ).get("nodeSelectorTerms") or []
    if required and not any(term_matches(node, term) for term in required):
        return "affinity.nodeAffinity (required terms)"
    if (node.get("spec") or {}).get("unschedulable"):
        return "cordoned (spec.unschedulable)"
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(pod_spec.get("tolerations"), taint):
            value = f"={taint['value']}" if taint.get("value") else ""
            return f"taint {taint['key']}{value}:{taint['effect']} not tolerated"
    return None


# ----------------------------------------------------------------- which nodes can hold a GPU pod


@dataclass
class GpuFit:
    """The nodes for the GPU pods, narrowed step by step, so that a failure names the step."""

    accelerator: str
    pool: str
    tensor: int
    pipeline: int
    with_accelerator: list[Object] = field(default_factory=list)
    selected: list[Object] = field(default_factory=list)  # ... that the pod's scheduling admits
    excluded: Counter = field(default_factory=Counter)  # reason -> nodes
    large: list[Object] = field(default_factory=list)  # ... with parallelism.tensor allocatable GPUs

    @property
    def groups(self) -> Counter:
        """(pool, zone) -> large nodes: where a multi-node group can land."""
        return Counter((node_pool(n), node_zone(n)) for n in self.large)

    @property
    def fits(self) -> bool:
        if self.pipeline <= 1:
            return bool(self.large)
        return bool(self.large) and max(self.groups.values()) >= self.pipeline

    @property
    def zones(self) -> set[str]:
        """Zones where a pod (or a whole group) can run now."""
        if self.pipeline <= 1:
            return {node_zone(n) for n in self.large}
        return {zone for (_pool, zone), count in self.groups.items() if count >= self.pipeline}


def gpu_fit(ctx: Context) -> GpuFit:
    values = ctx.values
    fit = GpuFit(
        accelerator=values["gke"]["accelerator"],
        pool=values["gke"]["nodePool"],
        tensor=values["parallelism"]["tensor"],
        pipeline=values["parallelism"]["pipeline"],
    )
    pod = ctx.gpu_pod
    spec = pod.spec if pod else {}
    fit.with_accelerator = [n for n in ctx.nodes if node_labels(n).get(ACCELERATOR_LABEL) == fit.accelerator]
    for node in fit.with_accelerator:
        reason = exclusion(node, spec)
        if reason is None:
            fit.selected.append(node)
        else:
            fit.excluded[reason] += 1
    fit.large = [n for n in fit.selected if node_gpus(n) >= fit.tensor]
    return fit


def _pools_summary(nodes: list[Object]) -> str:
    """pool (zones: GPUs per node), ... for a pass message."""
    by_pool: dict[str, list[Object]] = defaultdict(list)
    for node in nodes:
        by_pool[node_pool(node) or "(no pool label)"].append(node)
    parts = []
    for pool, members in sorted(by_pool.items()):
        per_node = listing({str(node_gpus(n)) for n in members})
        parts.append(f"{pool} ({len(members)} in {listing({node_zone(n) for n in members})}, GPUs: {per_node} each)")
    return "; ".join(parts)


def _accelerators_summary(nodes: list[Object]) -> str:
    pools: dict[str, set[str]] = defaultdict(set)
    for node in nodes:
        accelerator = node_labels(node).get(ACCELERATOR_LABEL)
        if accelerator:
            pools[accelerator].add(node_pool(node) or "(no pool label)")
    if not pools:
        return "the cluster has no GPU nodes"
    return "GPU nodes here: " + "; ".join(f"{acc} (pools {listing(p)})" for acc, p in sorted(pools.items()))


def _tensor_choices(limit: int, sizes: list[int]) -> str:
    choices = [str(n) for n in sizes if n <= limit]
    return choices[0] if len(choices) == 1 else f"{', '.join(choices[:-1])} or {choices[-1]}"


def _machine_for(ctx: Context, accelerator: str, count: int) -> tuple[str, int]:
    """The smallest GKE machine type with at least `count` of the accelerator and its GPUs, for a fix."""
    from vllm_serving.sizing import machines

    for machine in machines(accelerator):
        if machine["gpus"] >= count:
            return machine["machineType"], machine["gpus"]
    spec = ctx.rules["accelerators"].get(accelerator)
    if spec:
        return spec["largestMachine"], spec["maxPerNode"]
    return "MACHINE_TYPE", count


def _source(ctx: Context, reason: str) -> str:
    """Which value put a node-selector term on the pods, for a failure message."""
    m = re.match(r"nodeSelector ([^=]+)=", reason)
    if not m:
        return "; tolerations and affinity values" if "taint" in reason or "affinity" in reason else ""
    key = m.group(1)
    if key in (ctx.values.get("nodeSelector") or {}):
        return f"; from nodeSelector.{key}"
    if key == "cloud.google.com/gke-ephemeral-storage-local-ssd":
        return (
            "; from weights.gcsfuse.fileCache.medium: localSsd, which needs a node pool created with"
            " --ephemeral-storage-local-ssd"
        )
    if "gke-secondary-boot-disk" in key:
        return "; from gke.secondaryBootDisk"
    if key == NODEPOOL_LABEL:
        return "; from gke.nodePool"
    return ""


def _no_fit_message(ctx: Context, fit: GpuFit) -> str:
    acc, pool = fit.accelerator, fit.pool
    machine, per_machine = _machine_for(ctx, acc, fit.tensor)
    create = (
        f"vllm-serving nodepool create {pool or 'POOL'} --accelerator {acc} --machine-type {machine}"
        f" --accelerator-count {per_machine} --cluster CLUSTER --location LOCATION"
    )
    if not fit.with_accelerator:
        return (
            f"no node has {ACCELERATOR_LABEL}={acc} (gke.accelerator); {_accelerators_summary(ctx.nodes)}."
            f" Create a node pool with {acc} GPUs ({create}) or set gke.accelerator to a GPU the cluster has"
        )
    if not fit.selected:
        in_pool = [n for n in ctx.nodes if node_pool(n) == pool] if pool else []
        if pool and not any(node_labels(n).get(ACCELERATOR_LABEL) == acc for n in in_pool):
            pools = listing({node_pool(n) for n in fit.with_accelerator})
            has = (
                f"its nodes have {listing({node_labels(n).get(ACCELERATOR_LABEL, 'no GPU') for n in in_pool})}"
                if in_pool
                else "no such node pool"
            )
            return (
                f"node pool {pool} (gke.nodePool) has no {acc} nodes ({has}); pools with {acc}: {pools}."
                f" Set gke.nodePool to one of them (or empty: any pool with {acc}), or create {pool} ({create})"
            )
        reasons = "; ".join(
            f"{reason} ({count} node{'s' if count > 1 else ''}{_source(ctx, reason)})"
            for reason, count in fit.excluded.most_common()
        )
        return (
            f"none of the {len(fit.with_accelerator)} {acc} nodes admits the pods: {reasons}."
            " Change those values, or give a node pool the labels (and tolerated taints) they ask for"
        )
    if not fit.large:
        most = max(node_gpus(n) for n in fit.selected)
        machines = listing({node_labels(n).get("node.kubernetes.io/instance-type", "?") for n in fit.selected})
        where = f"the nodes of node pool {pool}" if pool else f"the {acc} nodes"
        if most == 0:
            return (
                f"{where} report no allocatable {acc} GPUs (nvidia.com/gpu): the GPU device plugin has not"
                " registered them; check the GPU driver installation (GKE: gpu-driver-version on the node pool)"
            )
        return (
            f"parallelism.tensor: {fit.tensor} GPUs per pod, but {where} hold at most {most}"
            f" allocatable {acc} GPUs per node ({machines})."
            f" Set parallelism.tensor to {_tensor_choices(most, ctx.rules['tensorSizes'])},"
            f" or use a node pool of {machine} machines ({gpus(per_machine)} each)"
            + (f" (gke.nodePool, or empty for any pool with {acc})" if pool else "")
        )
    groups = ", ".join(f"{p or '(no pool)'} in {z or '(no zone)'}: {c}" for (p, z), c in sorted(fit.groups.items()))
    best = max(fit.groups.values())
    return (
        f"parallelism.pipeline: {fit.pipeline} puts each group's {fit.pipeline} pods on {fit.pipeline} nodes of"
        f" one node pool and one zone, each with {fit.tensor} {acc} GPUs; at most {best} such node(s) share a"
        f" pool and zone here ({groups}). Give one node pool {fit.pipeline} such nodes per zone (gcloud container"
        f" clusters resize CLUSTER --node-pool POOL --num-nodes {fit.pipeline}; the count is per zone), or lower"
        " parallelism.pipeline"
    )


def fit_of(ctx: Context) -> GpuFit:
    """Which nodes can hold the GPU pods (gpu_fit), worked out once per context."""
    if "gpu_fit" not in ctx.memo:
        ctx.memo["gpu_fit"] = gpu_fit(ctx)
    return ctx.memo["gpu_fit"]


def gpu_nodes(ctx: Context) -> Result:
    fit = fit_of(ctx)
    if fit.fits:
        what = f"{gpus(fit.tensor)} {fit.accelerator} per pod"
        if fit.pipeline > 1:
            room = ", ".join(f"{p} in {z} ({c} nodes)" for (p, z), c in sorted(fit.groups.items()) if c >= fit.pipeline)
            return Result("gpu-nodes", PASS, f"a group of {fit.pipeline} pods with {what} fits: {room}")
        return Result("gpu-nodes", PASS, f"{len(fit.large)} node(s) hold {what}: {_pools_summary(fit.large)}")
    message = _no_fit_message(ctx, fit)
    if ctx.autopilot:
        return Result(
            "gpu-nodes",
            WARN,
            f"{message}. On Autopilot GKE creates nodes for the pods on demand, so no node is needed now;"
            " whether it can (GPU quota, region) cannot be checked ahead",
        )
    if ctx.autoscaler:
        return Result(
            "gpu-nodes",
            WARN,
            f"{message}. No node fits now, but the cluster autoscaler runs (kube-system/cluster-autoscaler-status):"
            " if a node pool with autoscaling (or node auto-provisioning) can add such nodes, the pods wait for"
            " them instead of failing; make sure one can",
        )
    return Result("gpu-nodes", FAIL, message)


ALLOWLISTS = "/apis/node.gke.io/v1/gcpresourceallowlists"


def image_allowlist(ctx: Context) -> Result:
    """Autopilot attaches a custom disk image only if a GCPResourceAllowlist's allowedResourcePatterns (regular
    expressions) cover it (GKE "Use secondary boot disks to preload data or container images", Autopilot)."""
    boot = ctx.values["gke"]["secondaryBootDisk"]
    resource = f"projects/{boot['project']}/global/images/{boot['diskImage']}"
    found = ctx.kube.get(ALLOWLISTS)
    if found is None:
        return Result(
            "gcp-resource-allowlist",
            WARN,
            "the cluster serves no node.gke.io/v1 GCPResourceAllowlist (not GKE Autopilot?); on Autopilot one must"
            f" allow {resource}",
        )
    for allowlist in found.get("items") or []:
        for pattern in (allowlist.get("spec") or {}).get("allowedResourcePatterns") or []:
            try:
                covers = re.fullmatch(pattern, resource) is not None
            except re.error:
                covers = False
            if covers:
                name = allowlist["metadata"]["name"]
                return Result(
                    "gcp-resource-allowlist", PASS, f"GCPResourceAllowlist {name} allows {resource} ({pattern})"
                )
    return Result(
        "gcp-resource-allowlist",
        FAIL,
        f"no GCPResourceAllowlist allows the disk image {resource} (gke.secondaryBootDisk), so Autopilot does not"
        " attach it; create one: kubectl apply -f - with apiVersion: node.gke.io/v1, kind: GCPResourceAllowlist,"
        f" metadata.name: gke-secondary-boot-disk-allowlist, spec.allowedResourcePatterns: [{resource}]",
    )


def secondary_boot_disk(ctx: Context) -> list[Result]:
    gke, image = ctx.values["gke"], ctx.values["image"]
    boot = gke["secondaryBootDisk"]
    if not boot["enabled"]:
        return []
    cached = f"{image['repository']}:{image['tag']}"
    if ctx.autopilot:
        return [
            Result(
                "secondary-boot-disk",
                WARN,
                f"Autopilot attaches the disk image {boot['diskImage']} (project {boot['project']}) to the nodes it"
                " creates for these pods; that the image exists and caches"
                f" {cached} cannot be checked ahead from the cluster: gcloud compute images describe"
                f" {boot['diskImage']} --project {boot['project']}",
            ),
            image_allowlist(ctx),
        ]
    pool = gke["nodePool"]
    members = [n for n in ctx.nodes if node_labels(n).get(NODEPOOL_LABEL) == pool]
    if members:
        return [
            Result(
                "secondary-boot-disk",
                PASS,
                f"node pool {pool} has {len(members)} node(s) in {listing({node_zone(n) for n in members})};"
                f" its secondary boot disk must cache {cached} (the API does not show the disk's contents)",
            )
        ]
    message = (
        f"node pool {pool} (gke.nodePool, the pool with the secondary boot disk) has no nodes; create it with the"
        f" image cache: vllm-serving nodepool create {pool} --secondary-boot-disk IMAGE ... (bake IMAGE with"
        f" vllm-serving bake image-cache), or set gke.nodePool to the pool that has it"
    )
    if ctx.autoscaler:
        return [
            Result(
                "secondary-boot-disk",
                WARN,
                f"{message}. The cluster autoscaler runs: a pool scaled to zero has no nodes until pods ask",
            )
        ]
    return [Result("secondary-boot-disk", FAIL, message)]


def checks(ctx: Context) -> list[Result]:
    return [gpu_nodes(ctx), *secondary_boot_disk(ctx)]
