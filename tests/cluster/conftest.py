"""Fixtures for the local test cluster's own tests (``-m cluster``).

The session's cluster is the plugin's ``vllm_cluster``: a LocalCluster started once (binaries built
first if the cache has none) and stopped at the end, or the one --vllm-serving-kubeconfig names.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from vllm_serving.cluster.testing import TestCluster


@pytest.fixture(scope="session")
def cluster(vllm_cluster: TestCluster) -> TestCluster:
    """The session's cluster, from the vllm-serving pytest plugin."""
    return vllm_cluster


@pytest.fixture(scope="session")
def local_cluster(cluster: TestCluster):
    """The LocalCluster itself; skips when the tests run against another cluster."""
    if cluster.local is None:
        pytest.skip("needs the local test cluster (the session runs against another cluster)")
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
