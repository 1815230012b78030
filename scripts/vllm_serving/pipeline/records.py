"""Input lines in, vLLM batch output lines out: the file formats the pipeline shares with the batch Job.

Pure Python (no Beam), so the formats are tested on their own and the CLI can check input without
starting a pipeline.

Input, one request a line, either

- vLLM's OpenAI batch format, the file `vllm run-batch` (the chart's batch Job) reads:
  ``{"custom_id": "...", "method": "POST", "url": "/v1/chat/completions", "body": {...}}``
  (vLLM 0.33.0, vllm/entrypoints/launchers/run_batch.py, ``BatchRequestInput``); or
- plain text, one prompt a line, sent as a single user message; its custom_id is
  ``<file stem>-<line number>``.

Output, one line per request, in vLLM's batch output format (``BatchRequestOutput`` in the same file):
``{"id": "vllm-<hex>", "custom_id": ..., "response": {"status_code", "request_id", "body"}, "error": ...}``.
A request the server refused keeps its status code and the server's OpenAI error body in ``error``,
as run-batch writes an ``ErrorResponse``; one that never got an HTTP answer has ``response: null``
and the reason in ``error``.

Where the formats differ on purpose: run-batch refuses the whole file on one line its
``BatchRequestInput`` model refuses; here a line without a usable ``custom_id`` goes to the dead-letter
output only, and a line with one but an invalid request gets a 400 output line (as run-batch writes
for an unsupported URL) and a dead-letter record, and every other line is still served. Lines that
run-batch accepts and then answers with an error line (an unsupported URL, ``"stream": true``) are
answered the same way here, without sending them. tests/pipeline/test_vllm_formats.py holds this
against vLLM's own models.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

# The request URLs vLLM 0.33.0's run-batch routes without a file upload (launchers/run_batch.py,
# BatchRequestInput.check_type_for_url): chat completions, embeddings, and */score, */rerank.
# The audio endpoints need file_url handling that only run-batch does, so they are refused here.
CHAT_URL = "/v1/chat/completions"
_EXACT_URLS = (CHAT_URL, "/v1/embeddings")
_SUFFIX_URLS = ("/score", "/rerank")

INPUT_FORMATS = ("auto", "jsonl", "text")
_JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")


@dataclass(frozen=True)
class Request:
    """One request to send: ``body`` is POSTed to ``url`` on the endpoint."""

    custom_id: str
    url: str
    body: dict[str, Any]
    source: str  # FILE:LINE (or the Pub/Sub message id), for messages and the dead-letter record
    line: str  # the input line as read, kept for the dead-letter record


@dataclass(frozen=True)
class Rejected:
    """An input line that is not a request. ``custom_id`` is set when the line carried one."""

    source: str
    line: str
    reason: str
    custom_id: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What became of one request: an answer (any HTTP status) or a transport failure (``status`` None)."""

    request: Request
    status: int | None
    body: Any = None  # the parsed response body (success or OpenAI error object)
    reason: str = ""  # why it failed, for a failure
    attempts: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def format_for(path: str, requested: str) -> str:
    """The input format of one file: ``requested``, or with ``auto`` its suffix (.jsonl/.json/.ndjson: jsonl)."""
    if requested not in INPUT_FORMATS:
        raise ValueError(f"unknown input format {requested!r}; use one of {', '.join(INPUT_FORMATS)}")
    if requested != "auto":
        return requested
    return "jsonl" if PurePosixPath(path).suffix.lower() in _JSONL_SUFFIXES else "text"


def parse_line(
    line: str, *, fmt: str, source: str, text_id: str, model: str | None, max_tokens: int | None = None
) -> Request | Rejected | None:
    """One input line as a Request, a Rejected line, or None for a blank line (run-batch skips those too).

    ``text_id`` is the custom_id a plain-text prompt gets. ``model`` fills in a body without one, and
    ``max_tokens`` a chat body without a token limit (plain prompts always get it when set).
    """
    text = line.rstrip("\r\n")
    if not text.strip():
        return None
    if fmt == "text":
        body: dict[str, Any] = {"messages": [{"role": "user", "content": text}]}
        if model:
            body["model"] = model
        if max_tokens:
            body["max_tokens"] = max_tokens
        return Request(text_id, CHAT_URL, body, source, text)
    return _parse_batch_line(text, source=source, model=model, max_tokens=max_tokens)


def _parse_batch_line(text: str, *, source: str, model: str | None, max_tokens: int | None) -> Request | Rejected:
    try:
        data = json.loads(text)
    except ValueError as err:
        return Rejected(source, text, f"not JSON ({err})")
    if not isinstance(data, dict):
        return Rejected(source, text, f"a request line is a JSON object, not {type(data).__name__}")
    custom_id = data.get("custom_id")
    if not isinstance(custom_id, str):
        return Rejected(source, text, "custom_id is missing or not a string")

    def refuse(reason: str) -> Rejected:
        return Rejected(source, text, reason, custom_id)

    if not isinstance(data.get("method"), str):
        # run-batch requires the field and ignores its value (every request is a POST): so do we.
        return refuse("method is missing or not a string (use POST)")
    url = data.get("url")
    if not isinstance(url, str) or not (url in _EXACT_URLS or url.endswith(_SUFFIX_URLS)):
        supported = ", ".join([*_EXACT_URLS, *(f"*{s}" for s in _SUFFIX_URLS)])
        return refuse(f"URL {url!r} is not a supported endpoint; supported: {supported}")
    body = data.get("body")
    if not isinstance(body, dict):
        return refuse("body must be a JSON object")
    if url == CHAT_URL and not isinstance(body.get("messages"), list):
        return refuse("body.messages must be a list of chat messages")
    body = dict(body)
    if model and "model" not in body:
        body["model"] = model
    if max_tokens and url == CHAT_URL and "max_tokens" not in body and "max_completion_tokens" not in body:
        body["max_tokens"] = max_tokens
    if body.get("stream"):
        # run-batch answers a streamed request with an error line; say so before sending it.
        return refuse("body.stream must not be true in a batch")
    return Request(custom_id, url, body, source, text)


def _ids() -> tuple[str, str]:
    return f"vllm-{uuid.uuid4().hex}", f"vllm-batch-{uuid.uuid4().hex}"


def output_record(outcome: Outcome) -> dict[str, Any]:
    """The vLLM batch output line of one request's outcome."""
    line_id, request_id = _ids()
    request = outcome.request
    if outcome.ok:
        response = {"status_code": outcome.status, "request_id": request_id, "body": outcome.body}
        return {"id": line_id, "custom_id": request.custom_id, "response": response, "error": None}
    if outcome.status is None:
        return {"id": line_id, "custom_id": request.custom_id, "response": None, "error": outcome.reason}
    # An HTTP error: run-batch keeps the status and puts the OpenAI error body in `error`.
    error = outcome.body if _is_openai_error(outcome.body) else _error_body(outcome.status, outcome.reason)
    response = {"status_code": outcome.status, "request_id": request_id, "body": None}
    return {"id": line_id, "custom_id": request.custom_id, "response": response, "error": error}


def rejected_output_record(rejected: Rejected) -> dict[str, Any]:
    """The output line of a malformed line that carried a custom_id: a 400, as run-batch writes."""
    if rejected.custom_id is None:
        raise ValueError("a line without a custom_id has no output line")
    line_id, request_id = _ids()
    response = {"status_code": 400, "request_id": request_id, "body": None}
    return {"id": line_id, "custom_id": rejected.custom_id, "response": response, "error": rejected.reason}


def dead_letter_record(item: Outcome | Rejected) -> dict[str, Any]:
    """What the dead-letter output keeps of a failed request or a malformed line: enough to retry it."""
    if isinstance(item, Rejected):
        return {
            "custom_id": item.custom_id,
            "source": item.source,
            "stage": "parse",
            "reason": item.reason,
            "input": item.line,
        }
    return {
        "custom_id": item.request.custom_id,
        "source": item.request.source,
        "stage": "request",
        "status_code": item.status,
        "attempts": item.attempts,
        "reason": item.reason,
        "input": item.request.line,
    }


def _is_openai_error(body: Any) -> bool:
    return isinstance(body, dict) and isinstance(body.get("error"), dict) and "message" in body["error"]


def _error_body(status: int, reason: str) -> dict[str, Any]:
    return {"error": {"message": reason, "type": "HTTPError", "param": None, "code": status}}


def to_json(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)
