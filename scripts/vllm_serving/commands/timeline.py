"""`vllm-serving timeline RELEASE`: where each pod of a release spent its start, against its budget
(vllm_serving.timeline reads it from the pods' status, events and logs)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from vllm_serving import cli_options, timeline
from vllm_serving.errors import UsageError


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="vllm-serving timeline",
        description="Where each pod of a release spent its start: scheduling, image pull, volumes, vLLM's phases "
        "(weights with GB/s, torch.compile, KV cache, CUDA graphs, API server) and readiness, against the "
        "startupProbe's budget, with the slowest phase and the value that shortens it.",
    )
    parser.add_argument("release", metavar="RELEASE", help="the Helm release")
    parser.add_argument("-n", "--namespace", help="its namespace (default: the context's, then default)")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")
    parser.add_argument("--no-logs", action="store_true", help="read events and status only, not the vLLM logs")
    cli_options.add_output(parser)
    args = parser.parse_args(argv)
    if not args.release:
        raise UsageError("RELEASE: give the release name")

    from vllm_serving.preflight.kube import Kube, current_namespace

    namespace = (
        args.namespace
        or os.environ.get("HELM_NAMESPACE")
        or current_namespace(args.kubeconfig, args.context)
        or "default"
    )
    with Kube.connect(args.kubeconfig, args.context) as kube:
        timelines = timeline.collect(kube, args.release, namespace, logs=not args.no_logs)
    if args.output == "json":
        payload = {"release": args.release, "namespace": namespace, "pods": [t.as_dict() for t in timelines]}
        print(cli_options.json_report(payload))
    else:
        print(timeline.render_text(args.release, namespace, timelines))
    return 0
