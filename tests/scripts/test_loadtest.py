"""`vllm-serving loadtest`: measurements, errors and exit codes, against the local OpenAI stub only.

Every server here is ``support.openai_stub`` on 127.0.0.1, started by the test. Loads
are a few seconds at most and bounded by --max-requests. Timing assertions are one-sided or wide:
a measured latency is never below what the stub waits, and not far above it even on a busy machine.

This process never imports Locust (it monkey-patches the standard library with gevent); the load
runs in the command's worker process, and the measuring client is tested here directly.
"""

from __future__ import annotations

import importlib.util
import json
import signal
import socket
import subprocess
import sys
import time
from itertools import islice
from pathlib import Path

import pytest

from support.openai_stub import Failure, OpenAIStub
from vllm_serving import cli
from vllm_serving.commands import loadtest as loadtest_command
from vllm_serving.endpoint import Target
from vllm_serving.errors import UsageError
from vllm_serving.loadtest import report, runner
from vllm_serving.loadtest.client import ChatClient, Sample, list_models
from vllm_serving.loadtest.prompts import default_prompts_file, load_prompts, prompt_order

FIRST_TOKEN_DELAY = 0.1  # seconds, what the stub waits before the first content chunk
TOKEN_DELAY = 0.02  # and between content chunks
SLACK = 0.4  # seconds a loaded 2-core machine may add to a latency

# Three prompts: with a stub answering 8 tokens at most, they get 4, 6 and 8 tokens.
PROMPTS = [("first prompt", 4), ("second prompt", 6), ("third prompt", 100)]


@pytest.fixture
def serve():
    """Start stubs on 127.0.0.1 for the test; all stop at its end."""
    stubs: list[OpenAIStub] = []

    def start(**options) -> OpenAIStub:
        stub = OpenAIStub(**options).start()
        stubs.append(stub)
        return stub

    yield start
    for stub in stubs:
        stub.stop()


@pytest.fixture
def prompts_file(tmp_path) -> Path:
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps({"prompt": p, "max_tokens": n}) + "\n" for p, n in PROMPTS))
    return path


def loadtest(capsys, *argv: str) -> tuple[int, dict | None, str]:
    """Run the command as the CLI would (errors mapped to exit codes): status, JSON report, stderr."""
    status = cli.run(loadtest_command.main, [*argv, "--output", "json"])
    captured = capsys.readouterr()
    return status, (json.loads(captured.out) if captured.out.strip() else None), captured.err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- end to end, through Locust


class TestRun:
    def test_measures_what_the_stub_does(self, serve, prompts_file, capsys):
        stub = serve(
            models=("first-model", "second-model"),
            first_token_delay=FIRST_TOKEN_DELAY,
            token_delay=TOKEN_DELAY,
            tokens=8,
        )
        argv = [stub.url, "--prompts", str(prompts_file), "--users", "8", "--duration", "30", "--max-requests", "24"]
        status, result, err = loadtest(capsys, *argv)

        assert status == 0, err
        assert result["passed"] and result["failures"] == []
        assert result["model"] == "first-model"  # auto-discovered: the first id of GET /v1/models
        assert result["requests"] == {"started": 24, "completed": 24, "failed": 0, "cancelled": 0}
        # Each prompt eight times (every prompt is sent once before any is sent again): 8 * (4 + 6 + 8).
        assert result["output_tokens"] == 144
        assert result["token_source"] == "usage"
        assert result["output_token_rate"] == pytest.approx(144 / result["elapsed_s"], rel=0.01)
        assert result["request_rate"] == pytest.approx(24 / result["elapsed_s"], rel=0.01)
        assert result["errors"] == {"count": 0, "rate": 0.0, "reasons": []}

        ttft, itl, e2e = result["ttft_ms"], result["itl_ms"], result["e2e_ms"]
        assert (ttft["count"], itl["count"], e2e["count"]) == (24, 8 * (3 + 5 + 7), 24)
        assert FIRST_TOKEN_DELAY * 1000 <= ttft["min"] <= ttft["p50"] < (FIRST_TOKEN_DELAY + SLACK) * 1000
        assert ttft["p50"] <= ttft["p90"] <= ttft["p95"] <= ttft["p99"] <= ttft["max"]
        # Eight users connect at once: no connection waits for a SYN retry (1 s) in a short listen backlog.
        assert ttft["max"] < 1000
        assert TOKEN_DELAY * 1000 * 0.5 <= itl["p50"] < (TOKEN_DELAY + SLACK) * 1000
        shortest = FIRST_TOKEN_DELAY + 3 * TOKEN_DELAY  # 4 tokens
        assert shortest * 1000 <= e2e["min"] <= e2e["p50"] < (FIRST_TOKEN_DELAY + 7 * TOKEN_DELAY + SLACK) * 1000

        # The stub saw exactly the requests: one model discovery, then 24 streamed chats.
        assert [(r.method, r.path) for r in stub.requests[:1]] == [("GET", "/v1/models")]
        chats = stub.chat_requests
        assert len(chats) == 24 and len(stub.requests) == 25
        for chat in chats:
            assert chat.body["model"] == "first-model"
            assert chat.body["stream"] is True
            assert chat.body["stream_options"] == {"include_usage": True}
            assert chat.body["max_tokens"] == dict(PROMPTS)[chat.prompt]
        assert sorted(c.prompt for c in chats) == sorted([p for p, _ in PROMPTS] * 8)

    def test_json_report_shape(self, serve, prompts_file, capsys):
        stub = serve(tokens=2)
        status, result, _ = loadtest(capsys, stub.url, "--prompts", str(prompts_file), "--max-requests", "3")
        assert status == 0
        assert set(result) == {
            "version", "url", "model", "load", "interrupted", "elapsed_s", "requests", "request_rate", "output_tokens",
            "output_token_rate", "token_source", "ttft_ms", "itl_ms", "e2e_ms", "errors",
            "max_error_rate", "passed", "failures",
        }  # fmt: skip
        assert result["version"] == "1" and result["url"] == stub.url and result["model"] == "stub-model"
        assert result["load"] == {
            "users": 4,
            "spawn_rate": 4.0,
            "duration_s": 60.0,
            "max_requests": 3,
            "seed": 0,
            "timeout_s": 60.0,
            "prompts": str(prompts_file),
            "prompt_count": 3,
        }
        for key in ("ttft_ms", "itl_ms", "e2e_ms"):
            assert set(result[key]) == {"count", "mean", "min", "p50", "p90", "p95", "p99", "max"}
        assert set(result["errors"]) == {"count", "rate", "reasons"}
        assert result["max_error_rate"] == 0.01
        assert result["interrupted"] is False

    def test_every_fourth_request_failing_fails_the_run(self, serve, prompts_file, capsys):
        stub = serve(tokens=3, failure=Failure("status", every=4, status=500, message="injected failure"))
        argv = [stub.url, "--prompts", str(prompts_file), "--users", "2", "--max-requests", "12"]
        status, result, _ = loadtest(capsys, *argv)
        assert status == 1
        assert result["requests"] == {"started": 12, "completed": 9, "failed": 3, "cancelled": 0}
        assert result["errors"] == {
            "count": 3,
            "rate": 0.25,
            "reasons": [{"reason": "HTTP 500: injected failure", "count": 3}],
        }
        assert result["failures"] == ["error rate 25.00% (3 of 12 requests) exceeds --max-error-rate 1.00%"]
        # Only the completed requests are measured: 9 of 3 tokens each.
        assert result["output_tokens"] == 27
        assert result["e2e_ms"]["count"] == 9

        # The same error rate passes when the limit allows it: only a rate above the limit fails.
        stub2 = serve(tokens=3, failure=Failure("status", every=4))
        status, result, _ = loadtest(capsys, stub2.url, *argv[1:], "--max-error-rate", "0.25")
        assert status == 0 and result["passed"]

    def test_broken_streams_are_errors_with_their_reason(self, serve, prompts_file, capsys):
        stub = serve(tokens=6, failure=Failure("garbage", every=3))
        status, result, _ = loadtest(
            capsys, stub.url, "--prompts", str(prompts_file), "--users", "1", "--max-requests", "6"
        )
        assert status == 1
        assert result["errors"]["reasons"] == [{"reason": "malformed stream: data is not JSON", "count": 2}]
        assert result["requests"]["completed"] == 4

    def test_no_completed_request_fails_and_the_text_report_says_so(self, serve, prompts_file, capsys):
        stub = serve(failure=Failure("status", every=1, status=503, message="model is loading"))
        argv = [stub.url, "--prompts", str(prompts_file), "--max-requests", "4", "--max-error-rate", "1"]
        assert cli.run(loadtest_command.main, argv) == 1
        out = capsys.readouterr().out
        assert "requests     0 completed, 4 failed, 0 cancelled" in out
        assert "       4  HTTP 503: model is loading" in out
        assert "  TTFT                 -         -" in out
        assert out.rstrip().endswith("result       FAIL: no request completed")

    def test_text_report_by_default(self, serve, prompts_file, capsys):
        stub = serve(tokens=4)
        assert cli.run(loadtest_command.main, [stub.url, "--prompts", str(prompts_file), "--max-requests", "3"]) == 0
        out = capsys.readouterr().out
        assert f"target       {stub.url}  model stub-model" in out
        assert "requests     3 completed, 0 failed, 0 cancelled" in out
        assert "latency (ms)         p50       p90       p95       p99      mean       max" in out
        assert "errors       0 (0.00%; limit 1.00%)" in out
        assert out.rstrip().endswith("result       PASS")

    def test_duration_bounds_the_load(self, serve, prompts_file, capsys):
        stub = serve(first_token_delay=0.05, token_delay=0.05, tokens=8)  # 0.4 s per request
        began = time.monotonic()
        argv = [stub.url, "--prompts", str(prompts_file), "--users", "2", "--duration", "1", "--max-requests", "1000"]
        status, result, _ = loadtest(capsys, *argv)
        assert status == 0
        assert time.monotonic() - began < 15
        # Requests in flight at the end of the duration finish and count.
        assert result["requests"]["cancelled"] == 0
        assert 2 <= result["requests"]["completed"] < 1000
        assert result["requests"]["completed"] == len(stub.chat_requests)
        assert 1.0 <= result["elapsed_s"] < 1.0 + 0.5 + SLACK + 1.0

    def test_seed_fixes_the_prompt_order(self, serve, prompts_file, capsys):
        stub = serve(tokens=1)
        argv = [stub.url, "--prompts", str(prompts_file), "--users", "1", "--max-requests", "7", "--seed", "42"]
        status, _, _ = loadtest(capsys, *argv)
        assert status == 0
        expected = [PROMPTS[i][0] for i in islice(prompt_order(3, 42), 7)]
        assert [r.prompt for r in stub.chat_requests] == expected

    def test_explicit_model(self, serve, prompts_file, capsys):
        stub = serve(models=("a", "b"), tokens=2)
        status, result, _ = loadtest(
            capsys, stub.url, "--model", "b", "--prompts", str(prompts_file), "--max-requests", "2"
        )
        assert status == 0 and result["model"] == "b"
        assert {r.body["model"] for r in stub.chat_requests} == {"b"}

    def test_shipped_prompts_are_the_default(self, serve, capsys):
        stub = serve(tokens=2)
        status, result, _ = loadtest(capsys, stub.url, "--max-requests", "2")
        assert status == 0
        assert result["load"]["prompts"] == str(default_prompts_file())
        texts = {p.text for p in load_prompts()}
        assert all(r.prompt in texts for r in stub.chat_requests)


def test_ctrl_c_reports_what_ran_and_exits_130(serve, prompts_file):
    stub = serve(first_token_delay=0.05, token_delay=0.05, tokens=8)
    code = "import sys; from vllm_serving import cli; from vllm_serving.commands import loadtest as loadtest_command; "
    code += "sys.exit(cli.run(loadtest_command.main, sys.argv[1:]))"
    argv = [stub.url, "--prompts", str(prompts_file), "--duration", "60", "--output", "json"]
    with subprocess.Popen([sys.executable, "-c", code, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE) as cmd:
        deadline = time.monotonic() + 30
        while len(stub.chat_requests) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        cmd.send_signal(signal.SIGINT)
        out, err = cmd.communicate(timeout=30)
    assert cmd.returncode == 130, err
    assert err.decode().endswith("interrupted\n")
    result = json.loads(out)
    assert result["interrupted"] is True
    requests = result["requests"]
    assert requests["completed"] >= 1
    assert requests["cancelled"] + requests["completed"] + requests["failed"] == requests["started"] < 500
    # A request cut off at once may not have reached the server yet.
    assert requests["completed"] + requests["failed"] <= len(stub.chat_requests) <= requests["started"]


def test_the_command_process_never_imports_locust():
    code = (
        "import sys, vllm_serving.commands.loadtest, vllm_serving.loadtest.runner, vllm_serving.loadtest.report;"
        "assert not {'locust', 'gevent'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_locustfile_runs_under_locust_itself(serve, prompts_file, tmp_path):
    stub = serve(tokens=3, failure=Failure("status", every=3))
    locustfile = Path(runner.__file__).with_name("locustfile.py")
    command = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "--only-summary"]
    command += ["-u", "2", "-r", "2", "-t", "30s", "--host", stub.url, "--prompts", str(prompts_file)]
    command += ["--max-requests", "6", "--max-error-rate", "0.5"]
    began = time.monotonic()
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - began < 20  # stopped by the request budget, not by -t
    assert "requests     4 completed, 2 failed, 0 cancelled" in result.stderr
    assert len(stub.chat_requests) == 6


# ---------------------------------------------------------------- what is checked before any load


class TestBadInput:
    @pytest.mark.parametrize(
        ("url", "message"),
        [
            ("ftp://127.0.0.1/", "'ftp://127.0.0.1/' is not an http:// or https:// URL"),
            ("127.0.0.1:8000", "'127.0.0.1:8000' is not an http:// or https:// URL"),
            ("http://", "'http://' has no host"),
            ("http://127.0.0.1:99999", "'http://127.0.0.1:99999' is not a valid URL"),
            ("http://127.0.0.1:8000/?x=1", "has a query or fragment"),
        ],
    )
    def test_malformed_url(self, url, message, capsys):
        assert cli.run(loadtest_command.main, [url]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err
        assert "give the server's base URL, e.g. http://127.0.0.1:8000" in err

    def test_nothing_listening(self, capsys):
        url = f"http://127.0.0.1:{free_port()}"
        assert cli.run(loadtest_command.main, [url]) == 2
        assert capsys.readouterr().err == (
            f"error: GET {url}/v1/models: cannot reach the server "
            "(ConnectionRefusedError: Connection refused); check the URL\n"
        )

    def test_url_with_v1(self, serve, capsys):
        stub = serve()
        assert cli.run(loadtest_command.main, [stub.url + "/v1"]) == 2
        assert capsys.readouterr().err == (
            f"error: GET {stub.url}/v1/v1/models: HTTP 404: no route /v1/v1/models; "
            "the URL should be the server's base, without the trailing /v1\n"
        )
        assert [r.method for r in stub.requests] == ["GET"]  # no load was sent

    def test_unknown_model(self, serve, capsys):
        stub = serve(models=("a", "b"))
        assert cli.run(loadtest_command.main, [stub.url, "--model", "c"]) == 2
        assert capsys.readouterr().err == f"error: {stub.url} does not serve model 'c'; it serves: a, b\n"
        assert stub.chat_requests == []

    def test_malformed_prompts_line_is_named_before_any_load(self, serve, tmp_path, capsys):
        stub = serve()
        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"prompt": "fine", "max_tokens": 8}\n\n{"prompt": "oops", max_tokens: 8}\n')
        assert cli.run(loadtest_command.main, [stub.url, "--prompts", str(bad)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {bad}:3: not valid JSON (Expecting property name enclosed in double quotes)")
        assert stub.requests == []

    def test_locust_missing(self, serve, monkeypatch, capsys):
        stub = serve()
        real_find_spec = importlib.util.find_spec
        monkeypatch.setattr(
            importlib.util, "find_spec", lambda name, *a: None if name == "locust" else real_find_spec(name, *a)
        )
        assert cli.run(loadtest_command.main, [stub.url]) == 3
        assert capsys.readouterr().err.splitlines()[-1] == (
            "error: vllm-serving loadtest needs the package's [loadtest] extra (locust), which is not installed:"
            " pip install 'vllm-serving[loadtest]'"
        )
        assert stub.chat_requests == []

    @pytest.mark.parametrize(
        "option", [["--users", "0"], ["--duration", "-1"], ["--max-requests", "0"], ["--max-error-rate", "2"]]
    )
    def test_out_of_range_options(self, option, capsys):
        with pytest.raises(SystemExit) as done:
            loadtest_command.main(["http://127.0.0.1:1", *option])
        assert done.value.code == 2
        assert option[0] in capsys.readouterr().err

    def test_help_names_the_command(self, capsys):
        with pytest.raises(SystemExit) as done:
            loadtest_command.main(["--help"])
        assert done.value.code == 0
        assert "usage: vllm-serving loadtest" in capsys.readouterr().out


# ---------------------------------------------------------------- the prompts file


class TestPrompts:
    def test_shipped_file(self):
        prompts = load_prompts()
        assert len(prompts) >= 20
        assert all(p.text.strip() and p.max_tokens > 0 for p in prompts)
        assert load_prompts(default_prompts_file()) == prompts

    def test_blank_lines_and_extra_keys(self, tmp_path):
        path = tmp_path / "p.jsonl"
        path.write_text('\n{"prompt": "a", "max_tokens": 3, "note": "x"}\n   \n{"prompt": "b", "max_tokens": 1}\n')
        assert [(p.text, p.max_tokens) for p in load_prompts(path)] == [("a", 3), ("b", 1)]

    @pytest.mark.parametrize(
        ("line", "message"),
        [
            ("not json", "not valid JSON (Expecting value); each line must be an object like"),
            ('["a", 3]', "a list, not an object like"),
            ('{"max_tokens": 3}', '"prompt" must be a non-empty string'),
            ('{"prompt": "  ", "max_tokens": 3}', '"prompt" must be a non-empty string'),
            ('{"prompt": "a"}', '"max_tokens" must be a positive integer, got None'),
            ('{"prompt": "a", "max_tokens": 0}', '"max_tokens" must be a positive integer, got 0'),
            ('{"prompt": "a", "max_tokens": "3"}', "\"max_tokens\" must be a positive integer, got '3'"),
            ('{"prompt": "a", "max_tokens": true}', '"max_tokens" must be a positive integer, got True'),
        ],
    )
    def test_malformed_line_names_its_number(self, tmp_path, line, message):
        path = tmp_path / "p.jsonl"
        path.write_text('{"prompt": "ok", "max_tokens": 3}\n' + line + "\n")
        with pytest.raises(UsageError) as raised:
            load_prompts(path)
        assert str(raised.value).startswith(f"{path}:2: {message}")

    def test_missing_and_empty_files(self, tmp_path):
        with pytest.raises(UsageError, match=r"nope.jsonl: no such prompts file"):
            load_prompts(tmp_path / "nope.jsonl")
        (tmp_path / "empty.jsonl").write_text("\n\n")
        with pytest.raises(UsageError, match=r"empty.jsonl: no prompts; add one object per line"):
            load_prompts(tmp_path / "empty.jsonl")

    def test_prompt_order_is_a_seeded_shuffle_per_pass(self):
        first = list(islice(prompt_order(5, 1), 15))
        assert first == list(islice(prompt_order(5, 1), 15))
        for start in (0, 5, 10):
            assert sorted(first[start : start + 5]) == [0, 1, 2, 3, 4]
        assert {tuple(islice(prompt_order(5, seed), 5)) for seed in range(10)} != {tuple(first[:5])}


# ---------------------------------------------------------------- the measuring client, directly


class TestClient:
    def test_timings_tokens_and_keep_alive(self, serve):
        stub = serve(first_token_delay=FIRST_TOKEN_DELAY, token_delay=TOKEN_DELAY, tokens=5)
        client = ChatClient(Target.parse(stub.url), timeout=10)
        samples = [client.chat("stub-model", "hello", 50) for _ in range(2)]
        client.close()
        for sample in samples:
            assert sample.ok and sample.error is None
            # The role chunk (empty content) comes at once; TTFT waits for the first content.
            assert FIRST_TOKEN_DELAY <= sample.ttft < FIRST_TOKEN_DELAY + SLACK
            assert len(sample.itls) == 4 and all(gap < TOKEN_DELAY + SLACK for gap in sample.itls)
            assert sum(sample.itls) >= 4 * TOKEN_DELAY * 0.9
            assert FIRST_TOKEN_DELAY + 4 * TOKEN_DELAY <= sample.e2e < FIRST_TOKEN_DELAY + 4 * TOKEN_DELAY + SLACK
            assert (sample.output_tokens, sample.usage_tokens, sample.content_chunks) == (5, 5, 5)

    @pytest.mark.parametrize(("usage", "expected"), [(True, (10, 10, 4)), (False, (4, None, 4))])
    def test_usage_is_preferred_over_counting_chunks(self, serve, usage, expected):
        stub = serve(tokens=10, tokens_per_chunk=3, usage=usage)
        sample = ChatClient(Target.parse(stub.url), timeout=10).chat("stub-model", "hi", 100)
        assert sample.ok
        assert (sample.output_tokens, sample.usage_tokens, sample.content_chunks) == expected
        assert report.summarize([sample], 1.0)["token_source"] == ("usage" if usage else "chunks")

    @pytest.mark.parametrize(
        ("failure", "reason"),
        [
            (Failure("status", status=500, message="boom"), "HTTP 500: boom"),
            (Failure("status", status=429, message="too  many\nrequests"), "HTTP 429: too many requests"),
            (Failure("truncate"), "malformed stream: ended before data: [DONE]"),
            (Failure("garbage"), "malformed stream: data is not JSON"),
            (Failure("disconnect"), "connection error: IncompleteRead"),
            (Failure("stall"), "timeout: no complete answer within 0.3s"),
        ],
    )
    def test_error_reasons(self, serve, failure, reason):
        stub = serve(tokens=6, failure=failure, stall_seconds=5)
        client = ChatClient(Target.parse(stub.url), timeout=0.3)
        sample = client.chat("stub-model", "hi", 100)
        assert not sample.ok
        assert sample.error == reason
        assert sample.e2e < 0.3 + SLACK
        # The connection was dropped, and the next request works on a new one.
        stub.failure = None
        assert client.chat("stub-model", "hi", 100).ok

    def test_unknown_model_is_an_http_error(self, serve):
        stub = serve()
        sample = ChatClient(Target.parse(stub.url), timeout=5).chat("other", "hi", 5)
        assert sample.error == "HTTP 404: The model `other` does not exist."

    def test_list_models(self, serve):
        stub = serve(models=("x", "y"))
        assert list_models(Target.parse(stub.url + "/")) == ["x", "y"]

    def test_target_keeps_a_path_prefix(self):
        target = Target.parse("https://gateway.example/llm/")
        assert (target.url, target.host, target.port, target.prefix) == (
            "https://gateway.example/llm",
            "gateway.example",
            443,
            "/llm",
        )


# ---------------------------------------------------------------- the report


def sample(ok=True, ttft=0.1, itls=(), e2e=1.0, tokens=None, chunks=0, error=None) -> Sample:
    return Sample(
        start=0.0,
        end=e2e,
        ok=ok,
        error=error,
        ttft=ttft,
        itls=list(itls),
        content_chunks=chunks,
        usage_tokens=tokens,
    )


class TestReport:
    def test_percentile_interpolates(self):
        values = [1.0, 2.0, 3.0, 4.0]
        assert [report.percentile(values, p) for p in (0, 50, 90, 100)] == pytest.approx([1.0, 2.5, 3.7, 4.0])
        assert report.percentile([7.0], 99) == 7.0

    def test_summary(self):
        samples = [
            sample(ttft=0.1, itls=[0.01, 0.03], e2e=1.0, tokens=3),
            sample(ttft=0.3, itls=[0.02], e2e=2.0, chunks=2),
            sample(ok=False, ttft=None, e2e=0.5, error="HTTP 500: x"),
            sample(ok=False, ttft=None, e2e=0.5, error="timeout: no complete answer within 1s"),
            sample(ok=False, ttft=None, e2e=0.5, error="HTTP 500: x"),
        ]
        summary = report.summarize(samples, elapsed_s=4.0, cancelled=1)
        assert summary["requests"] == {"started": 6, "completed": 2, "failed": 3, "cancelled": 1}
        assert (summary["request_rate"], summary["output_tokens"], summary["output_token_rate"]) == (0.5, 5, 1.25)
        assert summary["token_source"] == "mixed"
        assert summary["ttft_ms"] == {
            "count": 2, "mean": 200.0, "min": 100.0, "p50": 200.0, "p90": 280.0, "p95": 290.0, "p99": 298.0,
            "max": 300.0,
        }  # fmt: skip
        assert summary["itl_ms"]["count"] == 3 and summary["itl_ms"]["p50"] == 20.0
        assert summary["e2e_ms"]["max"] == 2000.0
        assert summary["errors"] == {
            "count": 3,
            "rate": 0.6,
            "reasons": [
                {"reason": "HTTP 500: x", "count": 2},
                {"reason": "timeout: no complete answer within 1s", "count": 1},
            ],
        }

    def test_nothing_finished(self):
        summary = report.summarize([], elapsed_s=0.0, cancelled=2)
        assert summary["request_rate"] == 0.0 and summary["errors"]["rate"] == 0.0
        assert summary["ttft_ms"] is None and summary["token_source"] is None
        assert report.verdict(summary, 0.01) == ["no request completed"]

    @pytest.mark.parametrize(
        ("completed", "failed", "limit", "passed"),
        [(99, 1, 0.01, True), (98, 2, 0.01, False), (0, 0, 0.01, False), (1, 3, 0.75, True), (10, 0, 0.0, True)],
    )
    def test_verdict(self, completed, failed, limit, passed):
        samples = [sample()] * completed + [sample(ok=False, error="e")] * failed
        assert (report.verdict(report.summarize(samples, 1.0), limit) == []) is passed

    def test_text_lists_the_top_reasons(self):
        samples = [sample()] + [sample(ok=False, error=f"reason {i}") for i in range(7)]
        load = {
            "users": 1, "spawn_rate": 1.0, "duration_s": 5.0, "max_requests": 10, "seed": 0, "timeout_s": 1.0,
            "prompts": "p", "prompt_count": 1,
        }  # fmt: skip
        result = report.build_report(report.summarize(samples, 1.0), url="u", model="m", load=load, max_error_rate=0.5)
        text = report.render_text(result)
        assert "load         1 users (spawn 1/s), up to 5s or 10 requests, 1 prompts, seed 0" in text
        assert "       1  reason 4\n  ... and 2 more reasons (see --output json)" in text
        assert "result       FAIL: error rate 87.50% (7 of 8 requests) exceeds --max-error-rate 50.00%" in text
