"""preflight's gke-version check: the GKE features a rendered release uses, against the cluster's version
(rules.yaml gkeVersions, from GKE's pages). The release is rendered by Helm; only the API server's
/version answer is given here (a real one is not a GKE version: tests/install/test_preflight.py)."""

from __future__ import annotations

import pytest

from paths import CHART, VALUES_FILES
from support.manifests import render, render_file
from vllm_serving import chart as chart_mod
from vllm_serving.preflight import gke_version
from vllm_serving.preflight.core import FAIL, PASS, WARN, Context

COMPUTECLASS = next(p for p in VALUES_FILES if p.name == "gemma-2-9b-it-l4-computeclass.yaml")
QUEUED = {"batch": {"enabled": True, "bucket": "my-batch", "provisioning": "queuedProvisioning"}}


class Version:
    """The one thing the check asks the cluster: its version."""

    def __init__(self, version: str):
        self.version = version

    def server_version(self) -> str:
        return self.version


def results(objects: list[dict], version: str) -> list[tuple[str, str]]:
    ctx = Context(
        values={},
        objects=objects,
        kube=Version(version),
        namespace="default",
        release="vllm",
        chart=CHART,
        rules=chart_mod.rules(CHART),
    )
    return [(r.status, r.message) for r in gke_version.checks(ctx)]


def test_versions_compare_as_gke_numbers():
    assert gke_version.parse("v1.32.10-gke.100") > gke_version.parse("1.32.2-gke.1652000")
    assert gke_version.parse("v1.31.1-gke.2105000") > gke_version.parse("1.31.1-gke.1858000")
    assert gke_version.parse("v1.35.0") is None


def test_the_computeclass_file_on_a_cluster_too_old_for_each_of_its_features():
    found = results(render_file(COMPUTECLASS), "v1.31.1-gke.1900000")
    assert (
        FAIL,
        "ComputeClass vllm-l4-x2 priorities[0].reservations needs GKE 1.31.1-gke.2105000 or later; the cluster"
        " runs 1.31.1-gke.1900000: upgrade the control plane (gcloud container clusters upgrade CLUSTER --master"
        " --cluster-version 1.31.1-gke.2105000), or remove it from the values",
    ) in found
    assert (
        FAIL,
        "ComputeClass vllm-l4-x2 priorities[2].flexStart needs GKE 1.32.2-gke.1652000 or later; the cluster runs"
        " 1.31.1-gke.1900000: upgrade the control plane (gcloud container clusters upgrade CLUSTER --master"
        " --cluster-version 1.32.2-gke.1652000), or remove it from the values",
    ) in found
    (warning,) = [m for s, m in found if s == WARN]
    assert warning.startswith(
        "ComputeClass vllm-l4-x2 (nodePoolAutoCreation): GKE 1.31.1-gke.1900000 creates a ComputeClass's node"
        " pools only with cluster-level node auto-provisioning enabled (from 1.33.3-gke.1136000 the class alone"
    )
    assert "customComputeClass" not in str(found)  # 1.30.3-gke.1451000 is older


def test_a_recent_cluster_passes_naming_what_it_checked():
    ((status, message),) = results(render_file(COMPUTECLASS), "v1.34.1-gke.1000")
    assert status == PASS
    assert message == (
        "GKE 1.34.1-gke.1000 runs what the release uses (classNodePoolAutoCreation, classReservations,"
        " customComputeClass, flexStart)"
    )


@pytest.mark.parametrize("values", [QUEUED, {**QUEUED, "batch": {**QUEUED["batch"], "provisioning": "flexStart"}}])
def test_flex_start_and_queued_provisioning(values):
    found = results(render(values), "v1.30.5-gke.1000")
    assert all(s == FAIL and "needs GKE 1.32.2-gke.1652000 or later" in m for s, m in found)
    assert found


def test_nothing_to_check_and_not_gke():
    assert results(render({}), "v1.30.0-gke.1") == []
    assert results(render(QUEUED), "v1.35.0") == [
        (PASS, "v1.35.0 is not a GKE version, so GKE's minimum versions were not checked")
    ]
