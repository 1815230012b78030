"""`vllm-serving render`: the manifests `helm install` would apply, rendered by the real helm."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from vllm_serving import chart as chart_mod
from vllm_serving import cli_options, helm


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="vllm-serving render",
        description="Render the chart with values files (layered in order, as `helm -f`) and print the manifests.",
    )
    cli_options.add_values(parser)
    cli_options.add_chart(parser)
    parser.add_argument("--release", default="vllm", help="release name (default: %(default)s)")
    parser.add_argument("--namespace", default="default", help="namespace (default: %(default)s)")
    parser.add_argument("--kube-version", help="Kubernetes version to render for, e.g. 1.35.0")
    parser.add_argument(
        "--show-only",
        action="append",
        default=[],
        metavar="TEMPLATE",
        help="only this template, e.g. templates/deployment.yaml",
    )
    args = parser.parse_args(argv)

    chart = chart_mod.chart_dir(args.chart)
    for path in args.values:
        chart_mod.load_values_file(path)  # a clear error for a missing or malformed file, before helm
    manifest = helm.template(
        chart,
        values_files=[Path(p) for p in args.values],
        release=args.release,
        namespace=args.namespace,
        kube_version=args.kube_version,
        show_only=args.show_only,
    )
    sys.stdout.write(manifest)
    return 0
