"""`vllm-serving preflight VALUES`: the checks of vllm_serving.preflight against the live cluster, printed as a
table (or JSON) with pass, warn or fail and the fix. Exit status 1 if any check fails (0 with warnings)."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import textwrap
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from vllm_serving import cli_options
from vllm_serving.preflight import FAIL, PASS, WARN, Result, run_checks
from vllm_serving.preflight.kube import current_namespace
from vllm_serving.release import release_name


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
    release = release_name(files, args.release)
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
        print(cli_options.json_report(report))
    else:
        print(f"preflight of release {release} in namespace {namespace}" + (f" (context {context})" if context else ""))
        width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
        print(table(results, width))
    return 0 if ok else 1
