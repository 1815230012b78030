"""A small local OpenAI-compatible server for tests: what `vllm serve` answers, with timings you choose.

    with OpenAIStub(first_token_delay=0.05, token_delay=0.01, tokens=8) as stub:
        ...  # stub.url is http://127.0.0.1:PORT; stub.chat_requests lists what it received

It listens on 127.0.0.1 only (port 0: a free one), one thread per connection, HTTP/1.1 with
keep-alive, and implements:

- ``GET /v1/models``: the configured model ids;
- ``POST /v1/chat/completions``: with ``"stream": true`` a Server-Sent Events stream in OpenAI's
  chunk format, sent with chunked transfer encoding like vLLM: a role chunk at once, the first
  content chunk after ``first_token_delay``, then one every ``token_delay``, ``tokens_per_chunk``
  tokens each, a finish chunk, a usage chunk when the request asked for it
  (``stream_options.include_usage``) and ``usage`` is on, and ``data: [DONE]``. The answer has
  ``min(tokens, max_tokens)`` tokens. Without ``"stream": true``, one JSON completion.
  An unknown model gets vLLM's 404.

Failure injection, on every ``every``-th chat request (the every-th, 2*every-th, ...):

- ``status``: HTTP ``status`` (500) with an OpenAI error body whose message is ``message``;
- ``truncate``: the body ends halfway through the content, without ``data: [DONE]``;
- ``garbage``: halfway through, a ``data:`` line that is not JSON, then the body ends;
- ``disconnect``: halfway through, the connection closes in the middle of the chunked body;
- ``stall``: halfway through, the stream stops sending for ``stall_seconds`` (a client timeout).

Run it from a shell for manual tests, in the repository: ``PYTHONPATH=tests python -m support.openai_stub --port 8000``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAILURE_MODES = ("status", "truncate", "garbage", "disconnect", "stall")


@dataclass(frozen=True)
class Failure:
    """A failure injected into every ``every``-th chat request."""

    mode: str
    every: int = 1
    status: int = 500
    message: str = "injected failure"

    def __post_init__(self) -> None:
        if self.mode not in FAILURE_MODES:
            raise ValueError(f"unknown failure mode {self.mode!r}; one of {', '.join(FAILURE_MODES)}")
        if self.every < 1:
            raise ValueError("every must be 1 or more")


@dataclass
class ReceivedRequest:
    """One request as the stub received it (``body`` is the parsed JSON, or None)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    received_at: float = field(default_factory=time.monotonic)

    @property
    def prompt(self) -> str | None:
        """The last user message of a chat request."""
        messages = self.body.get("messages") if isinstance(self.body, dict) else None
        users = [m.get("content") for m in messages or [] if isinstance(m, dict) and m.get("role") == "user"]
        return users[-1] if users else None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 drops the SYNs of a burst of new connections (a load test's users all
    # connecting at once), and the kernel's one-second SYN retry then shows up as time to first token.
    request_queue_size = 128


class _Stopping(Exception):
    """The stub is shutting down: drop the connection."""


class OpenAIStub:
    def __init__(
        self,
        *,
        models: Sequence[str] = ("stub-model",),
        first_token_delay: float = 0.0,
        token_delay: float = 0.0,
        tokens: int = 16,
        tokens_per_chunk: int = 1,
        usage: bool = True,
        failure: Failure | None = None,
        stall_seconds: float = 30.0,
        port: int = 0,
    ):
        if tokens < 1 or tokens_per_chunk < 1:
            raise ValueError("tokens and tokens_per_chunk must be 1 or more")
        self.models = list(models)
        self.first_token_delay = first_token_delay
        self.token_delay = token_delay
        self.tokens = tokens
        self.tokens_per_chunk = tokens_per_chunk
        self.usage = usage
        self.failure = failure
        self.stall_seconds = stall_seconds
        self._port = port
        self._lock = threading.Lock()
        self._requests: list[ReceivedRequest] = []
        self._chat_count = 0
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ----

    def start(self) -> OpenAIStub:
        handler = type("StubHandler", (_Handler,), {"stub": self})
        self._server = _Server(("127.0.0.1", self._port), handler)
        # A short poll interval: stop() waits for the serving loop to notice, up to one interval.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="openai-stub", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> OpenAIStub:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the stub is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # ---- what it received ----

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[ReceivedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/v1/chat/completions")]

    def _record(self, request: ReceivedRequest) -> int:
        """Keep the request; for a chat request, its 1-based number among chat requests."""
        with self._lock:
            self._requests.append(request)
            if request.method == "POST" and request.path.endswith("/v1/chat/completions"):
                self._chat_count += 1
                return self._chat_count
            return 0

    def _wait(self, seconds: float) -> None:
        if seconds > 0 and self._stopping.wait(seconds):
            raise _Stopping


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "openai-stub/1"
    stub: OpenAIStub  # set on the subclass made by OpenAIStub.start

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read stub.requests instead
        pass

    # ---- plumbing ----

    def _send_json(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_error(self, status: int, message: str, kind: str) -> None:
        self._send_json(status, {"error": {"message": message, "type": kind, "param": None, "code": status}})

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _event(self, payload: Any) -> None:
        data = payload if isinstance(payload, str) else json.dumps(payload)
        self._write_chunk(f"data: {data}\n\n".encode())

    def _end_body(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # ---- routes ----

    def do_GET(self) -> None:
        self.stub._record(ReceivedRequest("GET", self.path, dict(self.headers), None))
        if self.path.rstrip("/") != "/v1/models":
            self._send_error(404, f"no route {self.path}", "NotFoundError")
            return
        created = int(time.time())
        data = [
            {"id": m, "object": "model", "created": created, "owned_by": "vllm", "root": m} for m in self.stub.models
        ]
        self._send_json(200, {"object": "list", "data": data})

    def do_POST(self) -> None:
        raw = self._read_body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        number = self.stub._record(ReceivedRequest("POST", self.path, dict(self.headers), body))
        if self.path != "/v1/chat/completions":
            self._send_error(404, f"no route {self.path}", "NotFoundError")
            return
        if not isinstance(body, dict):
            self._send_error(400, "the request body is not a JSON object", "BadRequestError")
            return
        model = body.get("model")
        if model not in self.stub.models:
            self._send_error(404, f"The model `{model}` does not exist.", "NotFoundError")
            return
        failure = self.stub.failure
        if failure is None or number % failure.every != 0:
            failure = None
        if failure is not None and failure.mode == "status":
            self._send_error(failure.status, failure.message, "InternalServerError")
            return
        max_tokens = body.get("max_tokens")
        count = (
            min(self.stub.tokens, max_tokens) if isinstance(max_tokens, int) and max_tokens > 0 else self.stub.tokens
        )
        try:
            if body.get("stream"):
                self._stream(body, model, count, failure)
            else:
                self._complete(body, model, count)
        except (_Stopping, BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _complete(self, body: dict, model: str, count: int) -> None:
        self.stub._wait(self.stub.first_token_delay + self.stub.token_delay * (count - 1))
        self._send_json(
            200,
            {
                "id": f"chatcmpl-{uuid.uuid4().hex}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "".join(_token(i) for i in range(count))},
                        "finish_reason": self._finish_reason(body, count),
                    }
                ],
                "usage": self._usage(body, count),
            },
        )

    def _stream(self, body: dict, model: str, count: int, failure: Failure | None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk", "created": int(time.time())}
        base["model"] = model

        def chunk(delta: dict, finish_reason: str | None = None) -> dict:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            return {**base, "choices": [choice]}

        self._event(chunk({"role": "assistant", "content": ""}))
        per = self.stub.tokens_per_chunk
        pieces = [range(i, min(i + per, count)) for i in range(0, count, per)]
        broken_at = len(pieces) // 2 if failure is not None else -1
        for index, piece in enumerate(pieces):
            self.stub._wait(self.stub.first_token_delay if index == 0 else self.stub.token_delay)
            if index == broken_at:
                self._break(failure)
                return
            self._event(chunk({"content": "".join(_token(i) for i in piece)}))
        self._event(chunk({}, self._finish_reason(body, count)))
        options = body.get("stream_options")
        if self.stub.usage and isinstance(options, dict) and options.get("include_usage"):
            self._event({**base, "choices": [], "usage": self._usage(body, count)})
        self._event("[DONE]")
        self._end_body()

    def _break(self, failure: Failure) -> None:
        if failure.mode == "truncate":
            self._end_body()
        elif failure.mode == "garbage":
            self._event("{this is not json")
            self._end_body()
        elif failure.mode == "disconnect":
            self.close_connection = True
        elif failure.mode == "stall":
            self.stub._wait(self.stub.stall_seconds)
            self.close_connection = True

    def _finish_reason(self, body: dict, count: int) -> str:
        return "length" if body.get("max_tokens") == count else "stop"

    def _usage(self, body: dict, count: int) -> dict:
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages") or [])
        return {"prompt_tokens": prompt_tokens, "completion_tokens": count, "total_tokens": prompt_tokens + count}


def _token(index: int) -> str:
    return f"tok{index} "


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m support.openai_stub", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--model", action="append", dest="models", help="model id to serve (repeatable)")
    parser.add_argument("--first-token-delay", type=float, default=0.05)
    parser.add_argument("--token-delay", type=float, default=0.01)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--tokens-per-chunk", type=int, default=1)
    parser.add_argument("--no-usage", action="store_true", help="never send the usage chunk")
    parser.add_argument("--fail", choices=FAILURE_MODES, help="failure to inject")
    parser.add_argument("--fail-every", type=int, default=10, help="inject it into every N-th chat request")
    args = parser.parse_args(argv)
    stub = OpenAIStub(
        models=args.models or ("stub-model",),
        first_token_delay=args.first_token_delay,
        token_delay=args.token_delay,
        tokens=args.tokens,
        tokens_per_chunk=args.tokens_per_chunk,
        usage=not args.no_usage,
        failure=Failure(args.fail, every=args.fail_every) if args.fail else None,
        port=args.port,
    )
    with stub:
        print(f"openai stub serving {', '.join(stub.models)} on {stub.url} (Ctrl-C stops it)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
