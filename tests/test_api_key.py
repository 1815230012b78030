"""vllm.apiKey against the consumers of the key: vLLM 0.33.0's own API-key middleware decides.

vLLM guards only the paths under /v1, /v2, /inference and /cohere
(vllm/entrypoints/serve/middleware/authenticate.py, GUARDED_PREFIX, in the vllm 0.33.0 wheel), so the
chart's probes and metrics scrapers must keep working without the key while the `helm test` hook
and `vllm-serving loadtest` must send it. Each is played here against that middleware.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from paths import CHART
from support.manifests import one, render, vllm_container
from support.vllm_auth import VllmAuthGate
from vllm_serving import cli
from vllm_serving.vllm_parser import pinned_vllm_version

KEY = "s3cret-key"
VALUES = {
    "model": {"servedName": "chat"},
    "vllm": {"apiKey": {"secretName": "vllm-key"}},
    "monitoring": {"podMonitoring": {"enabled": True}, "serviceMonitor": {"enabled": True}},
}


def status(url: str, key: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


@pytest.fixture(scope="module")
def objects() -> list[dict]:
    return render(VALUES)


@pytest.fixture(scope="module")
def gate():
    with VllmAuthGate(pinned_vllm_version(CHART), key=KEY, models=["chat"]) as running:
        yield running


@pytest.mark.vllm_parser
class TestVllmApiKeyGate:
    def test_the_gate_is_real(self, gate):
        assert status(f"{gate.url}/v1/models") == 401
        assert status(f"{gate.url}/v1/models", "wrong") == 401
        assert status(f"{gate.url}/v1/models", KEY) == 200

    def test_probes_need_no_key(self, gate, objects):
        container = vllm_container(objects)
        paths = {container[p]["httpGet"]["path"] for p in ("startupProbe", "readinessProbe", "livenessProbe")}
        assert paths == {"/health"}
        for path in paths:
            assert status(gate.url + path) == 200, path

    def test_scrapers_need_no_key(self, gate, objects):
        scraped = {one(objects, "PodMonitoring")["spec"]["endpoints"][0]["path"]}
        scraped |= {one(objects, "ServiceMonitor")["spec"]["endpoints"][0]["path"]}
        assert scraped == {"/metrics"}
        assert status(gate.url + "/metrics") == 200

    def test_the_gateway_routes_only_paths_the_key_guards(self, gate):
        """Paths vLLM answers without the key stay off a load balancer that may be public."""
        route = one(render({**VALUES, "gateway": {"enabled": True}}, show_only="templates/httproute.yaml"), "HTTPRoute")
        prefixes = [m["path"]["value"].rstrip("/") for r in route["spec"]["rules"] for m in r["matches"]]
        for prefix in prefixes:
            assert status(f"{gate.url}{prefix}/chat/completions") == 401, prefix
        for path in ("/metrics", "/docs", "/openapi.json", "/version", "/load", "/tokenize", "/invocations"):
            assert status(gate.url + path) != 401, f"vLLM guards {path}: the README and values.yaml say otherwise"
            assert not any(path == p or path.startswith(p + "/") for p in prefixes), f"the gateway routes {path}"

    def test_helm_test_hook_sends_the_key(self, gate, objects):
        container = one(objects, "Job")["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["VLLM_API_KEY"] is None  # from the Secret, never a literal

        def run(key: str | None) -> subprocess.CompletedProcess:
            child_env = {"MODELS_URL": f"{gate.url}/v1/models", "SERVED_MODEL_NAME": "chat", "TIMEOUT_SECONDS": "3"}
            if key:
                child_env["VLLM_API_KEY"] = key
            script = container["args"][0]
            return subprocess.run([sys.executable, "-c", script], env=child_env, capture_output=True, text=True)

        ok, refused = run(KEY), run(None)
        assert ok.returncode == 0, ok.stderr
        assert refused.returncode != 0 and "401" in refused.stderr

    def test_loadtest_sends_vllm_api_key(self, gate, monkeypatch, capsys):
        argv = ["loadtest", gate.url, "--users", "1", "--max-requests", "2", "--duration", "20"]
        monkeypatch.delenv("VLLM_API_KEY", raising=False)
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert "HTTP 401" in err and "set VLLM_API_KEY to the key in the release's vllm.apiKey Secret" in err
        monkeypatch.setenv("VLLM_API_KEY", KEY)
        assert cli.main(argv) == 0, capsys.readouterr()
