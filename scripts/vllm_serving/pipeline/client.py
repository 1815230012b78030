"""Sending a pipeline's requests to a served release: bounded concurrency, retries with backoff.

No Beam here: ``EndpointClient.run(requests)`` is what the RunInference model handler calls per batch,
and it is tested on its own against the project's OpenAI stub.

- Concurrency: at most ``concurrency`` requests in flight. In ``continuous`` mode a new request
  starts the moment one finishes, so the server's continuous batching always has work; in ``fixed``
  mode the batch goes out in groups of ``concurrency`` and each group waits for its slowest request
  (what a framework that batches by itself does; the benchmark compares the two).
- Retries: 429, 5xx (500, 502, 503, 504) and failures to connect or read are retried up to
  ``max_retries`` times, waiting ``backoff * 2**attempt`` seconds capped at ``max_backoff``, with
  full jitter, or what the server's ``Retry-After`` asks for when it says so. Other statuses are final.
- Every request ends as exactly one ``Outcome``; nothing raises for a single request's failure.
- ``recover`` (the in-worker server's): called before a retry that follows a failure to connect or
  read; it may restart the server and returns the URL to send to from then on. If it raises (the
  server cannot be started), the batch fails and the runner retries its bundle.
- Each request says which worker sent it (``User-Agent: vllm-serving-pipeline/VERSION (HOST; pid
  PID)``), so a server's or gateway's log shows how the work spread over the workers.
- The API key is read where the requests are sent, never stored in the settings (a pipeline graph is
  pickled and, on Dataflow, uploaded): from Secret Manager when ``api_key_secret`` names a secret
  version (on Dataflow the workers' service account reads it), else from the environment variable
  ``api_key_env``.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from vllm_serving.endpoint import Target
from vllm_serving.pipeline.records import Outcome, Request


def _version() -> str:
    try:
        return version("vllm-serving")
    except PackageNotFoundError:  # the modules on a worker's path without the distribution's metadata
        return "0"


RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
SECRET_VERSION = re.compile(r"projects/[^/]+/secrets/[^/]+/versions/[^/]+")
MODES = ("continuous", "fixed")
_MAX_BODY = 64 << 20  # a batch answer larger than 64 MiB is not one completion


@dataclass(frozen=True)
class EndpointSettings:
    """Where and how to send; picklable, and without the key itself."""

    url: str
    concurrency: int = 32
    timeout: float = 600.0
    max_retries: int = 5
    backoff: float = 0.5
    max_backoff: float = 30.0
    api_key_env: str = "VLLM_API_KEY"
    api_key_secret: str = ""  # projects/P/secrets/S/versions/V
    mode: str = "continuous"

    def __post_init__(self) -> None:
        Target.parse(self.url)  # a UsageError naming the URL's problem
        if self.concurrency < 1:
            raise ValueError("concurrency must be 1 or more")
        if self.max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if self.api_key_secret and not SECRET_VERSION.fullmatch(self.api_key_secret):
            raise ValueError(
                f"--api-key-secret: {self.api_key_secret!r} is not a secret version; "
                "use projects/PROJECT/secrets/NAME/versions/VERSION (VERSION may be latest)"
            )


class EndpointClient:
    """Sends requests to one endpoint from a pool of ``concurrency`` threads, one kept-alive connection each."""

    def __init__(
        self,
        settings: EndpointSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        read_secret: Callable[[str], str] | None = None,
        recover: Callable[[], str] | None = None,
    ):
        self.settings = settings
        self.target = Target.parse(settings.url)
        self._recover = recover
        self._user_agent = f"vllm-serving-pipeline/{_version()} ({socket.gethostname()}; pid {os.getpid()})"
        self._recover_lock = threading.Lock()
        if settings.api_key_secret:
            self._api_key = (read_secret or read_secret_version)(settings.api_key_secret)
        else:
            self._api_key = os.environ.get(settings.api_key_env, "") if settings.api_key_env else ""
        self._sleep = sleep
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="vllm-serving-request")

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def run(self, requests: Sequence[Request]) -> list[Outcome]:
        """One Outcome per request, in the order given."""
        if self.settings.mode == "continuous":
            return list(self._pool.map(self.send, requests))
        outcomes: list[Outcome] = []
        size = self.settings.concurrency
        for start in range(0, len(requests), size):
            outcomes += self._pool.map(self.send, requests[start : start + size])
        return outcomes

    def send(self, request: Request) -> Outcome:
        """POST one request, retrying what is worth retrying; never raises for the request's own failure."""
        settings = self.settings
        attempt = 0
        while True:
            target = self.target
            status, body, reason, retry_after = self._post(request, target)
            retryable = status is None or status in RETRYABLE_STATUSES
            if not retryable or attempt >= settings.max_retries:
                if retryable and attempt:
                    reason = f"{reason} (after {attempt + 1} attempts)"
                return Outcome(request, status, body, reason, attempts=attempt + 1)
            if status is None and self._recover is not None:
                self._recovered(target)
            else:
                self._sleep(self._delay(attempt, retry_after))
            attempt += 1

    def _recovered(self, failed: Target) -> None:
        """Let the server's owner check it (and restart it) once per failure, however many requests saw it."""
        with self._recover_lock:
            if self.target is failed:
                self.target = Target.parse(self._recover())

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        settings = self.settings
        if retry_after is not None:
            return min(retry_after, settings.max_backoff)
        return random.uniform(0, min(settings.max_backoff, settings.backoff * 2**attempt))

    def _connection(self, target: Target) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.target is not target:
            self._drop_connection()
            conn = None
        if conn is None:
            conn = self._local.conn = target.connect(self.settings.timeout)
            self._local.target = target
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _post(self, request: Request, target: Target) -> tuple[int | None, object, str, float | None]:
        """(status, parsed body, reason, Retry-After seconds); status None when no HTTP answer came."""
        payload = json.dumps(request.body).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": self._user_agent}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        where = f"POST {target.url}{request.url}"
        try:
            conn = self._connection(target)
            conn.request("POST", target.prefix + request.url, body=payload, headers=headers)
            response = conn.getresponse()
            raw = response.read(_MAX_BODY)
            if response.will_close:
                self._drop_connection()
        except TimeoutError:
            self._drop_connection()
            return None, None, f"{where}: no answer within {self.settings.timeout:g}s", None
        except (OSError, http.client.HTTPException) as err:
            self._drop_connection()
            return None, None, f"{where}: {type(err).__name__}: {err or 'connection lost'}", None
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        status = response.status
        if 200 <= status < 300:
            if not isinstance(body, dict):
                # A 200 whose body is not a completion is not an answer: retry it like a broken stream.
                return None, None, f"{where}: HTTP {status} with a body that is not a JSON object", None
            return status, body, "", None
        message = _error_message(body) or raw[:200].decode(errors="replace")
        return status, body, f"{where}: HTTP {status}: {message}", _retry_after(response.getheader("Retry-After"))


def read_secret_version(name: str) -> str:
    """A Secret Manager secret version's payload (google-cloud-secret-manager, in apache-beam[gcp]):
    ``access_secret_version`` and ``payload.data``, https://cloud.google.com/secret-manager/docs/access-secret-version.

    ``$SECRET_MANAGER_ENDPOINT`` (``https://HOST`` of a Private Service Connect endpoint, or a local
    stand-in's ``http://127.0.0.1:PORT``, which gets no credentials) points the client elsewhere."""
    from google.cloud import secretmanager

    endpoint = os.environ.get("SECRET_MANAGER_ENDPOINT", "")
    if endpoint:
        kwargs: dict = {"transport": "rest", "client_options": {"api_endpoint": endpoint}}
        if endpoint.startswith("http://"):
            from google.auth.credentials import AnonymousCredentials

            kwargs["credentials"] = AnonymousCredentials()
        client = secretmanager.SecretManagerServiceClient(**kwargs)
    else:
        client = secretmanager.SecretManagerServiceClient()
    response = client.access_secret_version(request={"name": name})
    return response.payload.data.decode("utf-8").strip()


def _error_message(body: object) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message", ""))
    return ""


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is not used by vLLM or the GKE gateway: ignored)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
