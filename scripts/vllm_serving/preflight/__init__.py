"""`vllm-serving preflight VALUES`: catch, before the install, what would make it fail late.

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

import argparse
import json
import os
import re
import shutil
import sys
import textwrap
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vllm_serving import chart as chart_mod
from vllm_serving import cli_options
from vllm_serving.errors import InvalidValues, UsageError, VllmServingError
from vllm_serving.preflight import apis, gke_version, nodes, pods, secrets, storage
from vllm_serving.preflight.core import FAIL, PASS, WARN, Context, Result
from vllm_serving.preflight.kube import Forbidden, Kube, current_namespace
from vllm_serving.verdict import Verdict, judge

__all__ = ["FAIL", "PASS", "WARN", "Result", "main", "run_checks"]

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


def release_name(files: Sequence[Path]) -> str:
    """Like `vllm-serving up`: the first values file's name, made a valid release name."""
    return re.sub(r"[^a-z0-9-]", "-", files[0].stem.lower()).strip("-")[:53]


def summary(results: Sequence[Result]) -> str:
    counts = Counter(r.status for r in results)
    parts = [f"{counts[PASS]} passed"]
    if counts[WARN]:
        parts.append(f"{counts[WARN]} warning{'s' if counts[WARN] > 1 else ''}")
    if counts[FAIL]:
        parts.append(f"{counts[FAIL]} failed")
    return ", ".join(parts)


def table(results: Sequence[Result], width: int | None = None) -> str:
    """CHECK, STATUS and MESSAGE columns; a message's later lines stay in its column. With a width (a
    terminal), messages wrap at it; else one line per message line, for logs and grep."""
    name_width = max([len("CHECK"), *(len(r.name) for r in results)])
    indent = " " * (name_width + 2 + 6 + 2)
    lines = [f"{'CHECK':<{name_width}}  STATUS  MESSAGE"]
    for result in results:
        body: list[str] = []
        for part in result.message.splitlines() or [""]:
            if width and width > len(indent) + 30:
                body += textwrap.wrap(part, width - len(indent), break_on_hyphens=False) or [""]
            else:
                body.append(part)
        lines.append(f"{result.name:<{name_width}}  {result.status:<6}  {body[0]}".rstrip())
        lines += [f"{indent}{line}".rstrip() for line in body[1:]]
    lines.append(summary(results))
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="vllm-serving preflight",
        description="Check values against the live cluster before installing: the GKE version the capacity "
        "features need (ComputeClass, flex-start, queued provisioning), GPU node pools and their "
        "capacity, the namespace's Pod Security and quotas (pods created with dryRun=All), Secrets, claims and "
        "disks, CRDs, metrics APIs and CSI drivers the values need, and whether the model fits. Prints each "
        "check with pass, warn or fail and the fix. Exit status 1 if any check fails (0 with warnings). "
        "As a Helm plugin: helm vllm-serving preflight VALUES -n NAMESPACE [--kube-context CONTEXT].",
    )
    cli_options.add_values(parser)
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
    parser.add_argument("--context", help="kubeconfig context (default: $HELM_KUBECONTEXT, then the current one)")
    parser.add_argument(
        "-n",
        "--namespace",
        help="namespace of the release (default: $HELM_NAMESPACE, then the context's namespace, then default)",
    )
    parser.add_argument("--release", help="release name (default: the first values file's name)")
    cli_options.add_chart(parser)
    cli_options.add_output(parser)
    args = parser.parse_args(argv)

    files = [Path(p) for p in args.values]
    release = args.release or release_name(files)
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", release):
        raise UsageError(f"{release!r} is not a valid release name; pass --release")
    context = args.context or os.environ.get("HELM_KUBECONTEXT") or None
    namespace = (
        args.namespace or os.environ.get("HELM_NAMESPACE") or current_namespace(args.kubeconfig, context) or "default"
    )
    results = run_checks(
        files,
        kubeconfig=args.kubeconfig,
        context=context,
        namespace=namespace,
        release=release,
        chart=args.chart,
    )
    ok = all(r.status != FAIL for r in results)
    if args.output == "json":
        counts = Counter(r.status for r in results)
        report = {
            "release": release,
            "namespace": namespace,
            "context": context,
            "values": [str(p) for p in files],
            "ok": ok,
            "summary": {status: counts[status] for status in (PASS, WARN, FAIL)},
            "checks": [r.as_dict() for r in results],
        }
        print(json.dumps(report, indent=2))
    else:
        print(f"preflight of release {release} in namespace {namespace}" + (f" (context {context})" if context else ""))
        width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
        print(table(results, width))
    return 0 if ok else 1
