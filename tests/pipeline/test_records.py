"""Input lines and output lines of the pipeline (no Beam): the batch Job's formats, line by line."""

from __future__ import annotations

import json

import pytest

from vllm_serving.pipeline import records
from vllm_serving.pipeline.records import Outcome, Rejected, Request


def batch_line(custom_id="a", method="POST", url="/v1/chat/completions", body=None, **extra) -> str:
    body = {"messages": [{"role": "user", "content": "hi"}]} if body is None else body
    return json.dumps({"custom_id": custom_id, "method": method, "url": url, "body": body, **extra})


def parse(line: str, fmt="jsonl", model=None, max_tokens=None):
    return records.parse_line(line, fmt=fmt, source="in.jsonl:7", text_id="in-7", model=model, max_tokens=max_tokens)


class TestFormats:
    @pytest.mark.parametrize(
        ("path", "requested", "expected"),
        [
            ("gs://b/requests-0.jsonl", "auto", "jsonl"),
            ("in/REQ.JSON", "auto", "jsonl"),
            ("prompts.txt", "auto", "text"),
            ("message", "auto", "text"),
            ("prompts.txt", "jsonl", "jsonl"),
        ],
    )
    def test_format_from_suffix(self, path, requested, expected):
        assert records.format_for(path, requested) == expected

    def test_unknown_format_is_named(self):
        with pytest.raises(ValueError, match="unknown input format 'csv'; use one of auto, jsonl, text"):
            records.format_for("x", "csv")


class TestBatchLines:
    def test_a_request_keeps_its_id_url_and_body(self):
        request = parse(batch_line("req-1", body={"model": "m", "messages": [], "temperature": 0.2}))
        assert isinstance(request, Request)
        assert (request.custom_id, request.url, request.source) == ("req-1", "/v1/chat/completions", "in.jsonl:7")
        assert request.body == {"model": "m", "messages": [], "temperature": 0.2}

    def test_model_and_max_tokens_fill_in_only_what_is_missing(self):
        filled = parse(batch_line(), model="gemma", max_tokens=64)
        kept = parse(batch_line(body={"model": "own", "messages": [], "max_tokens": 5}), model="gemma", max_tokens=64)
        assert (filled.body["model"], filled.body["max_tokens"]) == ("gemma", 64)
        assert (kept.body["model"], kept.body["max_tokens"]) == ("own", 5)

    @pytest.mark.parametrize("url", ["/v1/embeddings", "/v1/score", "/score", "/v1/rerank"])
    def test_other_run_batch_endpoints_pass(self, url):
        assert isinstance(parse(batch_line(url=url, body={"input": "x"})), Request)

    @pytest.mark.parametrize("line", ["", "   ", "\n", "\r\n"])
    def test_blank_lines_are_skipped(self, line):
        assert parse(line) is None

    @pytest.mark.parametrize(
        ("line", "reason", "custom_id"),
        [
            ("not json", "not JSON (Expecting value", None),
            ("[1, 2]", "a request line is a JSON object, not list", None),
            ('{"method": "POST"}', "custom_id is missing or not a string", None),
            (batch_line(custom_id=7), "custom_id is missing or not a string", None),
            ('{"custom_id": "a", "url": "/v1/chat/completions", "body": {}}', "method is missing or not a string", "a"),
            (batch_line(url="/v1/completions"), "URL '/v1/completions' is not a supported endpoint; supported: ", "a"),
            (batch_line(url="/v1/audio/transcriptions"), "is not a supported endpoint", "a"),
            (batch_line(body=[1]), "body must be a JSON object", "a"),
            (batch_line(body={"model": "m"}), "body.messages must be a list of chat messages", "a"),
            (batch_line(body={"messages": [], "stream": True}), "body.stream must not be true in a batch", "a"),
        ],
    )
    def test_malformed_lines_say_why(self, line, reason, custom_id):
        rejected = parse(line)
        assert isinstance(rejected, Rejected)
        assert reason in rejected.reason
        assert rejected.custom_id == custom_id
        assert (rejected.source, rejected.line) == ("in.jsonl:7", line)


class TestTextLines:
    def test_a_prompt_becomes_one_user_message(self):
        request = parse("What is GKE?\n", fmt="text", model="gemma", max_tokens=32)
        assert request.custom_id == "in-7"
        assert request.url == "/v1/chat/completions"
        assert request.body == {
            "messages": [{"role": "user", "content": "What is GKE?"}],
            "model": "gemma",
            "max_tokens": 32,
        }

    def test_a_json_looking_prompt_is_still_a_prompt(self):
        assert parse('{"custom_id": "x"}', fmt="text").body["messages"][0]["content"] == '{"custom_id": "x"}'


def request(custom_id="a") -> Request:
    return Request(custom_id, "/v1/chat/completions", {"messages": []}, "in:1", "{}")


class TestOutputLines:
    def test_success_is_run_batch_s_line(self):
        record = records.output_record(Outcome(request(), 200, {"id": "chatcmpl-1", "choices": []}))
        assert record["custom_id"] == "a"
        assert record["error"] is None
        assert record["response"]["status_code"] == 200
        assert record["response"]["body"] == {"id": "chatcmpl-1", "choices": []}
        assert record["id"].startswith("vllm-") and record["response"]["request_id"].startswith("vllm-batch-")

    def test_an_http_error_keeps_status_and_openai_error_body(self):
        error = {"error": {"message": "The model `x` does not exist.", "type": "NotFoundError", "code": 404}}
        record = records.output_record(Outcome(request(), 404, error, "HTTP 404"))
        assert record["response"] == {"status_code": 404, "request_id": record["response"]["request_id"], "body": None}
        assert record["error"] == error

    def test_an_http_error_without_openai_body_gets_one(self):
        record = records.output_record(Outcome(request(), 502, None, "POST x: HTTP 502: bad gateway"))
        assert record["error"]["error"] == {
            "message": "POST x: HTTP 502: bad gateway",
            "type": "HTTPError",
            "param": None,
            "code": 502,
        }

    def test_no_http_answer_has_no_response(self):
        record = records.output_record(Outcome(request(), None, None, "POST x: ConnectionRefusedError"))
        assert (record["response"], record["error"]) == (None, "POST x: ConnectionRefusedError")

    def test_a_malformed_line_with_an_id_gets_a_400(self):
        record = records.rejected_output_record(Rejected("in:2", "{}", "method must be POST", "b"))
        assert (record["custom_id"], record["response"]["status_code"], record["error"]) == (
            "b",
            400,
            "method must be POST",
        )
        with pytest.raises(ValueError, match="no output line"):
            records.rejected_output_record(Rejected("in:3", "x", "not JSON"))

    def test_dead_letter_keeps_the_input_to_retry(self):
        failed = records.dead_letter_record(Outcome(request(), 503, None, "HTTP 503", attempts=6))
        assert failed == {
            "custom_id": "a",
            "source": "in:1",
            "stage": "request",
            "status_code": 503,
            "attempts": 6,
            "reason": "HTTP 503",
            "input": "{}",
        }
        malformed = records.dead_letter_record(Rejected("in:2", "oops", "not JSON"))
        assert malformed == {
            "custom_id": None,
            "source": "in:2",
            "stage": "parse",
            "reason": "not JSON",
            "input": "oops",
        }
