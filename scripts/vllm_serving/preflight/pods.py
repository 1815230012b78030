"""The namespace, and whether it admits the release's pods: each rendered pod template is created as a Pod
with dryRun=All, so Pod Security admission, ResourceQuota, LimitRange, the ServiceAccount plugin and any
admission webhooks give their real verdict without anything being stored."""

from __future__ import annotations

import copy
import re

from vllm_serving.preflight.core import FAIL, PASS, WARN, Context, PodTemplate, Result

POD_SECURITY_MODES = ("enforce", "warn", "audit")


def pod_security(namespace: dict) -> dict[str, str]:
    """mode -> level from the namespace's pod-security.kubernetes.io/<mode> labels."""
    labels = namespace.get("metadata", {}).get("labels") or {}
    return {
        mode: labels[f"pod-security.kubernetes.io/{mode}"]
        for mode in POD_SECURITY_MODES
        if f"pod-security.kubernetes.io/{mode}" in labels
    }


def namespace_check(ctx: Context) -> Result:
    ns = ctx.namespace_object
    if ns is None:
        return Result(
            "namespace",
            FAIL,
            f"namespace {ctx.namespace} does not exist; create it (kubectl create namespace {ctx.namespace}, then"
            f" kubectl label namespace {ctx.namespace} pod-security.kubernetes.io/enforce=baseline) or pass"
            " --namespace (helm: -n). Pod admission, Secrets and claims were not checked",
        )
    if (ns.get("status") or {}).get("phase") == "Terminating":
        return Result(
            "namespace",
            FAIL,
            f"namespace {ctx.namespace} is being deleted; wait until it is gone and create it again, or pass"
            " another --namespace",
        )
    levels = pod_security(ns)
    described = (
        "Pod Security " + ", ".join(f"{mode}={level}" for mode, level in levels.items())
        if levels
        else "no Pod Security labels: the cluster's default level applies"
    )
    return Result("namespace", PASS, f"namespace {ctx.namespace} exists ({described})")


def pod_body(ctx: Context, template: PodTemplate, created_accounts: set[str], index: int = 0) -> dict:
    """The Pod a workload controller would create from a template (what admission sees)."""
    meta = template.template.get("metadata") or {}
    spec = copy.deepcopy(template.spec)
    # The chart's own ServiceAccount is created by the install itself; before it, the pod would be refused
    # for lacking it. Admission does not depend on which account a pod runs as, so ask as `default`.
    if spec.get("serviceAccountName") in created_accounts:
        spec["serviceAccountName"] = "default"
    # A short name (a pod's name is its hostname: a DNS label) that no real pod of the release has.
    metadata = {"name": f"preflight-{template.role}-{index}", "namespace": ctx.namespace}
    for key in ("labels", "annotations"):
        if meta.get(key):
            metadata[key] = dict(meta[key])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def _warning_text(header: str) -> str:
    """`299 - "would violate ..."` -> `would violate ...` (RFC 7234 warning header)."""
    m = re.match(r'^\d{3}\s+\S+\s+"(.*)"', header.strip(), re.S)
    return m.group(1).replace('\\"', '"') if m else header


def admission_fix(message: str, ctx: Context) -> str:
    """The fix for an admission refusal, from its message."""
    ns = ctx.namespace
    label = f"kubectl label namespace {ns} pod-security.kubernetes.io/enforce={{level}} --overwrite"
    if m := re.search(r'PodSecurity "(\w+):', message):
        level = m.group(1)
        if 'container "tune-read-ahead"' in message:
            return (
                "the NFS read-ahead tuning (weights.nfs.readAhead.enabled) runs a privileged init container: set"
                " weights.nfs.readAhead.enabled: false, or let the namespace run privileged pods: "
                + label.format(level="privileged")
            )
        if level == "restricted" and "runAsNonRoot" in message:
            return (
                "Pod Security restricted admits only non-root pods, and the vLLM image runs as root: label the"
                f" namespace baseline ({label.format(level='baseline')}), or set podSecurityContext.runAsNonRoot:"
                " true with a runAsUser the image supports"
            )
        wanted = "privileged" if level == "baseline" else "baseline"
        return (
            f"change the values the message names, or label the namespace with a level that admits them: "
            f"{label.format(level=wanted)}"
        )
    if m := re.search(r"(?:exceeded|failed) quota: ([^,:]+)", message):
        quota = m.group(1).strip()
        return (
            f"the namespace's ResourceQuota {quota} has no room for the pod: raise it (kubectl edit resourcequota"
            f" {quota} -n {ns}) or ask for less (parallelism.tensor, resources.requests)"
        )
    if re.search(r"(maximum|minimum) \S+ usage per (Container|Pod)|LimitRange", message):
        return (
            f"a LimitRange in namespace {ns} refuses the pod's resources (kubectl get limitrange -n {ns}): fit"
            " resources.requests and resources.limits within it, or change the LimitRange"
        )
    if m := re.search(r'error looking up service account [^:]+: serviceaccount "([^"]+)" not found', message):
        return (
            f"the ServiceAccount {m.group(1)} (serviceAccount.name) does not exist in namespace {ns}: create it,"
            " or set serviceAccount.create: true"
        )
    if "failed calling webhook" in message:
        return (
            "an admission webhook did not answer; check the service behind it (kubectl get"
            " mutatingwebhookconfigurations,validatingwebhookconfigurations)"
        )
    return ""


def admission_check(ctx: Context) -> Result:
    created = {o["metadata"]["name"] for o in ctx.of_kind("ServiceAccount")}
    path = f"/api/v1/namespaces/{ctx.namespace}/pods"
    refused: list[str] = []
    warned: list[str] = []
    fixes: list[str] = []
    for index, template in enumerate(ctx.pod_templates):
        response = ctx.kube.dry_run_create(path, pod_body(ctx, template, created, index))
        if response.status >= 300:
            refused.append(f"{template.label}: {response.message}")
            fix = admission_fix(response.message, ctx)
            if fix and fix not in fixes:
                fixes.append(fix)
        else:
            warned += [f"{template.label}: {_warning_text(w)}" for w in response.warnings]
    if refused:
        return Result(
            "pod-admission",
            FAIL,
            f"namespace {ctx.namespace} refuses {len(refused)} of the {len(ctx.pod_templates)} pods (dry run):\n"
            + "\n".join(refused)
            + "".join(f"\nfix: {fix}" for fix in fixes),
        )
    if warned:
        return Result(
            "pod-admission",
            WARN,
            f"namespace {ctx.namespace} admits the pods (dry run) with warnings; a stricter enforce level would"
            " refuse them:\n" + "\n".join(warned),
        )
    kinds = ", ".join(t.label for t in ctx.pod_templates)
    return Result(
        "pod-admission", PASS, f"namespace {ctx.namespace} admits all {len(ctx.pod_templates)} pods (dry run): {kinds}"
    )


def checks(ctx: Context) -> list[Result]:
    result = namespace_check(ctx)
    if result.status == FAIL:
        return [result]
    return [result, admission_check(ctx)]
