"""pytest plugin (entry point pytest11): fixtures to test the chart, or your own values, on a cluster.

    def test_my_values(vllm_release):
        release = vllm_release(values_files=[Path("values/my-model.yaml")])
        assert all(p.accelerator == "nvidia-l4" for p in release.placements())

vllm_cluster    the cluster, for the session: the local test cluster (a real control plane with fake GKE GPU
                nodes, built on first use), or the one --vllm-serving-kubeconfig names. $KUBECONFIG's cluster
                only with --vllm-serving-use-kubeconfig: an exported production kubeconfig is never a test
                target by accident.
vllm_release    a factory: installs the chart into a fresh namespace (enforcing Pod Security baseline
                unless told otherwise; autopilot=True: the local cluster's GKE Autopilot admission),
                waits until its pods are Ready, and uninstalls at teardown.
vllm_preflight  a function: runs `vllm-serving preflight`'s checks of values files on that cluster and
                returns the results (name, status pass/warn/fail, message):

    def test_my_values_can_install(vllm_preflight):
        results = vllm_preflight([Path("values/my-model.yaml")], namespace="llm")
        assert [r for r in results if r.status == "fail"] == []

Every option and fixture carries the vllm-serving / vllm_ prefix, so the plugin loads beside others that
name theirs generically (pytest-helm-charts has --kubeconfig and kube_cluster).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("vllm-serving")
    group.addoption("--vllm-serving-kubeconfig", help="run cluster tests against this cluster, not the local one")
    group.addoption(
        "--vllm-serving-use-kubeconfig",
        action="store_true",
        help="run cluster tests against the cluster $KUBECONFIG names (without this, KUBECONFIG is ignored)",
    )
    group.addoption(
        "--vllm-serving-chart", help="chart directory for vllm_release (default: the chart inside the package)"
    )


def pytest_configure(config: pytest.Config) -> None:
    """Builds that run on first use (the local cluster, vLLM's parser environment, the Go checkers) take
    minutes: show their progress on the terminal even while pytest captures the tests' output."""
    import sys

    from vllm_serving import gobuild

    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        return

    def show(message: str) -> None:
        with capture.global_and_fixture_disabled():
            sys.stderr.write(f"\n{message}")
            sys.stderr.flush()

    gobuild.set_sink(show)


def pytest_unconfigure(config: pytest.Config) -> None:
    from vllm_serving import gobuild

    gobuild.set_sink(None)


def target_kubeconfig(config: pytest.Config) -> Path | None:
    """The cluster the options name, or None for the local test cluster."""
    if config.getoption("--vllm-serving-kubeconfig"):
        return Path(config.getoption("--vllm-serving-kubeconfig"))
    if config.getoption("--vllm-serving-use-kubeconfig"):
        if not os.environ.get("KUBECONFIG"):
            raise pytest.UsageError("--vllm-serving-use-kubeconfig: KUBECONFIG is not set")
        return Path(os.environ["KUBECONFIG"].split(os.pathsep)[0])
    return None


@pytest.fixture(scope="session")
def vllm_cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from vllm_serving import gobuild
    from vllm_serving.cluster import build
    from vllm_serving.cluster.testing import session_cluster
    from vllm_serving.errors import ToolMissing

    kubeconfig = target_kubeconfig(request.config)
    if kubeconfig is None:
        try:
            gobuild.find_go("the local test cluster")
        except ToolMissing as err:
            if not build.binaries().complete:
                pytest.skip(f"no cluster: {err}")
    # The HPA controller every second, so autoscaling tests take seconds (GKE's is every 15 s).
    with session_cluster(tmp_path_factory.mktemp("cluster"), kubeconfig, hpa_sync_period=1) as cluster:
        yield cluster


@pytest.fixture
def vllm_release(request: pytest.FixtureRequest, vllm_cluster: Any) -> Iterator[Callable[..., Any]]:
    from vllm_serving import chart as chart_mod
    from vllm_serving.errors import VllmServingError
    from vllm_serving.release import Release, create_namespace, delete_namespace

    chart = chart_mod.chart_dir(request.config.getoption("--vllm-serving-chart"))
    made: list[Release] = []

    def install(
        values_files: list[Path] = (),
        values: dict[str, Any] | None = None,
        *,
        name: str = "vllm",
        pod_security: str | None = "baseline",
        autopilot: bool = False,
        wait: bool = True,
        timeout: float = 300,
    ) -> Release:
        from vllm_serving.cluster.autopilot import NAMESPACE_LABELS

        namespace = f"vllm-{uuid.uuid4().hex[:8]}"
        create_namespace(vllm_cluster.kubeconfig, namespace, pod_security, NAMESPACE_LABELS if autopilot else None)
        release = Release(name, namespace, vllm_cluster.kubeconfig, chart)
        made.append(release)
        release.install(list(values_files), values)
        if wait:
            release.wait(timeout)
        return release

    yield install
    for release in reversed(made):
        try:
            release.uninstall()
        except VllmServingError:
            pass  # never installed, or the test uninstalled it already
        finally:
            delete_namespace(release.kubeconfig, release.namespace)


@pytest.fixture
def vllm_preflight(request: pytest.FixtureRequest, vllm_cluster: Any) -> Callable[..., list[Any]]:
    """`vllm_preflight(values_files, values=None, *, namespace="default", release="vllm")` -> the checks'
    results (vllm_serving.preflight.Result) for those values on the session's cluster."""
    from vllm_serving import chart as chart_mod
    from vllm_serving.preflight import run_checks

    chart = chart_mod.chart_dir(request.config.getoption("--vllm-serving-chart"))

    def run(
        values_files: list[Path] = (),
        values: dict[str, Any] | None = None,
        *,
        namespace: str = "default",
        release: str = "vllm",
    ) -> list[Any]:
        return run_checks(
            values_files,
            values,
            kubeconfig=vllm_cluster.kubeconfig,
            namespace=namespace,
            release=release,
            chart=chart,
        )

    return run
