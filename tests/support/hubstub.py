"""A loopback stand-in for the Hugging Face Hub, enough for huggingface_hub's hf_hub_download and model_info.

    with HubStub({"org/model": {"config.json": {...}, "model.safetensors.index.json": {...}}}) as hub:
        os.environ["HF_ENDPOINT"] = hub.url   # before huggingface_hub is imported (it reads it once)

Serves, for each repository: ``HEAD``/``GET /{repo}/resolve/{revision}/{file}`` with the headers
huggingface_hub reads (``X-Repo-Commit``, ``ETag``, ``Content-Length``), ``GET /api/models/{repo}``
(``gated``) and its ``/revision/{revision}`` and ``/tree/{revision}`` listings (what snapshot_download
asks), and the Hub's error answers: 404 with ``X-Error-Code: RepoNotFound`` or ``EntryNotFound``,
401 with ``X-Error-Code: GatedRepo`` for a gated repository asked without the ``token``. Requests are
recorded in ``hub.requests`` as (method, path, authorization).
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _body(content: Any) -> bytes:
    """A file's bytes: given as bytes, or as JSON-able data."""
    return content if isinstance(content, bytes) else json.dumps(content).encode()


class HubStub:
    def __init__(self, repos: dict[str, dict[str, Any]], *, gated: set[str] = frozenset(), token: str = "hf_good"):
        self.repos = repos
        self.gated = set(gated)
        self.token = token
        self.requests: list[tuple[str, str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> HubStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _error(self, status: int, code: str, message: str) -> None:
                body = json.dumps({"error": message}).encode()
                self._answer(status, body, {"X-Error-Code": code, "X-Error-Message": message})

            def _serve(self) -> None:
                auth = self.headers.get("Authorization", "")
                hub.requests.append((self.command, self.path, auth))
                path = self.path.split("?", 1)[0]
                if path.startswith("/api/models/"):
                    rest = path[len("/api/models/") :]
                    repo = rest.split("/revision/")[0].split("/tree/")[0]
                    if "/tree/" in rest and repo in hub.repos:
                        return self._tree(repo)
                    return self._model_info(repo, auth)
                if "/resolve/" not in path:
                    return self._error(404, "EntryNotFound", f"no route {path}")
                repo, rest = path.lstrip("/").split("/resolve/", 1)
                filename = rest.split("/", 1)[1] if "/" in rest else ""
                if repo not in hub.repos:
                    return self._error(404, "RepoNotFound", "Repository not found")
                if repo in hub.gated and auth != f"Bearer {hub.token}":
                    return self._error(401, "GatedRepo", "Access to model is restricted")
                if filename not in hub.repos[repo]:
                    return self._error(404, "EntryNotFound", f"{filename} does not exist")
                body = _body(hub.repos[repo][filename])
                etag = hashlib.sha256(body).hexdigest()
                self._answer(200, body, {"X-Repo-Commit": COMMIT, "ETag": f'"{etag}"'})

            def _model_info(self, repo: str, auth: str) -> None:
                if repo not in hub.repos:
                    return self._error(404, "RepoNotFound", "Repository not found")
                info = {
                    "id": repo,
                    "modelId": repo,
                    "sha": COMMIT,
                    "gated": "manual" if repo in hub.gated else False,
                    "siblings": [{"rfilename": name} for name in hub.repos[repo]],
                }
                self._answer(200, json.dumps(info).encode(), {"Content-Type": "application/json"})

            def _tree(self, repo: str) -> None:
                tree = [
                    {"type": "file", "path": name, "size": len(body), "oid": hashlib.sha1(body).hexdigest()}
                    for name, body in ((n, _body(c)) for n, c in hub.repos[repo].items())
                ]
                self._answer(200, json.dumps(tree).encode(), {"Content-Type": "application/json"})

            do_GET = _serve
            do_HEAD = _serve

        return Handler
