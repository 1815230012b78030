"""HTTP plumbing of the fake: routing, the request log and failure injection.

The fake speaks the JSON/REST dialect the Google Cloud Python clients use with
``transport="rest"``, so the real clients can be pointed at it with
``client_options={"api_endpoint": "http://127.0.0.1:PORT"}`` and anonymous credentials.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_REASONS = {400: "invalid", 403: "forbidden", 404: "notFound", 409: "alreadyExists", 429: "rateLimitExceeded"}


class ApiError(Exception):
    """An error the fake answers with, shaped like a Google API error body."""

    def __init__(self, status: int, message: str, reason: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason or _REASONS.get(status, "backendError")

    def body(self) -> dict:
        return {
            "error": {
                "code": self.status,
                "message": self.message,
                "status": _STATUS_NAMES.get(self.status, "UNKNOWN"),
                "errors": [{"message": self.message, "domain": "global", "reason": self.reason}],
            }
        }


@dataclass
class Request:
    """One parsed call, as a handler sees it."""

    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    body: dict
    # Set by failure injection: the operation this call starts must end with this error.
    op_error: ApiError | None = None


@dataclass
class Call:
    """One entry of the request log."""

    name: str
    method: str
    path: str
    query: dict[str, str]
    body: dict


@dataclass
class Failure:
    """A failure to inject: the ``after``-th later matching call (0 = the next) fails ``times`` times."""

    call: str
    status: int = 503
    message: str = "injected failure"
    times: int = 1
    after: int = 0
    in_operation: bool = False
    seen: int = 0

    def fire(self) -> bool:
        self.seen += 1
        if self.seen <= self.after or self.times == 0:
            return False
        self.times -= 1
        return True


Handler = Callable[[Request], dict]


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    name: str
    handler: Handler
    starts_operation: bool = False


def route(method: str, template: str, name: str, handler: Handler, *, starts_operation: bool = False) -> Route:
    """A route from a path template such as ``/compute/v1/projects/{project}/zones/{zone}/disks``."""
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
    return Route(method, re.compile(f"^{regex}$"), name, handler, starts_operation)


@dataclass
class Router:
    """Dispatches requests, keeps the request log and applies injected failures."""

    routes: list[Route] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def dispatch(self, method: str, raw_path: str, raw_body: bytes) -> tuple[int, dict]:
        parts = urlsplit(raw_path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            body = json.loads(raw_body) if raw_body else {}
        except ValueError:
            return 400, ApiError(400, "request body is not JSON").body()
        with self.lock:
            for candidate in self.routes:
                match = candidate.pattern.match(parts.path) if candidate.method == method else None
                if match:
                    break
            else:
                self.calls.append(Call("unknown", method, parts.path, query, body))
                return 404, ApiError(404, f"the fake has no route for {method} {parts.path}").body()
            self.calls.append(Call(candidate.name, method, parts.path, query, body))
            request = Request(method, parts.path, match.groupdict(), query, body)
            for failure in self.failures:
                if failure.call == candidate.name and failure.fire():
                    error = ApiError(failure.status, failure.message)
                    if not failure.in_operation:
                        return error.status, error.body()
                    if not candidate.starts_operation:
                        raise AssertionError(f"{candidate.name} starts no operation to fail")
                    request.op_error = error
                    break
            try:
                return 200, candidate.handler(request)
            except ApiError as error:
                return error.status, error.body()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once: no 40 ms delayed-ACK stall per call
    router: Router

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        status, payload = self.router.dispatch(self.command, self.path, raw)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = _serve

    def log_message(self, format: str, *args: object) -> None:
        pass


class HttpServer:
    """A threaded HTTP server on 127.0.0.1, on a free port, serving one Router."""

    def __init__(self, router: Router):
        handler = type("BoundHandler", (_Handler,), {"router": router})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fakegcp", daemon=True
        )

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
