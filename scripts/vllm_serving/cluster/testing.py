"""Pytest helpers for tests that need a cluster (``@pytest.mark.cluster``).

``session_cluster`` yields the cluster the tests should use: the one a kubeconfig names when one
is given (kind, GKE: the same tests run there), else a fresh ``LocalCluster`` that is stopped when
the session ends. The pytest plugin's ``vllm_cluster`` fixture decides which (never $KUBECONFIG
without an explicit opt-in).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from vllm_serving.cluster.local import LocalCluster

T = TypeVar("T")


@dataclass
class TestCluster:
    """What a test gets: a kubeconfig, and the LocalCluster when it is the local one."""

    __test__ = False  # not a pytest test class

    kubeconfig: Path
    local: LocalCluster | None = None

    def api_client(self):  # -> kubernetes.client.ApiClient
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))


@contextlib.contextmanager
def session_cluster(state_dir: Path, kubeconfig: Path | None = None, **options: Any) -> Iterator[TestCluster]:
    """``kubeconfig``'s cluster if given, else a LocalCluster in ``state_dir`` (``options`` go to it)."""
    if kubeconfig is not None:
        yield TestCluster(kubeconfig)
        return
    with LocalCluster(state_dir, **options) as cluster:
        yield TestCluster(cluster.kubeconfig, cluster)


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 60, interval: float = 0.25) -> T:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
