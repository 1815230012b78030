"""``vllm-serving cluster``: the local test cluster (real control plane, kwok nodes).

vllm-serving cluster up        start detached; prints `export KUBECONFIG=...`
vllm-serving cluster down      stop the processes recorded in the state directory
vllm-serving cluster status    which processes run, whether the API server is ready
vllm-serving cluster build     build the binaries now (a cold build takes many minutes)
vllm-serving cluster bench     cold build, warm start and stop times
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vllm_serving import cli_options, gobuild
from vllm_serving.cluster import build
from vllm_serving.cluster.local import LocalCluster, default_state_dir
from vllm_serving.errors import ClusterError


def _state_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--state-dir", type=Path, help="state directory (default: <cache>/clusters/<name>)")
    group.add_argument("--name", default="local", help="names the default state directory (default: %(default)s)")
    cli_options.add_output(parser)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vllm-serving cluster",
        description="A local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager, "
        "kube-scheduler) with kwok-managed fake GKE GPU nodes and the LeaderWorkerSet controller, "
        "for the chart's install tests.",
    )
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    up = sub.add_parser("up", help="start the cluster (detached unless --foreground)")
    _state_args(up)
    up.add_argument("--node-pools", type=Path, help="node-pool spec (default: the packaged nodepools.yaml)")
    up.add_argument("--no-nodes", action="store_true", help="create no fake nodes")
    up.add_argument("--no-crds", action="store_true", help="skip the chart's CRDs")
    up.add_argument("--no-lws", action="store_true", help="do not run the LeaderWorkerSet controller")
    up.add_argument("--foreground", action="store_true", help="stay attached; Ctrl-C stops the cluster")
    up.add_argument("--timeout", type=float, default=120, help="seconds each readiness wait may take")

    down = sub.add_parser("down", help="stop the processes recorded in the state directory")
    _state_args(down)

    status = sub.add_parser("status", help="show the recorded processes and whether the API server is ready")
    _state_args(status)

    b = sub.add_parser("build", help="build the binaries into the cache (no-op when already built)")
    b.add_argument("--force", action="store_true", help="rebuild even if built")
    cli_options.add_output(b)

    bench = sub.add_parser("bench", help="print cold build time, warm start time and stop time")
    bench.add_argument("--runs", type=int, default=3, help="warm starts to time (default: %(default)s)")
    bench.add_argument("--no-crds", action="store_true")
    bench.add_argument("--no-lws", action="store_true", help="do not run the LeaderWorkerSet controller")
    bench.add_argument(
        "--cold",
        action="store_true",
        help="also time a cold build (empty Go build cache in a temporary directory; many minutes)",
    )
    cli_options.add_output(bench)
    return parser


def _state_dir(args: argparse.Namespace) -> Path:
    return args.state_dir or default_state_dir(args.name)


def _emit(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    print(cli_options.json_report(data) if args.output == "json" else text)


def _up(args: argparse.Namespace) -> int:
    cluster = LocalCluster(
        _state_dir(args),
        node_pools=args.node_pools,
        create_nodes=not args.no_nodes,
        install_crds=not args.no_crds,
        lws=not args.no_lws,
        detach=not args.foreground,
        timeout=args.timeout,
    )
    if not args.foreground:
        cluster.start()
        _emit(args, cluster.state, f"export KUBECONFIG={cluster.kubeconfig}")
        return 0

    def terminate(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        with cluster:
            _emit(args, cluster.state, f"export KUBECONFIG={cluster.kubeconfig}")
            print("running; Ctrl-C stops the cluster", file=sys.stderr, flush=True)
            try:
                while all(cluster.processes().values()):
                    time.sleep(1)
            except KeyboardInterrupt:
                return 0
            dead = [n for n, alive in cluster.processes().items() if not alive]
            raise ClusterError(f"{', '.join(dead)} exited; see the logs in {cluster.state_dir / 'logs'}")
    finally:
        signal.signal(signal.SIGTERM, previous)


def _down(args: argparse.Namespace) -> int:
    state_dir = _state_dir(args)
    if not (state_dir / "state.json").exists():
        _emit(args, {"state_dir": str(state_dir), "stopped": {}}, f"no local cluster recorded in {state_dir}")
        return 0
    cluster = LocalCluster.from_state(state_dir, progress=gobuild.stderr)
    stopped = cluster.stop()
    left = [n for n, alive in cluster.processes().items() if alive]
    if left:
        raise ClusterError(f"still running after down: {', '.join(left)}")
    _emit(
        args,
        {"state_dir": str(state_dir), "stopped": stopped},
        f"stopped {len(stopped)} processes" if stopped else "nothing was running",
    )
    return 0


def _status(args: argparse.Namespace) -> int:
    state_dir = _state_dir(args)
    if not (state_dir / "state.json").exists():
        _emit(args, {"state_dir": str(state_dir), "running": False}, f"no local cluster recorded in {state_dir}")
        return 1
    cluster = LocalCluster.from_state(state_dir)
    procs = cluster.processes()
    ready = all(procs.values()) and cluster.ready()
    data = {**cluster.state, "alive": procs, "ready": ready}
    lines = [f"state:      {state_dir}", f"server:     {cluster.server}", f"kubeconfig: {cluster.kubeconfig}"]
    lines += [
        f"  {name:<24} pid {cluster.pids[name]:<8} {'running' if alive else 'stopped'}" for name, alive in procs.items()
    ]
    lines.append("ready" if ready else "not ready")
    _emit(args, data, "\n".join(lines))
    return 0 if ready else 1


def _build(args: argparse.Namespace) -> int:
    bins = build.ensure_built(force=args.force)
    info = bins.build_info()
    _emit(args, {"bin_dir": str(bins.bin_dir), **info}, f"{bins.bin_dir} (built in {info.get('seconds', '?')} s)")
    return 0


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _bench(args: argparse.Namespace) -> int:
    bins = build.binaries()
    built_now = not bins.complete
    bins = build.ensure_built()
    build_seconds = bins.build_info().get("seconds")
    cold = None
    if args.cold:
        with tempfile.TemporaryDirectory(prefix="vllm-serving-cold-build-") as tmp:
            # A fresh GOCACHE: everything is compiled; modules still come from GOMODCACHE.
            cold = bins.build_into(Path(tmp) / "bin", GOCACHE=str(Path(tmp) / "gocache"))
    starts, stops = [], []
    with tempfile.TemporaryDirectory(prefix="vllm-serving-bench-") as tmp:
        for _ in range(max(1, args.runs)):
            cluster = LocalCluster(
                Path(tmp) / "state", install_crds=not args.no_crds, lws=not args.no_lws, progress=None
            )
            t = time.monotonic()
            with cluster:
                starts.append(round(time.monotonic() - t, 1))
                t = time.monotonic()
            stops.append(round(time.monotonic() - t, 1))
    data = {
        "cold_build_seconds": cold,
        "cache_build_seconds": build_seconds,
        "cache_built_now": built_now,
        "warm_start_seconds": starts,
        "stop_seconds": stops,
        "cache_bytes": _du(bins.root),
        "bin_dir": str(bins.bin_dir),
        "versions": build.pinned_versions(),
    }
    lines = []
    if cold is not None:
        lines.append(f"cold build:  {cold} s (empty Go build cache)")
    lines += [
        f"cache build: {build_seconds} s ({'now' if built_now else 'when the cache was filled'}; "
        "cold only if Go's build cache was empty)",
        f"warm start:  {', '.join(f'{s} s' for s in starts)} (CRDs: {'no' if args.no_crds else 'yes'}, "
        f"LeaderWorkerSet controller: {'no' if args.no_crds or args.no_lws else 'yes'})",
        f"stop:        {', '.join(f'{s} s' for s in stops)}",
        f"cache:       {data['cache_bytes'] / 2**20:.0f} MiB in {bins.root}",
    ]
    _emit(args, data, "\n".join(lines))
    return 0


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(list(argv))
    return {"up": _up, "down": _down, "status": _status, "build": _build, "bench": _bench}[args.action](args)
