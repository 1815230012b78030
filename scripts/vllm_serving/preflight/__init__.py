"""The checks of `vllm-serving preflight VALUES` (the command: vllm_serving.commands.preflight): catch, before the
install, what would make it fail late.

Most failed LLM installs fail after `helm install` returned: a pod Pending for lack of GPUs, a claim
that never binds, a PodMonitoring without its CRD, an HPA whose metric API does not exist, a model that
does not fit. Each check here looks at the live cluster with the release's effective values and its
rendered manifests, and says pass, warn or fail with the fix.

Groups of checks, one module each:
  nodes     gpu-nodes, secondary-boot-disk, gcp-resource-allowlist (Autopilot)
  pods      namespace, pod-admission (each pod template created with dryRun=All)
  secrets   secret/<name> (Hugging Face token, env secretKeyRefs, image pull Secrets)
  storage   claim/<name>, disk/<zone>/<disk>, csi-driver/<driver>
  apis      crd/<Kind>, lws-controller, custom-metrics-api, external-metrics-api
  gke_version  gke-version (ComputeClass, reservations, driver versions, flex-start against GKE's version)

Also a Helm plugin (plugin.yaml at the repository root: `helm vllm-serving preflight VALUES -n NS`) and a
pytest fixture (`preflight`, in vllm_serving.pytest_plugin).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vllm_serving import chart as chart_mod
from vllm_serving.errors import InvalidValues, VllmServingError
from vllm_serving.preflight import apis, gke_version, nodes, pods, secrets, storage
from vllm_serving.preflight.core import FAIL, PASS, WARN, Context, Result
from vllm_serving.preflight.kube import Forbidden, Kube
from vllm_serving.verdict import Verdict, judge

__all__ = ["FAIL", "PASS", "WARN", "Result", "run_checks"]

# In output order. Each returns a list of results; a group the caller may not read warns instead.
GROUPS: tuple[tuple[str, Callable[[Context], list[Result]]], ...] = (
    ("gke-version", gke_version.checks),
    ("gpu-nodes", nodes.checks),
    ("namespace", pods.checks),
    ("secrets", secrets.checks),
    ("storage", storage.checks),
    ("apis", apis.checks),
)


def values_check(verdict: Verdict) -> Result:
    """Valid values, and the chart's warnings about them (those `validate` prints and `helm install` shows)."""
    if verdict.warnings:
        return Result("values", WARN, "valid, with warnings:\n" + "\n".join(f"- {w}" for w in verdict.warnings))
    return Result("values", PASS, "valid: the chart's schema and cross-field rules")


def sizing_check(verdict: Verdict) -> Result:
    """The model against its GPUs: the verdict's fit warnings (its misfits are problems, refused with the rest)."""
    from vllm_serving.sizing import builtin_model

    values = verdict.values
    if verdict.fit_warnings:
        return Result("sizing", WARN, "; ".join(verdict.fit_warnings))
    model = values["model"]["name"]
    if builtin_model(model) is None:
        return Result(
            "sizing",
            PASS,
            f"{model} is not in the built-in model table, so its memory was not checked; size it with"
            f" vllm-serving size {model} --config config.json --accelerator {values['gke']['accelerator']}",
        )
    p = values["parallelism"]
    return Result(
        "sizing",
        PASS,
        f"{model} fits {p['tensor']} x {values['gke']['accelerator']}"
        + (f" on each of {p['pipeline']} nodes" if p["pipeline"] > 1 else "")
        + " with room for the KV cache",
    )


def run_checks(
    values_files: Sequence[str | os.PathLike[str]] = (),
    values: dict[str, Any] | None = None,
    *,
    kubeconfig: str | os.PathLike[str] | None = None,
    context: str | None = None,
    namespace: str = "default",
    release: str = "vllm",
    chart: str | os.PathLike[str] | None = None,
    kube: Kube | None = None,
) -> list[Result]:
    """Every check of one release's values (files layered in order, then `values`, as `helm -f` gets them)
    against one cluster.

    Invalid values (vllm_serving.verdict.judge, the verdict `validate` and `up` give too) give one failed
    `values` check listing the problems, and nothing else: the cluster is not touched.
    An unreachable cluster raises ClusterError.
    """
    from vllm_serving.helm import objects as parse_objects
    from vllm_serving.helm import template

    chart_path = chart_mod.chart_dir(chart)
    files = [Path(p) for p in values_files]
    verdict = judge(chart_path, files, values, release=release, namespace=namespace)
    if verdict.problems:
        return [Result("values", FAIL, str(InvalidValues(verdict.problems)))]
    results = [values_check(verdict), sizing_check(verdict)]
    own = kube is None
    kube = kube or Kube.connect(kubeconfig, context)
    try:
        version = kube.server_version()
        try:
            manifest = template(
                chart_path, values, files, release=release, namespace=namespace, kube_version=version or None
            )
        except VllmServingError as err:
            return [*results, Result("chart", FAIL, f"the chart does not render for {kube.where} ({version}): {err}")]
        ctx = Context(
            values=verdict.values,
            objects=parse_objects(manifest),
            kube=kube,
            namespace=namespace,
            release=release,
            chart=chart_path,
            rules=chart_mod.rules(chart_path),
        )
        for group, run in GROUPS:
            try:
                results += run(ctx)
            except Forbidden as err:
                results.append(Result(group, WARN, f"not checked: {err}; ask for read access to it"))
    finally:
        if own:
            kube.close()
    return results


# ----------------------------------------------------------------- the command
