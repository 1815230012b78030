"""An HTTP server's base URL (an OpenAI-compatible endpoint such as vLLM's), checked and split for
``http.client``: what the load test and the Beam pipeline's client both send requests to."""

from __future__ import annotations

import http.client
from dataclasses import dataclass
from urllib.parse import urlsplit

from vllm_serving.errors import UsageError


@dataclass(frozen=True)
class Target:
    """The server's base URL, split for ``http.client``; paths are appended to ``prefix``."""

    url: str
    scheme: str
    host: str
    port: int
    prefix: str

    @classmethod
    def parse(cls, url: str) -> Target:
        """The base URL of the server (``http://HOST[:PORT][/PREFIX]``), or a UsageError saying what is wrong."""
        hint = "give the server's base URL, e.g. http://127.0.0.1:8000"
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as err:
            raise UsageError(f"{url!r} is not a valid URL ({err}); {hint}") from None
        if parts.scheme not in ("http", "https"):
            raise UsageError(f"{url!r} is not an http:// or https:// URL; {hint}")
        if not parts.hostname:
            raise UsageError(f"{url!r} has no host; {hint}")
        if parts.query or parts.fragment:
            raise UsageError(f"{url!r} has a query or fragment; {hint}")
        if parts.username or parts.password:
            raise UsageError(f"{url!r} carries credentials; {hint}")
        prefix = parts.path.rstrip("/")
        default_port = 443 if parts.scheme == "https" else 80
        base = f"{parts.scheme}://{parts.netloc}{prefix}"
        return cls(base, parts.scheme, parts.hostname, port or default_port, prefix)

    def connect(self, timeout: float) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)
