"""`vllm-serving up VALUES`: the main job on the local default. Builds (first time) and starts the local
test cluster, validates the values, installs the chart, waits for its pods, and shows where they run.

With --kubeconfig it installs on that cluster instead (kind, GKE): the same steps, no local cluster.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from vllm_serving import chart as chart_mod
from vllm_serving import cli_options
from vllm_serving.errors import InvalidValues
from vllm_serving.release import Release, create_namespace, release_name
from vllm_serving.verdict import judge


def local_cluster_kubeconfig(name: str) -> Path:
    """The local test cluster's kubeconfig, starting the cluster (detached) unless it already runs."""
    from vllm_serving.cluster.local import LocalCluster, default_state_dir

    state_dir = default_state_dir(name)
    if (state_dir / "state.json").exists():
        running = LocalCluster.from_state(state_dir)
        if all(running.processes().values()) and running.ready():
            print(f"local cluster {name!r} is running ({running.server})")
            return running.kubeconfig
    cluster = LocalCluster(state_dir, name=name, detach=True).start()
    print(f"local cluster {name!r} started ({cluster.server}); stop it with `vllm-serving cluster down`")
    return cluster.kubeconfig


def namespace_exists(kubeconfig: Path, namespace: str) -> bool:
    """Whether the namespace exists; a kubeconfig that cannot be loaded or a cluster that does not answer is
    a ClusterError that names it (preflight's client), not a traceback."""
    from vllm_serving.preflight.kube import Kube

    with Kube.connect(kubeconfig) as kube:
        return kube.get(f"/api/v1/namespaces/{namespace}") is not None


def placement_table(release: Release) -> str:
    rows = [("POD", "COMPONENT", "STATUS", "NODE", "POOL", "ACCELERATOR", "GPUS", "ZONE")]
    for p in release.placements():
        status = "Ready" if p.ready else p.phase
        rows.append(
            (p.pod, p.component, status, p.node or "-", p.pool or "-", p.accelerator or "-", str(p.gpus), p.zone or "-")
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="vllm-serving up",
        description="Install the chart with a values file on the local test cluster (started, and built the "
        "first time, as needed) or on the cluster --kubeconfig names; wait for the pods and show where they run.",
    )
    cli_options.add_values(parser)
    parser.add_argument("--release", help="release name (default: the first values file's name)")
    parser.add_argument("--namespace", default="llm", help="namespace, created if missing (default: %(default)s)")
    parser.add_argument(
        "--pod-security",
        default="baseline",
        choices=["baseline", "restricted", "privileged"],
        help="Pod Security level a namespace created here enforces (default: %(default)s)",
    )
    parser.add_argument("--kubeconfig", type=Path, help="install on this cluster instead of the local one")
    parser.add_argument("--cluster-name", default="local", help="which local cluster (default: %(default)s)")
    parser.add_argument(
        "--timeout", type=float, default=300, help="seconds to wait for Ready pods (default: %(default)s)"
    )
    cli_options.add_chart(parser)
    args = parser.parse_args(argv)

    chart = chart_mod.chart_dir(args.chart)
    files = [Path(p) for p in args.values]
    name = release_name(files, args.release)
    verdict = judge(chart, files, release=name, namespace=args.namespace)
    if verdict.problems:
        raise InvalidValues(verdict.problems)
    for warning in verdict.all_warnings:
        print(f"warning: {warning}")

    kubeconfig = args.kubeconfig or local_cluster_kubeconfig(args.cluster_name)
    if not namespace_exists(kubeconfig, args.namespace):
        create_namespace(kubeconfig, args.namespace, args.pod_security)
        print(f"namespace {args.namespace} created, enforcing Pod Security {args.pod_security}")
    release = Release(name, args.namespace, kubeconfig, chart)
    revision = release.install(files)
    print(f"release {name} revision {revision} installed in {args.namespace}; waiting for its pods")
    try:
        release.wait(args.timeout)
    finally:
        print(placement_table(release))
    print(release.status().split("NOTES:")[0].rstrip())
    print(f"\nexport KUBECONFIG={kubeconfig}")
    return 0
