"""A minimal JSON client for bootstrapping the local cluster.

Creating nodes and megabyte-sized CRDs and polling for readiness needs four verbs,
not the full ``kubernetes`` client with its model (de)serialization, which is slow
on large CRDs. Tests and callers use the ``kubernetes`` client on the kubeconfig.
"""

from __future__ import annotations

import http.client
import json
import ssl
from typing import Any
from urllib.parse import urlsplit


class ApiError(Exception):
    def __init__(self, status: int, body: str, method: str, path: str):
        self.status = status
        self.body = body
        super().__init__(f"{method} {path}: HTTP {status}: {body[:500]}")


class Rest:
    """HTTPS to one API server with a client certificate; one connection, reopened on failure."""

    def __init__(self, server: str, *, ca: str, cert: str | None = None, key: str | None = None, timeout: float = 30):
        parts = urlsplit(server)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 443
        self.timeout = timeout
        self.context = ssl.create_default_context(cafile=ca)
        if cert and key:
            self.context.load_cert_chain(cert, key)
        self._conn: http.client.HTTPSConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(
        self, method: str, path: str, body: Any = None, *, content_type: str = "application/json"
    ) -> tuple[int, bytes]:
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = content_type
        for attempt in (0, 1):
            if self._conn is None:
                self._conn = http.client.HTTPSConnection(
                    self.host, self.port, context=self.context, timeout=self.timeout
                )
            try:
                self._conn.request(method, path, body=data, headers=headers)
                resp = self._conn.getresponse()
                return resp.status, resp.read()
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def json(self, method: str, path: str, body: Any = None, *, ok: tuple[int, ...] = (200, 201)) -> Any:
        status, data = self.request(method, path, body)
        if status not in ok:
            raise ApiError(status, data.decode(errors="replace"), method, path)
        return json.loads(data) if data else None

    def get(self, path: str) -> Any:
        return self.json("GET", path)

    def create(self, path: str, obj: dict[str, Any]) -> Any:
        return self.json("POST", path, obj)

    def create_or_replace(self, collection: str, obj: dict[str, Any]) -> Any:
        """POST to the collection; if it exists, PUT over it with the current resourceVersion."""
        status, data = self.request("POST", collection, obj)
        if status in (200, 201):
            return json.loads(data)
        if status != 409:
            raise ApiError(status, data.decode(errors="replace"), "POST", collection)
        path = f"{collection}/{obj['metadata']['name']}"
        current = self.get(path)
        obj = {**obj, "metadata": {**obj["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]}}
        return self.json("PUT", path, obj)
