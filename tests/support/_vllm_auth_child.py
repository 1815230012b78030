"""Run by the vLLM parser environment's Python: vLLM's own API-key middleware in front of a tiny OpenAI app.

    python -I _vllm_auth_child.py MODEL [MODEL ...]     (the key comes from $VLLM_API_KEY, as vLLM reads it)

The middleware class is loaded from the installed vLLM's file by path, so its package (and torch) is
not imported; only starlette and uvicorn, which vLLM's server uses too. The app behind it answers the
paths the chart and its clients use: /health, /metrics, /v1/models and a streamed /v1/chat/completions.
It prints the port it listens on (127.0.0.1), then serves until killed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import sys
from pathlib import Path

import uvicorn


def vllm_middleware() -> type:
    """AuthenticationMiddleware of the installed vLLM, wired up by vLLM's init_entrypoints_middleware."""
    spec = importlib.util.find_spec("vllm")  # finds the package without running its __init__
    assert spec is not None and spec.submodule_search_locations, "vLLM is not installed here"
    path = Path(next(iter(spec.submodule_search_locations))) / "entrypoints/serve/middleware/authenticate.py"
    module_spec = importlib.util.spec_from_file_location("vllm_authenticate", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.AuthenticationMiddleware


def openai_app(models: list[str]):
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        path = scope["path"]
        status, kind, body = 404, "application/json", b'{"error": "not found"}'
        if path == "/health":
            status, kind, body = 200, "text/plain", b""
        elif path == "/metrics":
            status, kind, body = 200, "text/plain", b"vllm:num_requests_waiting 0\n"
        elif path == "/v1/models":
            status, body = 200, json.dumps({"object": "list", "data": [{"id": m} for m in models]}).encode()
        elif path == "/v1/chat/completions":
            chunks = [
                {"choices": [{"index": 0, "delta": {"content": "hi"}}]},
                {"choices": [], "usage": {"completion_tokens": 1}},
            ]
            status, kind = 200, "text/event-stream"
            body = b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in chunks) + b"data: [DONE]\n\n"
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", kind.encode())]})
        await send({"type": "http.response.body", "body": body})

    return app


def main() -> None:
    tokens = [os.environ.get("VLLM_API_KEY", "")]
    assert tokens[0], "set VLLM_API_KEY"
    app = vllm_middleware()(openai_app(sys.argv[1:]), tokens=tokens)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # before the port is printed: a client may connect at once
    print(sock.getsockname()[1], flush=True)
    uvicorn.Server(uvicorn.Config(app, interface="asgi3", log_level="warning", lifespan="off")).run(sockets=[sock])


if __name__ == "__main__":
    main()
