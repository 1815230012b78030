"""Chart.yaml's kubeVersion against the Kubernetes features the rendered objects need, read from the
Kubernetes source the local test cluster is built from (hack/cluster/go.mod)."""

from __future__ import annotations

import re

import pytest
import yaml

from paths import CHART
from support.manifests import render

MULTINODE = {"parallelism": {"tensor": 8, "pipeline": 2}, "gke": {"accelerator": "nvidia-h100-80gb"}}


def oldest_minor() -> int:
    kube_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["kubeVersion"]
    match = re.fullmatch(r">=1\.(\d+)\.0-0", kube_version)
    assert match, f"kubeVersion {kube_version!r} is not of the form >=1.N.0-0"
    return int(match.group(1))


def on_by_default_since(gate: str) -> int:
    """The first minor in which Kubernetes turns the feature gate on by default (pkg/features/kube_features.go)."""
    from vllm_serving.cluster import build
    from vllm_serving.errors import ToolMissing

    version = build.pinned_versions()["k8s.io/kubernetes"]
    try:
        source = build.go_mod_download([("k8s.io/kubernetes", version)])["k8s.io/kubernetes"]
    except ToolMissing as err:
        pytest.skip(str(err))
    text = (source / "pkg" / "features" / "kube_features.go").read_text()
    block = re.search(rf"^\t{gate}: {{\n(.*?)^\t}},", text, re.S | re.M)
    assert block, f"{gate} not found in k8s.io/kubernetes@{version}"
    minors = re.findall(r'MustParse\("1\.(\d+)"\), Default: true', block.group(1))
    return min(int(m) for m in minors)


def test_kube_version_admits_match_label_keys_in_pod_affinity():
    """Before MatchLabelKeysInPodAffinity is on, the API server drops matchLabelKeys and a group's
    affinity term matches every LeaderWorkerSet pod of the namespace."""
    lws = next(o for o in render(MULTINODE) if o["kind"] == "LeaderWorkerSet")
    terms = lws["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["affinity"]["podAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert any("matchLabelKeys" in term for term in terms)
    assert oldest_minor() >= on_by_default_since("MatchLabelKeysInPodAffinity")
