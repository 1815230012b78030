"""Series shaped the way Google Managed Prometheus stores what the chart scrapes, for the PromQL engine.

vLLM's series carry the metric's own labels (the pinned vLLM's `model_name` and `engine`, see
vllm/v1/metrics/loggers.py) plus the target labels the chart's PodMonitoring makes GMP attach:
`project_id`, `location`, `cluster`, `namespace` and `job` (the PodMonitoring's name) always, `instance`
(<pod>:<port>), and its `targetLabels.metadata` (pod, container, top-level controller). The names come from
the rendered PodMonitoring, so a change there changes these series. DCGM's series are the exporter's
labels (GKE's managed dcgm-exporter attributes each GPU to the pod using it with `namespace`, `pod`,
`container`).
"""

from __future__ import annotations

import itertools
import re

from support.manifests import of_kind, one, render

# The vLLM series the fixtures below produce (tests tie each to the pinned vLLM's metrics module).
VLLM_GAUGES = ("vllm:num_requests_waiting", "vllm:num_requests_running", "vllm:kv_cache_usage_perc")
VLLM_COUNTERS = (
    "vllm:request_success_total",
    "vllm:prompt_tokens_total",
    "vllm:generation_tokens_total",
    "vllm:num_preemptions_total",
    "vllm:prefix_cache_hits_total",
    "vllm:prefix_cache_queries_total",
)
VLLM_HISTOGRAMS = (
    "vllm:time_to_first_token_seconds",
    "vllm:inter_token_latency_seconds",
    "vllm:e2e_request_latency_seconds",
)
MODEL = "google/gemma-2-9b-it"
GMP_RESOURCE = {"project_id": "my-project", "location": "us-central1", "cluster": "prod"}
_suffixes = itertools.count()


def deployment_pod(deployment: str, template_hash: str = "7d9f8b6c5d") -> str:
    """A pod name as the ReplicaSet controller makes it: generateName "<deployment>-<hash>-" cut to 58
    characters, then 5 random characters (k8s.io/apiserver names.SimpleNameGenerator)."""
    suffix = f"{next(_suffixes):05d}".translate(str.maketrans("0123456789", "bcdfghjklm"))
    return f"{deployment}-{template_hash}-"[:58] + suffix


class Scrape:
    """The target labels GMP attaches to what the chart's PodMonitoring scrapes, for one release."""

    def __init__(self, values: dict, release: str = "vllm", namespace: str = "llm", cluster: str = "prod"):
        values = {**values, "monitoring": {**values.get("monitoring", {}), "podMonitoring": {"enabled": True}}}
        monitor = one(render(values, release=release, namespace=namespace), "PodMonitoring")
        self.namespace = namespace
        self.resource = {**GMP_RESOURCE, "cluster": cluster}
        self.job = monitor["metadata"]["name"]
        self.port = monitor["spec"]["endpoints"][0]["port"]
        self.metadata = monitor["spec"]["targetLabels"]["metadata"]

    def labels(self, name: str, pod: str, controller: str, kind: str = "Deployment", **extra: str) -> dict:
        meta = {
            "pod": pod,
            "container": "vllm",
            "top_level_controller_name": controller,
            "top_level_controller_type": kind,
        }
        return {
            "__name__": name,
            **self.resource,
            "namespace": self.namespace,
            "job": self.job,
            "instance": f"{pod}:{self.port}",
            **{k: v for k, v in meta.items() if k in self.metadata},
            "model_name": MODEL,
            "engine": "0",
            **extra,
        }

    def gauges(self, pod: str, controller: str, kind: str = "Deployment", *, at: float = 0, **values: float) -> list:
        """One sample per gauge, e.g. gauges(pod, name, num_requests_waiting=3)."""
        return [
            {"labels": self.labels(f"vllm:{gauge}", pod, controller, kind), "samples": [[at, value]]}
            for gauge, value in values.items()
        ]


class EppScrape:
    """What GMP stores from the chart's PodMonitoring of the endpoint picker, for one release: the picker's
    flow-control gauge with the labels GIE v1.5.0 gives it (pkg/epp/metrics/metrics.go:
    fairness_id, priority, inference_pool, model_name, target_model_name; fairness_id defaults to
    "default-flow" and priority to "0", pkg/epp/handlers/request.go) plus the scrape's target labels."""

    QUEUE = "inference_extension_flow_control_queue_size"

    def __init__(self, values: dict, release: str = "vllm", namespace: str = "llm", cluster: str = "prod"):
        values = {**values, "monitoring": {**values.get("monitoring", {}), "podMonitoring": {"enabled": True}}}
        objects = render(values, release=release, namespace=namespace)
        self.resource = {**GMP_RESOURCE, "cluster": cluster}
        monitor = next(o for o in of_kind(objects, "PodMonitoring") if o["metadata"]["name"].endswith("-epp"))
        picker = next(o for o in of_kind(objects, "Deployment") if o["metadata"]["name"].endswith("-epp"))
        args = picker["spec"]["template"]["spec"]["containers"][0]["args"]
        self.pool = args[args.index("--pool-name") + 1]
        self.deployment = picker["metadata"]["name"]
        self.namespace = namespace
        self.job = monitor["metadata"]["name"]
        self.port = monitor["spec"]["endpoints"][0]["port"]
        self.metadata = monitor["spec"]["targetLabels"]["metadata"]

    def queue(self, held: float, *, model: str, target: str = "", at: float = 0, pod: str = "") -> dict:
        """The picker's gauge for one flow: requests held for `model` (rewritten to `target`)."""
        own = {
            "__name__": self.QUEUE,
            "fairness_id": "default-flow",
            "priority": "0",
            "inference_pool": self.pool,
            "model_name": model,
            "target_model_name": target or model,
        }
        return self.scraped({"labels": own, "samples": [[at, held]]}, pod)

    def scraped(self, exposed: dict, pod: str = "") -> dict:
        """A series as the picker exposes it, with the target labels GMP adds when it scrapes `pod`."""
        pod = pod or deployment_pod(self.deployment)
        meta = {
            "pod": pod,
            "container": "epp",
            "top_level_controller_name": self.deployment,
            "top_level_controller_type": "Deployment",
        }
        target = {
            **self.resource,
            "namespace": self.namespace,
            "job": self.job,
            "instance": f"{pod}:{self.port}",
            **{k: v for k, v in meta.items() if k in self.metadata},
        }
        return {**exposed, "labels": {**exposed["labels"], **target}}


def dcgm(pod: str, namespace: str, gpu: int) -> dict:
    """Labels of DCGM_FI_DEV_GPU_UTIL for one GPU as the exporter exposes it, attributed to the pod using it."""
    return {
        "__name__": "DCGM_FI_DEV_GPU_UTIL",
        "gpu": str(gpu),
        "UUID": f"GPU-{gpu:08d}",
        "device": f"nvidia{gpu}",
        "modelName": "NVIDIA L4",
        "Hostname": "gke-prod-l4-pool-1a2b",
        "namespace": namespace,
        "pod": pod,
        "container": "vllm",
    }


# Grafana's variables, as Grafana substitutes them before the query reaches the data source (two
# namespaces selected, every model).
GRAFANA = {
    "$__rate_interval": "1m",
    "$namespace": "llm|staging",
    "$model": ".*",
    "$usd_per_gpu_hour": "0.85",
    "$gpus_per_replica": "1",
}


def grafana(expr: str) -> str:
    """A dashboard query as the data source receives it."""
    for name, value in GRAFANA.items():
        expr = expr.replace(name, value)
    # label_values(SELECTOR, LABEL) is Grafana's, not PromQL: the data source is asked for SELECTOR.
    match = re.fullmatch(r"label_values\((.*), *\w+\)", expr)
    return match.group(1) if match else expr
