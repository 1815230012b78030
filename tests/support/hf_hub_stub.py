"""A Hugging Face Hub on 127.0.0.1 that serves one repository, for huggingface_hub's snapshot_download.

    with HubStub({"org/repo": {"adapter_config.json": b"{}"}}) as hub:
        ...  # HF_ENDPOINT=hub.url; hub.requests lists (method, path, Authorization header)

It answers the three calls snapshot_download makes: the revision's info, the tree of the commit, and each
file (HEAD, then GET) with the commit and ETag headers huggingface_hub reads.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class HubStub:
    def __init__(self, repos: dict[str, dict[str, bytes]]):
        self.repos = repos
        self.requests: list[tuple[str, str, str | None]] = []
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None, send=True) -> None:
                self.send_response(status)
                for key, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
                    self.send_header(key, value)
                self.end_headers()
                if send:
                    self.wfile.write(body)

            def answer(self, send: bool) -> None:
                stub.requests.append((self.command, self.path, self.headers.get("Authorization")))
                path = self.path.split("?")[0]
                for repo, files in stub.repos.items():
                    if path.startswith(f"/api/models/{repo}/tree/"):
                        tree = [
                            {"type": "file", "path": f, "size": len(d), "oid": hashlib.sha1(d).hexdigest()}
                            for f, d in files.items()
                        ]
                        return self.reply(200, json.dumps(tree).encode(), {"Content-Type": "application/json"}, send)
                    if path.startswith(f"/api/models/{repo}/revision/"):
                        info = {"id": repo, "sha": COMMIT, "siblings": [{"rfilename": f} for f in files]}
                        return self.reply(200, json.dumps(info).encode(), {"Content-Type": "application/json"}, send)
                    prefix = f"/{repo}/resolve/"
                    if path.startswith(prefix) and path.rsplit("/", 1)[-1] in files:
                        data = files[path.rsplit("/", 1)[-1]]
                        headers = {"X-Repo-Commit": COMMIT, "ETag": f'"{hashlib.sha256(data).hexdigest()}"'}
                        return self.reply(200, data, headers, send)
                self.reply(404, b"{}", {"Content-Type": "application/json"}, send)

            def do_HEAD(self) -> None:
                self.answer(send=False)

            def do_GET(self) -> None:
                self.answer(send=True)

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> HubStub:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
