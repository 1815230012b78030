"""What the built wheel carries: the chart and the cluster's Go module as package data, and no test support."""

from __future__ import annotations

import subprocess

import pytest

from paths import REPO

pytestmark = pytest.mark.packaging

BUNDLE = "vllm_serving/_bundled/"


def tracked(directory: str) -> set[str]:
    out = subprocess.run(["git", "ls-files", directory], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return set(out.split())


def bundled(names: set[str], directory: str) -> set[str]:
    return {n[len(BUNDLE) :] for n in names if n.startswith(BUNDLE + directory + "/")}


def test_the_chart_is_package_data_file_for_file(wheel_names):
    assert bundled(wheel_names, "charts/vllm-serving") == tracked("charts/vllm-serving")


def test_the_cluster_go_module_is_package_data_file_for_file(wheel_names):
    assert bundled(wheel_names, "hack/cluster") == tracked("hack/cluster")


def test_every_module_and_data_file_of_the_package_is_inside(wheel_names):
    package = {p for p in tracked("scripts/vllm_serving") if "__pycache__" not in p}
    assert {p.removeprefix("scripts/") for p in package} <= wheel_names


def test_no_test_support_is_inside(wheel_names):
    top_level = {n.split("/", 1)[0] for n in wheel_names}
    assert top_level == {"vllm_serving", *(n for n in top_level if n.endswith(".dist-info"))}
    support = sorted(
        n
        for n in wheel_names
        if n.startswith("vllm_serving/testing/")
        or n.rsplit("/", 1)[-1] in ("conftest.py", "kubeschemas.py", "manifests.py")
        or "fakegcp" in n
        or ("/tests/" in n and not n.startswith(BUNDLE))  # the chart's templates/tests are helm test hooks
    )
    assert support == []
