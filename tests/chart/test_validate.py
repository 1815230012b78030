"""templates/validate.yaml (the rules of templates/validate/): each rule that compares numbers, on both sides of
its boundary, asserting the exact message a user reads. Every rule's own negative case is in bad-values/
(test_bad_values.py checks that each message of those rules is reached by one)."""

from __future__ import annotations

import re

import pytest

from paths import CHART
from vllm_serving.verdict import chart_verdict

HPA = {"monitoring": {"podMonitoring": {"enabled": True}}}
GPU_HPA = {"enabled": True, "clusterName": "prod", "metrics": [{"type": "gpu-utilization", "target": 0}]}
KEDA = {"enabled": True, "provider": "keda", "keda": {"serverAddress": "http://frontend.gmp.svc:9090"}}
WAKE_UP = {
    "type": "prometheus",
    "metadata": {"serverAddress": KEDA["keda"]["serverAddress"], "query": "sum(queue_length)", "threshold": "1"},
}


def gpu_target(target: float) -> dict:
    return {"autoscaling": GPU_HPA | {"metrics": [{"type": "gpu-utilization", "target": target}]}}


def batch(**overrides) -> dict:
    return {"batch": {"enabled": True, "bucket": "my-batch", "input": "requests.jsonl"} | overrides}


# (case, values, the message, or None where the values are valid). Each pair straddles one boundary.
CASES = [
    ("tensor at the L4 maximum", {"parallelism": {"tensor": 8}}, None),
    (
        "tensor above the L4 maximum",
        {"parallelism": {"tensor": 16}},
        "parallelism.tensor: 16 exceeds the 8 GPUs of the largest nvidia-l4 machine (g2-standard-96); use 1, 2, 4"
        " or 8, or choose gke.accelerator with larger machines",
    ),
    ("tensor 16 on A100 40GB", {"parallelism": {"tensor": 16}, "gke": {"accelerator": "nvidia-tesla-a100"}}, None),
    (
        "tensor not a power of two",
        {"parallelism": {"tensor": 6}},
        "parallelism.tensor: 6 is not a power of two; use 1, 2, 4 or 8",
    ),
    ("startup budget equal to the period", {"startup": {"maxSeconds": 10}}, None),
    (
        "startup budget below the period",
        {"startup": {"maxSeconds": 9}},
        "startup.maxSeconds: 9 is shorter than startup.periodSeconds (10); raise startup.maxSeconds to the time"
        " the first load takes",
    ),
    ("grace one second above pause and margin", {"terminationGracePeriodSeconds": 36, "preStopSleepSeconds": 30}, None),
    (
        "grace equal to pause and margin",
        {"terminationGracePeriodSeconds": 35, "preStopSleepSeconds": 30},
        "terminationGracePeriodSeconds: 35 must exceed preStopSleepSeconds (30) plus shutdownMarginSeconds (5), or"
        " in-flight requests are cut off; raise it to at least 36 or shorten the pause",
    ),
    ("surge 1 with unavailable 0", {"rollout": {"maxUnavailable": 0, "maxSurge": 1}}, None),
    (
        "surge 0% with unavailable 0",
        {"rollout": {"maxUnavailable": 0, "maxSurge": "0%"}},
        "rollout.maxUnavailable: 0 together with rollout.maxSurge 0 can never replace a pod; set"
        " rollout.maxUnavailable to 1",
    ),
    ("min replicas equal to max", HPA | {"autoscaling": {"enabled": True, "minReplicas": 3, "maxReplicas": 3}}, None),
    (
        "min replicas one above max",
        HPA | {"autoscaling": {"enabled": True, "minReplicas": 4, "maxReplicas": 3}},
        "autoscaling.minReplicas: 4 is above autoscaling.maxReplicas (3)",
    ),
    ("HPA with one pod at least", HPA | {"autoscaling": {"enabled": True, "minReplicas": 1}}, None),
    (
        "HPA scaled to zero",
        HPA | {"autoscaling": {"enabled": True, "minReplicas": 0}},
        "autoscaling.minReplicas: 0 (scale to zero) needs autoscaling.provider: keda; the HPA keeps at least one pod",
    ),
    ("KEDA at one replica", {"autoscaling": KEDA | {"minReplicas": 1}}, None),
    (
        "KEDA at zero replicas with nothing to wake it",
        {"autoscaling": KEDA | {"minReplicas": 0}},
        "autoscaling.minReplicas: 0 would never scale back up: every trigger reads series of the serving pods, which"
        " vanish at zero replicas, and KEDA reads the empty result as 0; add a wake-up signal that does not come"
        " from the serving pods (autoscaling.keda.extraTriggers, e.g. requests counted at the load balancer or a"
        " queue's length), or set autoscaling.minReplicas: 1",
    ),
    (
        "KEDA at zero replicas with a wake-up trigger",
        {"autoscaling": KEDA | {"minReplicas": 0, "keda": KEDA["keda"] | {"extraTriggers": [WAKE_UP]}}},
        None,
    ),
    # The HPA adds a pod only above target x 1.1 (its default tolerance), and utilization stops at 100.
    ("GPU target of 90 percent", gpu_target(90), None),
    (
        "GPU target of 91 percent",
        gpu_target(91),
        "autoscaling.metrics[0].target: 91 can never be passed by the autoscaler's 10 % tolerance, since GPU"
        " utilization stops at 100 %, so no pod would ever be added; use at most 90",
    ),
    (
        "GPU target just above 100 percent",
        gpu_target(100.5),
        "autoscaling.metrics[0].target: 100.5 is not a percentage; GPU utilization targets lie between 0 and 100",
    ),
    ("batch pods equal to shards", batch(shards=4, parallelism=4), None),
    (
        "batch pods one more than shards",
        batch(shards=4, parallelism=5),
        "batch.parallelism: 5 is more than batch.shards (4); the extra pods would have no shard",
    ),
    ("batch on one node", batch() | {"parallelism": {"pipeline": 1}}, None),
    (
        "batch on two nodes",
        batch() | {"parallelism": {"pipeline": 2}},
        "parallelism.pipeline: a batch Job runs one pod per shard; multi-node (pipeline > 1) serves only, so set"
        " parallelism.pipeline: 1 or batch.enabled: false",
    ),
    (
        "memory request equal to its limit in other units",
        {"resources": {"requests": {"memory": "1024Mi"}, "limits": {"memory": "1Gi"}}},
        None,
    ),
    (
        "memory request one byte above its limit",
        {"resources": {"requests": {"memory": 1073741825}, "limits": {"memory": "1Gi"}}},
        "resources.requests.memory: 1073741825 is more than resources.limits.memory (1Gi), which Kubernetes refuses;"
        " raise the limit or lower the request",
    ),
    ("cpu request equal to its limit", {"resources": {"requests": {"cpu": "2500m"}, "limits": {"cpu": 2.5}}}, None),
    (
        "cpu request above its limit, exponent form",
        {"resources": {"requests": {"cpu": "3e0"}, "limits": {"cpu": "2999m"}}},
        "resources.requests.cpu: 3e0 is more than resources.limits.cpu (2999m), which Kubernetes refuses; raise the"
        " limit or lower the request",
    ),
    ("scrape timeout equal to the interval", {"monitoring": {"interval": "1m", "timeout": "60s"}}, None),
    (
        "scrape timeout one second longer, other units",
        {"monitoring": {"interval": "1m", "timeout": "61s"}},
        "monitoring.timeout: 61s is longer than monitoring.interval (1m); a scrape must end before the next begins",
    ),
    ("scrape timeout in milliseconds", {"monitoring": {"interval": "1s", "timeout": "999ms"}}, None),
    (
        "scrape timeout of 1001 milliseconds",
        {"monitoring": {"interval": "1s", "timeout": "1001ms"}},
        "monitoring.timeout: 1001ms is longer than monitoring.interval (1s); a scrape must end before the next begins",
    ),
]


@pytest.mark.parametrize(("values", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_boundary(values, message):
    problems = chart_verdict(CHART, values=values).problems
    assert problems == ([message] if message else [])


# Values that resemble what a rule refuses but are right: a rule that fires on them is too wide.
LOOKALIKES = {
    "flags the chart does not own, a value with spaces": {
        "vllm": {
            "extraArgs": [
                "--max-num-batched-tokens=8192",
                '--override-generation-config={"temperature": 0.7}',
                "--enable-prefix-caching",
            ]
        }
    },
    "a secret variable from a Secret, a switch named like a token": {
        "env": [
            {"name": "WANDB_API_KEY", "valueFrom": {"secretKeyRef": {"name": "wandb", "key": "api-key"}}},
            {"name": "HF_HUB_DISABLE_IMPLICIT_TOKEN", "value": "1"},
        ]
    },
    "node selectors that agree with gke": {
        "gke": {"nodePool": "l4-pool"},
        "nodeSelector": {"cloud.google.com/gke-accelerator": "nvidia-l4", "cloud.google.com/gke-nodepool": "l4-pool"},
    },
    "a pool selected without gke.nodePool": {"nodeSelector": {"cloud.google.com/gke-nodepool": "l4-pool"}},
    "a registry with a port": {"image": {"repository": "localhost:5000/vllm/vllm-openai"}},
    "an existing ServiceAccount without Workload Identity": {"serviceAccount": {"create": False, "name": "vllm"}},
    "an NFS claim alone": {"weights": {"source": "nfs", "nfs": {"existingClaim": "filestore-weights"}}},
    # A Google service account all the same (issue 24: both tools refused it).
    "Workload Identity as a project's Compute Engine default service account": {
        "serviceAccount": {"gcpServiceAccount": "123456789012-compute@developer.gserviceaccount.com"}
    },
    "right beside the bad-input rules of issue 24": {
        "model": {"name": "google/gemma-2-9b-it"},
        "gke": {"accelerator": "nvidia-l4"},
        "vllm": {"dtype": "bfloat16", "maxNumSeqs": 256},
        "weights": {
            "source": "gcsfuse",
            "gcsfuse": {
                "bucket": "my-models",
                "path": "google/gemma-2-9b-it",
                "loadFormat": "safetensors",
                "fileCache": {"size": 100 * 2**30},  # bytes, but enough
                "sidecar": {"ephemeralStorageLimit": "101Gi"},
            },
            "huggingface": {"tokenSecret": {"name": "hf-secret", "key": "hf_api_token"}},
        },
        "nodeSelector": {"topology.kubernetes.io/zone": "us-central1-a"},
        "podLabels": {"team": "ml-platform", "example.com/cost-center": "ml_1"},
        "tolerations": [{"key": "cloud.google.com/gke-spot", "operator": "Exists", "effect": "NoSchedule"}],
        "serviceAccount": {
            "name": "vllm.serving",
            "annotations": {"iam.gke.io/gcp-service-account": "vllm-reader@my-project.iam.gserviceaccount.com"},
        },
        "extraVolumes": [{"name": "ca-bundle", "configMap": {"name": "ca"}}],
        "extraVolumeMounts": [{"name": "ca-bundle", "mountPath": "/etc/ssl/custom"}],
        "extraContainers": [
            {"name": "exporter", "image": "busybox:1.37", "ports": [{"name": "metrics", "containerPort": 9400}]}
        ],
        "monitoring": {"port": "metrics", "podMonitoring": {"enabled": True}},
        "autoscaling": {
            "enabled": True,
            "clusterName": "prod",
            "metrics": [{"type": "gpu-utilization", "target": 90}, {"type": "batch-size", "target": 232}],
        },
    },
    "capabilities Autopilot allows, and any on Standard": {
        "gke": {"mode": "autopilot"},
        "securityContext": {"capabilities": {"add": ["SYS_PTRACE", "NET_BIND_SERVICE"], "drop": ["ALL"]}},
        "chatUI": {"enabled": True, "securityContext": {"capabilities": {"add": ["CHOWN"]}}},
    },
    "a capability Autopilot refuses, on Standard": {"securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}},
}


@pytest.mark.parametrize("values", LOOKALIKES.values(), ids=LOOKALIKES.keys())
def test_lookalikes_are_accepted(values):
    assert chart_verdict(CHART, values=values).problems == []


# What vLLM's own parser (vllm/utils/argparse_utils.py FlexibleArgumentParser + argparse, as `vllm serve`
# ships it) reads from extraArgs that an exact-name check would let through, or refuses only when the pod
# starts; the chart must refuse each at render.
SMUGGLED = {
    "underscores": (["--tensor_parallel_size=2"], {"tensor_parallel_size": 2}),
    "a unique prefix": (["--max-model", "4096"], {"max_model_len": 4096}),
    "flag and value in one item": (["--max-model-len 4096"], "unrecognized arguments: --max-model-len 4096"),
    "a data-parallel size": (["-dp", "2"], {"data_parallel_size": 2}),
}


@pytest.mark.vllm_parser
def test_the_extra_args_vllm_would_read_past_the_chart_are_refused():
    from vllm_serving.vllm_parser import parse_argvs, pinned_vllm_version

    model = "Qwen/Qwen2.5-1.5B-Instruct"
    dests = sorted({dest for _, read in SMUGGLED.values() if isinstance(read, dict) for dest in read})
    parsed = parse_argvs(pinned_vllm_version(CHART), [[model, *args] for args, _ in SMUGGLED.values()], dests)
    for (name, (args, read)), answer in zip(SMUGGLED.items(), parsed, strict=True):
        if isinstance(read, str):
            assert read in answer["error"], (name, answer)
        else:
            assert {dest: answer["values"][dest] for dest in read} == read, (name, answer)
        problems = chart_verdict(CHART, values={"vllm": {"extraArgs": args}}).problems
        assert len(problems) == 1 and problems[0].startswith("vllm.extraArgs: "), (name, problems)


def test_every_rule_topic_is_collected():
    """A topic file the collector does not list would never run: its rules would pass everything."""
    templates = CHART / "templates"
    defined = {
        name
        for path in (templates / "validate").glob("_*.tpl")
        for name in re.findall(r'define "vllm-serving\.validate\.([A-Za-z]+)"', path.read_text())
    }
    listed = re.search(r"range \$topic := list((?:\s+\"[A-Za-z]+\")+)", (templates / "_validate.tpl").read_text())
    assert listed, "the collector's list of topics is not where this test looks for it"
    assert set(re.findall(r'"([A-Za-z]+)"', listed.group(1))) == defined
