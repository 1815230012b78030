"""The pipeline's requests against the project's OpenAI stub: retries, final errors, the key, concurrency."""

from __future__ import annotations

import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from support.openai_stub import Failure, OpenAIStub
from vllm_serving.errors import UsageError
from vllm_serving.pipeline.client import EndpointClient, EndpointSettings
from vllm_serving.pipeline.records import Request


def chat(custom_id: str, model="stub-model", max_tokens=None) -> Request:
    body = {"model": model, "messages": [{"role": "user", "content": custom_id}]}
    if max_tokens:
        body["max_tokens"] = max_tokens
    return Request(custom_id, "/v1/chat/completions", body, f"in:{custom_id}", "{}")


@pytest.fixture
def stub():
    stubs: list[OpenAIStub] = []

    def start(**options) -> OpenAIStub:
        stubs.append(OpenAIStub(**options).start())
        return stubs[-1]

    yield start
    for s in stubs:
        s.stop()


def client(url, **settings) -> EndpointClient:
    sleeps: list[float] = []
    c = EndpointClient(EndpointSettings(url, **{"backoff": 0.01, **settings}), sleep=sleeps.append)
    c.sleeps = sleeps  # type: ignore[attr-defined]
    return c


class TestRetries:
    def test_every_third_request_500s_and_all_succeed_after_a_retry(self, stub):
        server = stub(failure=Failure("status", every=3))
        c = client(server.url, concurrency=1)
        outcomes = c.run([chat(str(i)) for i in range(9)])
        assert [o.request.custom_id for o in outcomes] == [str(i) for i in range(9)]
        assert all(o.ok for o in outcomes)
        # 9 requests; the 3rd, 6th, ... chat request fails: 13 sent, 4 of them retries.
        assert len(server.chat_requests) == 13
        assert sum(o.attempts - 1 for o in outcomes) == 4
        assert len(c.sleeps) == 4

    def test_a_request_that_keeps_failing_stops_after_max_retries(self, stub):
        server = stub(failure=Failure("status", every=1, status=503, message="overloaded"))
        outcome = client(server.url, max_retries=3).send(chat("x"))
        assert (outcome.status, outcome.attempts) == (503, 4)
        assert outcome.reason == f"POST {server.url}/v1/chat/completions: HTTP 503: overloaded (after 4 attempts)"
        assert outcome.body["error"]["message"] == "overloaded"
        assert len(server.chat_requests) == 4

    def test_429_is_retried_and_4xx_is_final(self, stub):
        throttled = stub(failure=Failure("status", every=1, status=429, message="slow down"))
        assert client(throttled.url, max_retries=2).send(chat("x")).attempts == 3
        server = stub()
        outcome = client(server.url).send(chat("x", model="no-such-model"))
        assert (outcome.status, outcome.attempts) == (404, 1)
        assert "The model `no-such-model` does not exist." in outcome.reason

    def test_backoff_doubles_and_is_capped(self, stub):
        server = stub(failure=Failure("status", every=1))
        c = client(server.url, max_retries=6, backoff=1.0, max_backoff=4.0)
        c.send(chat("x"))
        assert len(c.sleeps) == 6
        assert all(0 <= s <= cap for s, cap in zip(c.sleeps, [1, 2, 4, 4, 4, 4], strict=True))

    def test_nothing_listening_is_a_transport_failure(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        outcome = client(f"http://127.0.0.1:{port}", max_retries=1).send(chat("x"))
        assert outcome.status is None and outcome.attempts == 2
        assert "ConnectionRefusedError" in outcome.reason


def test_a_failure_to_connect_asks_the_servers_owner_to_recover_it_once(stub):
    """What the in-worker handler relies on (transforms._WorkerServer): after a failure to connect, ``recover``
    (Beam's check_connectivity, which restarts a dead vLLM) runs once for all the requests that saw it, and
    they are retried at the URL it returns, with no backoff sleep."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}"
    restarted = stub()
    calls: list[str] = []

    def recover() -> str:
        calls.append("check")
        return restarted.url

    settings = EndpointSettings(dead, concurrency=4, backoff=0.01)
    sleeps: list[float] = []
    c = EndpointClient(settings, sleep=sleeps.append, recover=recover)
    outcomes = c.run([chat(str(i)) for i in range(8)])
    assert all(o.ok for o in outcomes) and calls == ["check"] and sleeps == []
    assert {r.headers["User-Agent"] for r in restarted.chat_requests} == {c._user_agent}
    assert c._user_agent.startswith("vllm-serving-pipeline/") and f"pid {os.getpid()})" in c._user_agent


class _RetryAfter(BaseHTTPRequestHandler):
    """Answers 429 with Retry-After: 7 once, then 200."""

    calls = 0

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).calls += 1
        first = type(self).calls == 1
        body = b'{"error": {"message": "busy"}}' if first else b'{"id": "x"}'
        self.send_response(429 if first else 200)
        if first:
            self.send_header("Retry-After", "7")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_retry_after_is_honoured():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RetryAfter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        c = client(f"http://127.0.0.1:{server.server_address[1]}")
        assert c.send(chat("x")).ok
        assert c.sleeps == [7.0]
    finally:
        server.shutdown()
        server.server_close()


def test_the_api_key_comes_from_the_environment_at_load(stub, monkeypatch):
    server = stub()
    monkeypatch.setenv("MY_KEY", "sk-secret")
    settings = EndpointSettings(server.url, api_key_env="MY_KEY")
    assert "sk-secret" not in repr(settings)
    EndpointClient(settings).send(chat("x"))
    assert server.chat_requests[0].headers["Authorization"] == "Bearer sk-secret"
    monkeypatch.delenv("MY_KEY")
    EndpointClient(settings).send(chat("y"))
    assert "Authorization" not in server.chat_requests[1].headers


class TestConcurrency:
    def _in_flight(self, server) -> int:
        """Most requests the stub had open at once (each takes the same time, so starts tell)."""
        starts = sorted(r.received_at for r in server.chat_requests)
        return max(sum(1 for t in starts if s <= t < s + 0.15) for s in starts)

    def test_concurrency_bounds_what_is_in_flight(self, stub):
        server = stub(first_token_delay=0.2)
        started = time.monotonic()
        outcomes = client(server.url, concurrency=4).run([chat(str(i)) for i in range(12)])
        assert all(o.ok for o in outcomes)
        assert time.monotonic() - started >= 0.6  # 12 requests of 0.2 s, 4 at a time
        assert self._in_flight(server) <= 4

    def test_continuous_beats_fixed_groups_when_lengths_differ(self, stub):
        # One long request per group of 4: fixed groups wait for it each time, continuous does not.
        server = stub(first_token_delay=0.0, token_delay=0.01, tokens=40)
        batch = [chat(str(i), max_tokens=40 if i % 4 == 0 else 2) for i in range(16)]
        times = {}
        for mode in ("continuous", "fixed"):
            started = time.monotonic()
            assert all(o.ok for o in client(server.url, concurrency=4, mode=mode).run(batch))
            times[mode] = time.monotonic() - started
        assert times["fixed"] >= 4 * 0.39  # four groups, each as long as its 40-token request
        assert times["continuous"] < times["fixed"]


@pytest.mark.parametrize(
    ("url", "message"),
    [("127.0.0.1:8000", "is not an http:// or https:// URL"), ("http://", "has no host")],
)
def test_a_bad_endpoint_url_is_named(url, message):
    with pytest.raises(UsageError, match=message):
        EndpointSettings(url)


class TestSecretManagerKey:
    SECRET = "projects/my-project/secrets/vllm-api-key/versions/latest"

    def test_the_key_comes_from_the_secret_version_where_requests_are_sent(self, stub, monkeypatch):
        server = stub()
        monkeypatch.setenv("VLLM_API_KEY", "from-env")
        settings = EndpointSettings(server.url, api_key_secret=self.SECRET)
        read: list[str] = []
        EndpointClient(settings, read_secret=lambda name: read.append(name) or "sk-from-secret").send(chat("x"))
        assert read == [self.SECRET]
        assert server.chat_requests[0].headers["Authorization"] == "Bearer sk-from-secret"

    def test_the_secret_manager_call(self, monkeypatch):
        """The call shape of google-cloud-secret-manager's client (not installed here: apache-beam[gcp])."""
        import sys
        import types

        import google.cloud

        calls = []

        class Client:
            def access_secret_version(self, request):
                calls.append(request)
                return types.SimpleNamespace(payload=types.SimpleNamespace(data=b"sk-123\n"))

        module = types.ModuleType("google.cloud.secretmanager")
        module.SecretManagerServiceClient = Client
        monkeypatch.setitem(sys.modules, "google.cloud.secretmanager", module)
        monkeypatch.setattr(google.cloud, "secretmanager", module, raising=False)
        from vllm_serving.pipeline.client import read_secret_version

        assert read_secret_version(self.SECRET) == "sk-123"
        assert calls == [{"name": self.SECRET}]

    def test_a_name_that_is_not_a_version_is_refused(self):
        with pytest.raises(ValueError, match="use projects/PROJECT/secrets/NAME/versions/VERSION"):
            EndpointSettings("http://h:1", api_key_secret="projects/p/secrets/s")
