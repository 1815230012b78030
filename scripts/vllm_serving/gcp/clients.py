"""Google Cloud API clients, built once per command, all on the REST transport.

An endpoint can be overridden (tests, private endpoints): ``Clients(endpoint="http://127.0.0.1:8080")``
or the environment variables VLLM_SERVING_COMPUTE_ENDPOINT and VLLM_SERVING_CONTAINER_ENDPOINT.
An ``http://`` loopback endpoint is a local fake: it gets anonymous credentials.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cached_property
from typing import Any

COMPUTE_ENDPOINT_ENV = "VLLM_SERVING_COMPUTE_ENDPOINT"
CONTAINER_ENDPOINT_ENV = "VLLM_SERVING_CONTAINER_ENDPOINT"


class Clients:
    def __init__(
        self, *, compute_endpoint: str | None = None, container_endpoint: str | None = None, credentials: Any = None
    ):
        self.compute_endpoint = compute_endpoint
        self.container_endpoint = container_endpoint
        self.credentials = credentials

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Clients:
        env = os.environ if env is None else env
        return cls(
            compute_endpoint=env.get(COMPUTE_ENDPOINT_ENV) or None,
            container_endpoint=env.get(CONTAINER_ENDPOINT_ENV) or None,
        )

    def _kwargs(self, endpoint: str | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"transport": "rest"}
        if endpoint:
            kwargs["client_options"] = {"api_endpoint": endpoint}
        credentials = self.credentials
        if credentials is None and endpoint and endpoint.startswith(("http://127.0.0.1", "http://localhost")):
            from google.auth.credentials import AnonymousCredentials

            credentials = AnonymousCredentials()
        if credentials is not None:
            kwargs["credentials"] = credentials
        return kwargs

    def _compute(self, name: str) -> Any:
        from google.cloud import compute_v1

        return getattr(compute_v1, name)(**self._kwargs(self.compute_endpoint))

    @cached_property
    def disks(self) -> Any:
        return self._compute("DisksClient")

    @cached_property
    def instances(self) -> Any:
        return self._compute("InstancesClient")

    @cached_property
    def images(self) -> Any:
        return self._compute("ImagesClient")

    @cached_property
    def zone_operations(self) -> Any:
        return self._compute("ZoneOperationsClient")

    @cached_property
    def global_operations(self) -> Any:
        return self._compute("GlobalOperationsClient")

    @cached_property
    def cluster_manager(self) -> Any:
        from google.cloud import container_v1

        return container_v1.ClusterManagerClient(**self._kwargs(self.container_endpoint))
