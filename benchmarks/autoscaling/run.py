"""Autoscaling benchmark: a load trace through a queueing model of vLLM pods, with the real HPA controller in
the loop. Not a test: it prints figures.

    .venv/bin/python benchmarks/autoscaling/run.py [--speed 10] [--output text|json]

A local test cluster (vllm_serving.cluster, HPA controller syncing every second) runs the chart's
Deployment and autoscaler for each signal (queue-depth, batch-size, concurrency) twice: with the chart's
default `behavior` and with no damping (stabilization windows 0, no rate limits). A metrics stand-in
(support.metrics_api) serves what the model's pods report: vllm:num_requests_waiting and
vllm:num_requests_running per pod (Pods metrics of the chart's HPA), and, for concurrency, the chart's KEDA
query evaluated by Prometheus's engine over GMP-shaped series of those pods (the External metric of the HPA
KEDA would make from the chart's ScaledObject; no KEDA operator runs here).

Time runs `--speed` times faster than the model's clock: every duration of the chart's behavior is divided by
it (300 s windows become 30 s), and the controller's 1 s sync stands for `speed` seconds (GKE's is 15 s).

The model (per pod): requests arrive through the Service (split evenly over serving pods), at most
`--batch` run at once (vLLM's --max-num-seqs), each for `--service` seconds; the rest wait. A new pod serves
after `--startup` seconds (weight loading) and reports no metrics before. Pods removed by a scale-down
hand their requests to the others. The trace: a step (1 -> 4 req/s at 300 s), a one-minute spike to
8 req/s at 900 s, and a diurnal-like ramp (1 -> 6 -> 1 req/s) from 1100 s to 1800 s.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))  # gmp_series and the test support: GMP-shaped series, PromQL, metrics API

from gmp_series import Scrape  # noqa: E402
from support import promql  # noqa: E402
from support.metrics_api import MetricsApi  # noqa: E402
from vllm_serving import helm  # noqa: E402
from vllm_serving.chart import chart_dir  # noqa: E402
from vllm_serving.cluster.local import LocalCluster  # noqa: E402
from vllm_serving.release import Release, create_namespace  # noqa: E402

WAITING = "prometheus.googleapis.com|vllm:num_requests_waiting|gauge"
RUNNING = "prometheus.googleapis.com|vllm:num_requests_running|gauge"
KEDA_METRIC = "s0-prometheus"  # the name KEDA gives its first trigger's External metric
NAME = "vllm-vllm-serving"
TARGETS = {"queue-depth": 10, "batch-size": 24, "concurrency": 32}
END = 1800.0
SERVERS = "app.kubernetes.io%2Fcomponent%3Dserver"


def load(t: float) -> float:
    """Requests per second at model time t."""
    if 300 <= t < 700:
        return 4.0
    if 900 <= t < 960:
        return 8.0
    if 1100 <= t < END:
        return 1.0 + 5.0 * math.sin(math.pi * (t - 1100) / (END - 1100))
    return 1.0


@dataclass
class Pod:
    started: float
    waiting: float = 0.0
    running: float = 0.0


@dataclass
class Run:
    signal: str
    damped: bool
    namespace: str = ""
    pods: dict[str, Pod] = field(default_factory=dict)
    timeline: list[tuple[float, int, int, float]] = field(default_factory=list)  # t, replicas, serving, queue
    query: str = ""
    scrape: Scrape | None = None  # the GMP target labels of this run's pods (concurrency)

    @property
    def label(self) -> str:
        return f"{self.signal} / {'chart default' if self.damped else 'no damping'}"


def behavior(damped: bool, speed: float) -> dict:
    if not damped:
        rule = {"stabilizationWindowSeconds": 0, "selectPolicy": "Max"}
        fast = [{"type": "Percent", "value": 1000, "periodSeconds": 1}]
        return {"scaleUp": {**rule, "policies": fast}, "scaleDown": {**rule, "policies": fast}}
    scaled = yaml.safe_load((chart_dir() / "values.yaml").read_text())["autoscaling"]["behavior"]
    for direction in scaled.values():
        direction["stabilizationWindowSeconds"] = round(direction["stabilizationWindowSeconds"] / speed)
        for policy in direction["policies"]:
            policy["periodSeconds"] = max(1, round(policy["periodSeconds"] / speed))
    return scaled


def values(run: Run, speed: float) -> dict:
    keda = run.signal == "concurrency"
    return {
        "monitoring": {"podMonitoring": {"enabled": True}},
        "autoscaling": {
            "enabled": True,
            "provider": "keda" if keda else "hpa",
            "minReplicas": 1,
            "maxReplicas": 8,
            "metrics": [{"type": run.signal, "target": TARGETS[run.signal]}],
            "behavior": behavior(run.damped, speed),
            **({"keda": {"serverAddress": "http://frontend.gmp.svc:9090"}} if keda else {}),
        },
    }


def keda_hpa(scaled_object: dict) -> dict:
    """The HPA KEDA's ScaledObject controller makes (keda-hpa-<name>, one External metric per trigger)."""
    spec = scaled_object["spec"]
    name = scaled_object["metadata"]["name"]
    trigger = spec["triggers"][0]
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": f"keda-hpa-{name}"},
        "spec": {
            "scaleTargetRef": spec["scaleTargetRef"],
            "minReplicas": max(1, spec["minReplicaCount"]),
            "maxReplicas": spec["maxReplicaCount"],
            "metrics": [
                {
                    "type": "External",
                    "external": {
                        "metric": {
                            "name": KEDA_METRIC,
                            "selector": {"matchLabels": {"scaledobject.keda.sh/name": name}},
                        },
                        "target": {"type": "AverageValue", "averageValue": trigger["metadata"]["threshold"]},
                    },
                }
            ],
            "behavior": spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"],
        },
    }


def step_model(run: Run, serving_names: list[str], t: float, dt: float, args: argparse.Namespace) -> None:
    for gone in set(run.pods) - set(serving_names):  # scaled down: its requests go to the others
        pod = run.pods.pop(gone)
        if run.pods:
            share = (pod.waiting + pod.running) / len(run.pods)
            for other in run.pods.values():
                other.waiting += share
    for name in serving_names:
        run.pods.setdefault(name, Pod(started=t))
    ready = [p for p in run.pods.values() if t - p.started >= args.startup]
    if not ready:
        return
    arrivals = load(t) * dt / len(ready)
    for pod in ready:
        pod.waiting += arrivals
        pod.running -= min(pod.running, pod.running * dt / args.service)
        admit = min(pod.waiting, args.batch - pod.running)
        pod.running += admit
        pod.waiting -= admit


def publish(run: Run, metrics: MetricsApi, t: float, args: argparse.Namespace) -> None:
    ready = {n: p for n, p in run.pods.items() if t - p.started >= args.startup}
    if run.signal == "concurrency":
        assert run.scrape is not None
        series = [
            s
            for name, pod in ready.items()
            for s in run.scrape.gauges(name, NAME, num_requests_waiting=pod.waiting, num_requests_running=pod.running)
        ]
        (result,) = promql.run(series, [(run.query, 0)])
        value = promql.value(result) or 0.0
        metrics.set_external(run.namespace, KEDA_METRIC, [({"scaledobject.keda.sh/name": NAME}, value)])
    else:
        metrics.set_pods(run.namespace, WAITING, {n: p.waiting for n, p in ready.items()})
        metrics.set_pods(run.namespace, RUNNING, {n: p.running for n, p in ready.items()})


def summarize(run: Run) -> dict:
    replicas = [r for _, r, _, _ in run.timeline]
    changes = [b - a for a, b in itertools.pairwise(replicas) if b != a]
    reversals = sum(1 for a, b in itertools.pairwise(changes) if (a > 0) != (b > 0))
    first_up = next((t for t, r, _, _ in run.timeline if t >= 300 and r > replicas[0]), None)
    queue = sorted(q for _, _, _, q in run.timeline)
    dt = run.timeline[1][0] - run.timeline[0][0] if len(run.timeline) > 1 else 0
    return {
        "run": run.label,
        "max_replicas": max(replicas),
        "scale_changes": len(changes),
        "reversals": reversals,
        "step_to_decision_s": None if first_up is None else round(first_up - 300),
        "mean_queue": round(sum(queue) / len(queue), 1),
        "p95_queue": round(queue[int(0.95 * (len(queue) - 1))], 1),
        "pod_minutes": round(sum(replicas) * dt / 60, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=10, help="model seconds per real second (default 10)")
    parser.add_argument("--batch", type=float, default=32, help="requests a pod runs at once (default 32)")
    parser.add_argument("--service", type=float, default=20, help="seconds one request runs (default 20)")
    parser.add_argument("--startup", type=float, default=60, help="seconds before a new pod serves (default 60)")
    parser.add_argument("--signals", default="queue-depth,batch-size,concurrency")
    parser.add_argument("--duration", type=float, default=END, help="model seconds of the trace to replay")
    parser.add_argument("--output", choices=("text", "json"), default="text")
    args = parser.parse_args(argv)
    runs = [Run(s, d) for s in args.signals.split(",") for d in (True, False)]
    tick = 0.5  # real seconds between model steps
    with (
        tempfile.TemporaryDirectory(prefix="vllm-serving-autoscaling-") as tmp,
        LocalCluster(Path(tmp) / "cluster", lws=False, hpa_sync_period=1, progress=None) as cluster,
    ):
        rest = cluster.rest()
        metrics = MetricsApi(cluster.rest()).start()
        deadline = time.monotonic() + 60
        while not metrics.available() and time.monotonic() < deadline:
            time.sleep(0.5)
        for run in runs:
            run.namespace = f"bench-{uuid.uuid4().hex[:6]}"
            create_namespace(cluster.kubeconfig, run.namespace)
            Release("vllm", run.namespace, cluster.kubeconfig).install(values=values(run, args.speed))
            if run.signal == "concurrency":
                scaled = next(
                    o
                    for o in helm.objects(helm.template(chart_dir(), values(run, args.speed), namespace=run.namespace))
                    if o["kind"] == "ScaledObject"
                )
                run.query = scaled["spec"]["triggers"][0]["metadata"]["query"]
                run.scrape = Scrape({}, namespace=run.namespace)
                rest.create(
                    f"/apis/autoscaling/v2/namespaces/{run.namespace}/horizontalpodautoscalers", keda_hpa(scaled)
                )
        print(f"{len(runs)} runs installed; replaying {args.duration:.0f} model s at {args.speed:g}x", file=sys.stderr)
        start = time.monotonic()
        t = 0.0
        while t < args.duration:
            for run in runs:
                deployment = rest.get(f"/apis/apps/v1/namespaces/{run.namespace}/deployments/{NAME}")
                pods = rest.get(
                    f"/api/v1/namespaces/{run.namespace}/pods?labelSelector=app.kubernetes.io%2Fcomponent%3Dserver"
                )
                names = [
                    p["metadata"]["name"]
                    for p in pods["items"]
                    if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
                ]
                step_model(run, names, t, tick * args.speed, args)
                publish(run, metrics, t, args)
                queue = sum(p.waiting for p in run.pods.values())
                run.timeline.append((t, deployment["spec"]["replicas"], len(names), queue))
            time.sleep(max(0.0, start + (t / args.speed + tick) - time.monotonic()))
            t += tick * args.speed
        metrics.stop()
        rest.close()
    summaries = [summarize(r) for r in runs]
    if args.output == "json":
        print(json.dumps({"summaries": summaries, "timelines": {r.label: r.timeline for r in runs}}, indent=1))
        return 0
    header = f"{'signal / behavior':34} {'max':>4} {'changes':>8} {'reversals':>9} {'step->decision s':>16}"
    header += f" {'mean queue':>10} {'p95 queue':>9} {'pod-min':>8}"
    print(header)
    for s in summaries:
        decision = "-" if s["step_to_decision_s"] is None else str(s["step_to_decision_s"])
        print(
            f"{s['run']:34} {s['max_replicas']:>4} {s['scale_changes']:>8} {s['reversals']:>9} {decision:>16}"
            f" {s['mean_queue']:>10} {s['p95_queue']:>9} {s['pod_minutes']:>8}"
        )
    print("\nreplicas (queue) every 100 model seconds:")
    for run in runs:
        marks = [f"{r}({q:.0f})" for t, r, _, q in run.timeline if t % 100 < tick * args.speed]
        print(f"{run.label:34} {' '.join(marks)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
