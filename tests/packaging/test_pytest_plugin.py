"""The pytest plugin (entry point pytest11 vllm_serving) loads beside pytest-helm-charts, and targets a cluster
from KUBECONFIG only when asked to.

pytest-helm-charts 1.3.5 registers --kubeconfig and a kube_cluster fixture (its pytest_helm_charts/plugin.py);
before the rename, pytest refused to start with both installed: "option dest 'kubeconfig' already used"."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vllm_serving import pytest_plugin

pytestmark = pytest.mark.packaging


class Options:
    def __init__(self, **given):
        self.given = given

    def getoption(self, name):
        return self.given.get(name.lstrip("-").replace("-", "_"))


def test_kubeconfig_from_the_environment_is_ignored_without_the_opt_in(monkeypatch):
    monkeypatch.setenv("KUBECONFIG", "/home/me/.kube/production")
    assert pytest_plugin.target_kubeconfig(Options()) is None


def test_the_opt_in_uses_the_first_kubeconfig_path(monkeypatch):
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join(["/k/first", "/k/second"]))
    assert pytest_plugin.target_kubeconfig(Options(vllm_serving_use_kubeconfig=True)) == Path("/k/first")


def test_an_explicit_kubeconfig_wins(monkeypatch):
    monkeypatch.setenv("KUBECONFIG", "/k/env")
    options = Options(vllm_serving_kubeconfig="/k/given", vllm_serving_use_kubeconfig=True)
    assert pytest_plugin.target_kubeconfig(options) == Path("/k/given")


def test_the_opt_in_without_kubeconfig_is_a_usage_error(monkeypatch):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    with pytest.raises(pytest.UsageError, match="--vllm-serving-use-kubeconfig: KUBECONFIG is not set"):
        pytest_plugin.target_kubeconfig(Options(vllm_serving_use_kubeconfig=True))


INNER_TEST = """
def test_both_plugins_are_loaded(request, chart_path):
    plugins = request.config.pluginmanager
    assert plugins.has_plugin("vllm_serving") and plugins.has_plugin("helm-charts")
    assert request.config.getoption("--kubeconfig") == "/dev/null/theirs"
    assert request.config.getoption("--vllm-serving-kubeconfig") == "/dev/null/ours"
    assert chart_path == "charts/x"  # pytest-helm-charts' own fixture, from its --chart-path
"""


def test_loads_beside_pytest_helm_charts(tmp_path):
    site = tmp_path / "site"
    plugin = "pytest-helm-charts==1.3.5"
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-compile", "--target", str(site), plugin],
        capture_output=True,
        text=True,
    )
    assert pip.returncode == 0, pip.stderr[-3000:]
    project = tmp_path / "project"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\n")
    (project / "test_inner.py").write_text(textwrap.dedent(INNER_TEST))
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("KUBECONFIG", None)
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--kubeconfig", "/dev/null/theirs",
            "--vllm-serving-kubeconfig", "/dev/null/ours", "--chart-path", "charts/x"]  # fmt: skip
    inner = subprocess.run([*argv, "test_inner.py"], cwd=project, env=env, capture_output=True, text=True)
    assert inner.returncode == 0, inner.stdout[-3000:] + inner.stderr[-3000:]
    assert "1 passed" in inner.stdout

    fixtures = subprocess.run([*argv, "--fixtures"], cwd=project, env=env, capture_output=True, text=True)
    assert fixtures.returncode == 0, fixtures.stderr[-3000:]
    for name in ("kube_cluster", "vllm_cluster", "vllm_release", "vllm_preflight"):
        assert f"\n{name}" in fixtures.stdout, name
