"""`vllm-serving pipeline run --runner DirectRunner` end to end: Beam's runner, the project's OpenAI stub.

Each pipeline runs once per module (Beam's start-up costs seconds) and the tests read its files:
one output line per request with its custom_id, failed requests and malformed lines in the
dead-letter output, and the command's summary.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.openai_stub import Failure, OpenAIStub
from vllm_serving import cli

GOOD = 30  # well-formed requests in requests.jsonl
MALFORMED_WITH_ID = ["no-messages", "wrong-url"]
PROMPTS = ["What is GKE?", "", "Why vLLM?", "Explain continuous batching."]  # the blank line is skipped


def request_line(custom_id: str, **body) -> str:
    body = {"messages": [{"role": "user", "content": f"prompt {custom_id}"}], **body}
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body})


def write_inputs(directory: Path) -> None:
    directory.mkdir()
    lines = [request_line(f"req-{i:02d}", max_tokens=4) for i in range(GOOD)]
    lines.insert(5, "this is not json")
    lines.insert(9, "")
    lines.insert(12, json.dumps({"method": "POST", "url": "/v1/chat/completions", "body": {}}))
    lines.insert(15, request_line("no-messages").replace('"messages"', '"prompt"'))
    lines.insert(20, request_line("wrong-url").replace("/v1/chat/completions", "/v1/completions"))
    (directory / "requests.jsonl").write_text("\n".join(lines) + "\n")
    (directory / "prompts.txt").write_text("\n".join(PROMPTS) + "\n")


def pipeline_run(input_: Path, output: Path, endpoint: str, *extra: str) -> int:
    argv = ["pipeline", "run", "--input", str(input_), "--output", str(output), "--endpoint", endpoint]
    return cli.main([*argv, "--model", "stub-model", *extra])


def read_jsonl(prefix: Path) -> list[dict]:
    files = sorted(prefix.parent.glob(prefix.name + "-*-of-*.jsonl"))
    assert files, f"no files at {prefix}-*"
    return [json.loads(line) for f in files for line in f.read_text().splitlines()]


@pytest.fixture(scope="module")
def flaky_run(tmp_path_factory):
    """Every 4th chat request answers 500; JSONL with malformed lines and a text file, one pipeline."""
    root = tmp_path_factory.mktemp("flaky")
    write_inputs(root / "in")
    with OpenAIStub(failure=Failure("status", every=4, message="injected")) as stub, pytest.MonkeyPatch.context() as mp:
        mp.setenv("PIPELINE_TEST_KEY", "sk-test")
        code = pipeline_run(
            root / "in" / "*",
            root / "out" / "results",
            stub.url,
            *("--concurrency", "4", "--retry-backoff", "0.01", "--api-key-env", "PIPELINE_TEST_KEY"),
            # The stub fails every 4th request it sees, whoever sends it: with 4 in flight, one request
            # could draw a 500 six times in a row and exhaust the default 5 retries (seen once in CI).
            *("--max-retries", "50", "--runner", "DirectRunner"),
        )
        requests = stub.chat_requests
    return code, root / "out" / "results", requests


class TestFlakyEndpoint:
    def test_exit_code(self, flaky_run):
        assert flaky_run[0] == 0

    def test_one_output_line_per_request_keyed_by_custom_id(self, flaky_run):
        _, prefix, _ = flaky_run
        lines = read_jsonl(prefix)
        ids = [line["custom_id"] for line in lines]
        expected = {f"req-{i:02d}" for i in range(GOOD)} | set(MALFORMED_WITH_ID)
        expected |= {"prompts-1", "prompts-3", "prompts-4"}  # text lines: <stem>-<line number>, blank skipped
        assert sorted(ids) == sorted(expected)  # exactly once each, retries included

    def test_retried_requests_succeed(self, flaky_run):
        _, prefix, sent = flaky_run
        by_id = {line["custom_id"]: line for line in read_jsonl(prefix)}
        served = [by_id[f"req-{i:02d}"] for i in range(GOOD)] + [by_id[f"prompts-{n}"] for n in (1, 3, 4)]
        assert all(line["response"]["status_code"] == 200 and line["error"] is None for line in served)
        # 33 requests, every 4th answer a 500: the stub saw the retries on top of them.
        assert len(sent) > GOOD + 3
        assert len(sent) == GOOD + 3 + len(sent) // 4

    def test_text_prompts_are_user_messages_with_the_model(self, flaky_run):
        _, _, sent = flaky_run
        prompts = {r.prompt for r in sent}
        assert {"What is GKE?", "Why vLLM?", "Explain continuous batching."} <= prompts
        assert all(r.body["model"] == "stub-model" for r in sent)

    def test_the_api_key_is_sent(self, flaky_run):
        _, _, sent = flaky_run
        assert {r.headers.get("Authorization") for r in sent} == {"Bearer sk-test"}

    def test_malformed_lines_go_to_the_dead_letter_output(self, flaky_run):
        _, prefix, _ = flaky_run
        dead = read_jsonl(prefix.with_name("results.dead-letter"))
        assert sorted((d["stage"], d["source"].rsplit("/", 1)[-1]) for d in dead) == [
            ("parse", "requests.jsonl:13"),
            ("parse", "requests.jsonl:16"),
            ("parse", "requests.jsonl:21"),
            ("parse", "requests.jsonl:6"),
        ]
        reasons = {d["source"].rsplit(":", 1)[-1]: d["reason"] for d in dead}
        assert reasons["6"].startswith("not JSON")
        assert reasons["13"] == "custom_id is missing or not a string"
        assert reasons["16"] == "body.messages must be a list of chat messages"
        assert reasons["21"].startswith("URL '/v1/completions' is not a supported endpoint")

    def test_malformed_lines_with_an_id_get_a_400_line(self, flaky_run):
        _, prefix, _ = flaky_run
        by_id = {line["custom_id"]: line for line in read_jsonl(prefix)}
        assert by_id["no-messages"]["response"]["status_code"] == 400
        assert by_id["no-messages"]["error"] == "body.messages must be a list of chat messages"


@pytest.fixture(scope="module")
def down_run(tmp_path_factory):
    """An endpoint that answers every request with 503: nothing succeeds, nothing is lost."""
    root = tmp_path_factory.mktemp("down")
    (root / "requests.jsonl").write_text("\n".join(request_line(f"r{i}") for i in range(6)) + "\n")
    with OpenAIStub(failure=Failure("status", every=1, status=503, message="no capacity")) as stub:
        code = pipeline_run(
            root / "requests.jsonl",
            root / "out" / "results",
            stub.url,
            *("--max-retries", "2", "--retry-backoff", "0"),
        )
        sent = len(stub.chat_requests)
    return code, root / "out" / "results", sent


class TestEndpointDown:
    def test_every_request_has_its_error_line(self, down_run):
        code, prefix, sent = down_run
        assert code == 0
        lines = read_jsonl(prefix)
        assert sorted(line["custom_id"] for line in lines) == [f"r{i}" for i in range(6)]
        for line in lines:
            assert line["response"]["status_code"] == 503
            assert line["error"]["error"]["message"] == "no capacity"
        assert sent == 6 * 3  # each request, then two retries

    def test_every_request_is_in_the_dead_letter_output(self, down_run):
        _, prefix, _ = down_run
        dead = read_jsonl(prefix.with_name("results.dead-letter"))
        assert sorted(d["custom_id"] for d in dead) == [f"r{i}" for i in range(6)]
        assert {(d["stage"], d["status_code"], d["attempts"]) for d in dead} == {("request", 503, 3)}
        assert all(json.loads(d["input"])["custom_id"] == d["custom_id"] for d in dead)  # retry from here


def test_the_summary_counts(tmp_path, capsys):
    (tmp_path / "requests.jsonl").write_text(request_line("a") + "\nnot json\n")
    with OpenAIStub() as stub:
        code = pipeline_run(tmp_path / "requests.jsonl", tmp_path / "out", stub.url)
    out, err = capsys.readouterr()
    assert code == 0
    assert "2 lines read: 1 succeeded, 0 failed, 1 malformed (0 retries)" in out
    assert "some lines failed: see the dead-letter output" in err


def test_batches_are_full_from_the_first():
    """Beam's BatchElements starts at min_batch_size and grows; from 1, the first batches would be tiny and
    leave the request pool idle (measured: 26.8 s instead of 14.9 s of serving in the benchmark)."""
    from vllm_serving.pipeline.client import EndpointSettings
    from vllm_serving.pipeline.transforms import EndpointModelHandler

    handler = EndpointModelHandler(EndpointSettings("http://h:1"), batch_size=512)
    assert handler.batch_elements_kwargs() == {"min_batch_size": 512, "max_batch_size": 512}
    streaming = EndpointModelHandler(EndpointSettings("http://h:1"), batch_size=64, max_batch_duration_secs=1)
    assert streaming.batch_elements_kwargs()["max_batch_duration_secs"] == 1
