"""Secret Manager's ``versions:access`` in memory, as the REST transport of google-cloud-secret-manager
calls it (``GET /v1/projects/P/secrets/S/versions/V:access``; the payload's data base64-encoded,
https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets.versions/access)."""

from __future__ import annotations

import base64
import zlib

from support.fakegcp.server import ApiError, Request, Route, route


class SecretManager:
    def __init__(self) -> None:
        self.versions: dict[str, bytes] = {}  # projects/P/secrets/S/versions/V -> payload

    def add(self, name: str, payload: str) -> None:
        self.versions[name] = payload.encode()

    def access(self, request: Request) -> dict:
        name = "projects/{project}/secrets/{secret}/versions/{version}".format(**request.params)
        if name not in self.versions:
            raise ApiError(404, f"Secret Version [{name}] not found or has no data.")
        data = self.versions[name]
        # crc32 stands in for crc32c: the client passes the field through, the test reads only the data.
        return {"name": name, "payload": {"data": base64.b64encode(data).decode(), "dataCrc32c": str(zlib.crc32(data))}}

    def routes(self) -> list[Route]:
        path = "/v1/projects/{project}/secrets/{secret}/versions/{version}:access"
        return [route("GET", path, "secretmanager.versions.access", self.access)]
