"""Fixtures for the local test cluster's own tests (``-m cluster``).

The session's cluster is ``KUBECONFIG``'s when set, else a LocalCluster started
once (binaries built first if the cache has none) and stopped at the end.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from vllm_serving.cluster.testing import TestCluster


@pytest.fixture(scope="session")
def cluster(kube_cluster: TestCluster) -> TestCluster:
    """The session's cluster, from the vllm-serving pytest plugin."""
    return kube_cluster


@pytest.fixture(scope="session")
def local_cluster(cluster: TestCluster):
    """The LocalCluster itself; skips when the tests run against KUBECONFIG's cluster."""
    if cluster.local is None:
        pytest.skip("needs the local test cluster (KUBECONFIG names another cluster)")
    return cluster.local


@pytest.fixture(scope="session")
def api(cluster: TestCluster):
    client = cluster.api_client()
    yield client
    client.close()


@pytest.fixture
def namespace(api) -> Iterator[str]:
    from kubernetes import client

    core = client.CoreV1Api(api)
    name = f"test-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name)
