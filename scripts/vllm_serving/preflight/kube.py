"""The live cluster as plain dicts: GET, LIST and dry-run POST through the kubernetes client's DynamicClient.

Everything is JSON in and out: the client's typed models would reject what the API server accepts (an
integer quantity such as ``nvidia.com/gpu: 2``), and the checks only read a few fields anyway.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vllm_serving.errors import ClusterError

Object = dict[str, Any]

# Seconds one request may take before the cluster counts as unreachable.
TIMEOUT = 30


class Forbidden(Exception):
    """The caller's RBAC does not allow the read; the check that needed it is skipped with a warning."""


@dataclass
class Response:
    status: int
    body: Any
    warnings: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        """The API server's own words (a Status object's message), else the raw body."""
        if isinstance(self.body, dict) and self.body.get("message"):
            return str(self.body["message"])
        return str(self.body or f"HTTP {self.status}")


class Kube:
    """One cluster, as the kubeconfig (and context) name it."""

    def __init__(self, api_client: Any, where: str = "the cluster"):
        from kubernetes import dynamic

        self.api_client = api_client
        self.where = where
        # Requests by path only: no discovery round trips, no discovery cache file in /tmp.
        self._dynamic = dynamic.DynamicClient(api_client, discoverer=_NoDiscovery)

    @classmethod
    def connect(cls, kubeconfig: str | os.PathLike[str] | None = None, context: str | None = None) -> Kube:
        """The cluster of ``kubeconfig`` (default: $KUBECONFIG, then ~/.kube/config; in a pod, its own
        cluster) and ``context`` (default: the current context)."""
        from kubernetes import config
        from kubernetes.config.config_exception import ConfigException

        path = kubeconfig_path(kubeconfig)
        where = (path or "~/.kube/config") + (f" (context {context})" if context else "")
        try:
            if path is None and not Path("~/.kube/config").expanduser().is_file() and _in_cluster():
                from kubernetes import client

                configuration = client.Configuration()
                config.load_incluster_config(client_configuration=configuration)
                return cls(client.ApiClient(configuration), "the in-cluster service account")
            api = config.new_client_from_config(config_file=path, context=context)
        except (ConfigException, OSError) as err:
            raise ClusterError(f"cannot load the kubeconfig {where}: {err}; pass --kubeconfig and --context") from None
        return cls(api, where)

    def close(self) -> None:
        self.api_client.close()

    def __enter__(self) -> Kube:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- requests
    def request(
        self, method: str, path: str, body: Object | None = None, query: dict[str, str] | None = None
    ) -> Response:
        from kubernetes.dynamic.exceptions import DynamicApiError

        try:
            raw = self._dynamic.request(
                method,
                path,
                body=body,
                query_params=list((query or {}).items()),
                serialize=False,
                _request_timeout=TIMEOUT,
            )
        except DynamicApiError as err:
            return Response(err.status, _json(err.body))
        except Exception as err:  # urllib3: connection refused, timeouts
            raise ClusterError(f"cannot reach the cluster of {self.where}: {_short(err)}") from None
        return Response(raw.status, _json(raw.data), list(raw.headers.getlist("Warning")))

    def get(self, path: str) -> Object | None:
        """The object at ``path``, or None if it does not exist; Forbidden if RBAC says no."""
        response = self.request("GET", path)
        if response.status == 404:
            return None
        if response.status == 403:
            raise Forbidden(f"not allowed to read {path}: {response.message}")
        if response.status >= 300:
            raise ClusterError(f"GET {path} on {self.where} failed: {response.message}")
        return response.body

    def list(self, path: str, **query: str) -> list[Object]:
        """The items of a list (an empty list if the resource type is not served)."""
        response = self.request("GET", path, query=query or None)
        if response.status == 404:
            return []
        if response.status == 403:
            raise Forbidden(f"not allowed to list {path}: {response.message}")
        if response.status >= 300:
            raise ClusterError(f"GET {path} on {self.where} failed: {response.message}")
        return response.body.get("items") or []

    def dry_run_create(self, path: str, body: Object) -> Response:
        """POST with dryRun=All: every admission stage runs, nothing is stored."""
        return self.request("POST", path, body=body, query={"dryRun": "All"})

    def server_version(self) -> str:
        """The API server's gitVersion, e.g. v1.36.4 (or v1.33.5-gke.1080000)."""
        version = self.get("/version") or {}
        return str(version.get("gitVersion", ""))


def _json(data: Any) -> Any:
    if isinstance(data, bytes | bytearray):
        data = data.decode(errors="replace")
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return data


def _short(err: BaseException) -> str:
    """The last line of a urllib3 retry chain, which names the actual cause."""
    text = str(getattr(err, "reason", None) or err)
    return text.strip().splitlines()[-1] if text.strip() else type(err).__name__


class _NoDiscovery:
    """A DynamicClient discoverer that discovers nothing (requests here go by path)."""

    def __init__(self, client: Any, cache_file: str | None):
        pass


def _in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def kubeconfig_path(kubeconfig: str | os.PathLike[str] | None) -> str | None:
    """--kubeconfig, else $KUBECONFIG (read now: Helm sets it for its plugins), else None (~/.kube/config)."""
    return str(kubeconfig) if kubeconfig else os.environ.get("KUBECONFIG") or None


def current_namespace(kubeconfig: str | os.PathLike[str] | None, context: str | None) -> str | None:
    """The namespace the kubeconfig's (current or named) context sets, if any."""
    from kubernetes import config
    from kubernetes.config.config_exception import ConfigException

    path = kubeconfig_path(kubeconfig) or str(Path("~/.kube/config").expanduser())
    try:
        contexts, active = config.list_kube_config_contexts(config_file=path)
    except (ConfigException, OSError, TypeError):
        return None
    chosen = next((c for c in contexts if c["name"] == context), None) if context else active
    return ((chosen or {}).get("context") or {}).get("namespace")
