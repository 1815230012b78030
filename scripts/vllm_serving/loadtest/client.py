"""One streamed chat completion against an OpenAI-compatible server, measured.

Plain ``http.client`` (cooperative under gevent once Locust has monkey-patched ``socket``): it reads
the Server-Sent Events stream line by line as it arrives, whether the server uses chunked transfer
encoding (vLLM, uvicorn) or closes the connection at the end, so the time to first token is the
time the first content chunk reached the client, not when a read buffer filled up. It also ignores
proxy environment variables: requests go to the URL given and nowhere else.
"""

from __future__ import annotations

import http.client
import json
import os
import time
from dataclasses import dataclass, field

from vllm_serving.endpoint import Target
from vllm_serving.errors import UsageError

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
_MAX_LINE = 1 << 20  # an SSE line longer than 1 MiB is not a chat-completion chunk
_MAX_ERROR_BODY = 64 * 1024
# The variable vLLM reads its API key from (vllm.apiKey in the chart); the load test sends the same one.
API_KEY_ENV = "VLLM_API_KEY"


def auth_headers() -> dict[str, str]:
    """The Authorization header for a server started with an API key, from $VLLM_API_KEY; none without it."""
    key = os.environ.get(API_KEY_ENV, "")
    return {"Authorization": f"Bearer {key}"} if key else {}


def list_models(target: Target, timeout: float = 10.0) -> list[str]:
    """The model ids the server serves (GET /v1/models), or a UsageError that says why not."""
    where = f"GET {target.url}{MODELS_PATH}"
    hint = ""
    if target.prefix.endswith("/v1"):
        hint = "; the URL should be the server's base, without the trailing /v1"
    conn = target.connect(timeout)
    try:
        conn.request("GET", target.prefix + MODELS_PATH, headers={"Accept": "application/json", **auth_headers()})
        response = conn.getresponse()
        body = response.read(_MAX_ERROR_BODY)
    except TimeoutError:
        raise UsageError(f"{where}: no answer within {timeout:g}s; is the server up?") from None
    except (OSError, http.client.HTTPException) as err:
        raise UsageError(f"{where}: cannot reach the server ({_describe_exception(err)}); check the URL") from None
    finally:
        conn.close()
    if response.status == 401:
        hint += f"; the server wants an API key: set {API_KEY_ENV} to the key in the release's vllm.apiKey Secret"
    if response.status != 200:
        raise UsageError(f"{where}: HTTP {response.status}{_error_message(body, ': ')}{hint}")
    try:
        data = json.loads(body)
        ids = [str(entry["id"]) for entry in data["data"]]
    except (ValueError, KeyError, TypeError):
        raise UsageError(f"{where}: the answer is not an OpenAI model list{hint}") from None
    if not ids:
        raise UsageError(f"{where}: the server serves no model")
    return ids


@dataclass
class Sample:
    """One request's measurements. Times are seconds; ``start`` and ``end`` are ``time.perf_counter()``."""

    start: float
    end: float = 0.0
    ok: bool = False
    error: str | None = None
    ttft: float | None = None  # to the first chunk with non-empty delta content
    itls: list[float] = field(default_factory=list)  # gaps between subsequent content chunks
    content_chunks: int = 0
    usage_tokens: int | None = None  # usage.completion_tokens, when the server sent it

    @property
    def e2e(self) -> float:
        return self.end - self.start

    @property
    def output_tokens(self) -> int:
        return self.usage_tokens if self.usage_tokens is not None else self.content_chunks


class StreamError(Exception):
    """The response is not the event stream it should be; the message is the error's reason."""


class ChatClient:
    """Streamed chat completions over one kept-alive connection (re-opened after any error)."""

    def __init__(self, target: Target, timeout: float):
        self.target = target
        self.timeout = timeout
        self._auth = auth_headers()
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def chat(self, model: str, prompt: str, max_tokens: int) -> Sample:
        """Send one request and measure it; never raises for what the server does (that is the Sample's error)."""
        body = json.dumps(
            {
                "model": model,
                "messages": [{"role": "user", "content": prompt}],
                "max_tokens": max_tokens,
                "stream": True,
                "stream_options": {"include_usage": True},
            }
        ).encode()
        sample = Sample(start=time.perf_counter())
        deadline = sample.start + self.timeout
        try:
            if self._conn is None:
                self._conn = self.target.connect(self.timeout)
            self._conn.request(
                "POST",
                self.target.prefix + CHAT_PATH,
                body=body,
                headers={"Content-Type": "application/json", "Accept": "text/event-stream", **self._auth},
            )
            response = self._conn.getresponse()
            if response.status != 200:
                message = _error_message(response.read(_MAX_ERROR_BODY), ": ")
                raise StreamError(f"HTTP {response.status}{message}")
            content_type = response.getheader("Content-Type", "")
            if not content_type.startswith("text/event-stream"):
                raise StreamError(f"malformed stream: Content-Type {content_type or 'missing'}, not text/event-stream")
            self._read_stream(response, sample, deadline)
            sample.ok = True
            if response.will_close:
                self.close()
            else:
                self._drain(response, deadline)
        except StreamError as err:
            sample.error = str(err)
        except TimeoutError:
            sample.error = f"timeout: no complete answer within {self.timeout:g}s"
        except (OSError, http.client.HTTPException) as err:
            sample.error = f"connection error: {_describe_exception(err)}"
        finally:
            if not sample.end:
                sample.end = time.perf_counter()
            if not sample.ok:
                self.close()
        return sample

    def _set_read_timeout(self, deadline: float) -> None:
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            raise TimeoutError
        if self._conn is not None and self._conn.sock is not None:
            self._conn.sock.settimeout(remaining)

    def _read_stream(self, response: http.client.HTTPResponse, sample: Sample, deadline: float) -> None:
        """Read SSE events until ``data: [DONE]``; fills the sample's content timings and token counts."""
        lines = _LineReader(response)
        data_lines: list[str] = []
        last_content: float | None = None
        while True:
            self._set_read_timeout(deadline)
            raw = lines.readline()
            if not raw:
                raise StreamError("malformed stream: ended before data: [DONE]")
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if line:
                field_name, _, value = line.partition(":")
                if field_name == "data":
                    data_lines.append(value[1:] if value.startswith(" ") else value)
                continue  # comments (":..."), event:, id:, retry: carry nothing we measure
            if not data_lines:
                continue
            data, data_lines = "\n".join(data_lines), []
            if data == "[DONE]":
                sample.end = time.perf_counter()
                return
            now = time.perf_counter()
            if _chunk_content(data, sample):
                if last_content is None:
                    sample.ttft = now - sample.start
                else:
                    sample.itls.append(now - last_content)
                last_content = now
                sample.content_chunks += 1

    def _drain(self, response: http.client.HTTPResponse, deadline: float) -> None:
        """Read to the end of the body so the connection can carry the next request."""
        try:
            self._set_read_timeout(max(deadline, time.perf_counter() + 1.0))
            response.read()
        except (OSError, http.client.HTTPException):
            self.close()


class _LineReader:
    """Lines of a response body as soon as they arrive.

    Built on ``read1`` rather than ``HTTPResponse.readline``, which reports a chunked body cut short
    as a normal end of file: ``read1`` raises ``IncompleteRead`` for it instead.
    """

    def __init__(self, response: http.client.HTTPResponse):
        self.response = response
        self.buffer = b""

    def readline(self) -> bytes:
        """The next line with its newline; the rest without one at the end of the body; b"" after that."""
        while True:
            end = self.buffer.find(b"\n")
            if end >= 0:
                line, self.buffer = self.buffer[: end + 1], self.buffer[end + 1 :]
                return line
            if len(self.buffer) > _MAX_LINE:
                raise StreamError("malformed stream: a line longer than 1 MiB")
            data = self.response.read1(65536)
            if not data:
                line, self.buffer = self.buffer, b""
                return line
            self.buffer += data


def _chunk_content(data: str, sample: Sample) -> bool:
    """Whether a chunk carries delta content; records usage. Raises StreamError for what is not a chunk."""
    try:
        chunk = json.loads(data)
    except ValueError:
        raise StreamError("malformed stream: data is not JSON") from None
    if not isinstance(chunk, dict):
        raise StreamError("malformed stream: data is not a JSON object")
    if "error" in chunk:
        raise StreamError(f"error in stream{_error_message(data.encode(), ': ')}")
    usage = chunk.get("usage")
    if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
        sample.usage_tokens = usage["completion_tokens"]
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        raise StreamError("malformed stream: chunk without a choices list")
    has_content = False
    for choice in choices:
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if not isinstance(delta, dict):
            raise StreamError("malformed stream: choice without a delta object")
        if delta.get("content"):
            has_content = True
    return has_content


def _error_message(body: bytes, lead: str) -> str:
    """``lead`` + the message of an OpenAI-style error body (``{"error": {"message": ...}}`` or
    vLLM's older ``{"message": ...}``), cut short; empty when the body carries none."""
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    message = None
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            message = error.get("message")
        elif isinstance(error, str):
            message = error
        else:
            message = data.get("message")
    if not isinstance(message, str) or not message.strip():
        return ""
    message = " ".join(message.split())
    return lead + (message if len(message) <= 120 else message[:117] + "...")


def _describe_exception(err: BaseException) -> str:
    """The exception's type and, for OS errors, their fixed text: stable, so that equal errors group together."""
    detail = getattr(err, "strerror", None)
    return f"{type(err).__name__}: {detail}" if detail else type(err).__name__
