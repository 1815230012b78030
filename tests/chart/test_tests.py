"""templates/tests/test-models.yaml: the `helm test` hook."""

from __future__ import annotations

import subprocess
import sys

from support.manifests import hooks, one, render, serving_pod_spec

TEST_POD = "templates/tests/test-models.yaml"


def hook_pod(values: dict) -> dict:
    """The test Job's pod template."""
    return one(render(values, TEST_POD), "Job")["spec"]["template"]


class TestHelmTestHook:
    def test_is_a_test_hook_replaced_on_rerun_that_runs_once(self):
        job = one(render({}, TEST_POD), "Job")
        assert job["metadata"]["annotations"]["helm.sh/hook"] == "test"
        assert job["metadata"]["annotations"]["helm.sh/hook-delete-policy"] == "before-hook-creation"
        assert job["spec"]["backoffLimit"] == 0
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
        assert hooks(render({}), "test") == [job]

    def test_checks_served_name_through_the_service(self):
        env = {
            e["name"]: e["value"]
            for e in hook_pod({"model": {"servedName": "chat"}, "service": {"port": 80}})["spec"]["containers"][0][
                "env"
            ]
        }
        assert env["MODELS_URL"] == "http://vllm-vllm-serving:80/v1/models"
        assert env["SERVED_MODEL_NAME"] == "chat"

    def test_served_name_defaults_to_model(self):
        env = {e["name"]: e["value"] for e in hook_pod({"model": {"name": "org/m"}})["spec"]["containers"][0]["env"]}
        assert env["SERVED_MODEL_NAME"] == "org/m"

    def test_runs_serving_image_on_serving_nodes_without_gpu(self):
        objects = render({"gke": {"accelerator": "nvidia-h100-80gb", "nodePool": "h100"}})
        pod = one(hooks(objects, "test"), "Job")["spec"]["template"]
        assert pod["spec"]["containers"][0]["image"] == "vllm/vllm-openai:v0.33.0"
        assert pod["spec"]["nodeSelector"] == serving_pod_spec(objects)["nodeSelector"]
        assert "nvidia.com/gpu" not in pod["spec"]["containers"][0]["resources"]["limits"]

    def test_script_passes_and_fails_like_the_hook_would(self, tmp_path):
        """Run the hook's own script against a local HTTP server that answers like vLLM."""
        import http.server
        import json
        import threading

        class Models(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                ids = ["chat", "sql"]  # the model and one LoRA adapter
                body = json.dumps({"object": "list", "data": [{"id": i, "object": "model"} for i in ids]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Models)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            container = hook_pod({})["spec"]["containers"][0]
            script = container["args"][0]
            url = f"http://127.0.0.1:{server.server_address[1]}/v1/models"
            run = lambda want, adapters="": subprocess.run(  # noqa: E731
                [sys.executable, "-c", script],
                env={"MODELS_URL": url, "SERVED_MODEL_NAME": want, "LORA_ADAPTERS": adapters, "TIMEOUT_SECONDS": "5"},
                capture_output=True,
                text=True,
                timeout=30,
            )
            ok, wrong, adapters, missing = run("chat"), run("other"), run("chat", "sql"), run("chat", "sql,fr")
        finally:
            server.shutdown()
        assert ok.returncode == 0, ok.stderr
        assert "serves ['chat']" in ok.stdout
        assert wrong.returncode == 1
        assert "serves ['chat', 'sql'], not ['other']" in wrong.stderr
        assert adapters.returncode == 0, adapters.stderr
        assert missing.returncode == 1
        assert "serves ['chat', 'sql'], not ['fr']" in missing.stderr

    def test_lists_every_lora_adapter(self):
        values = {
            "lora": {"adapters": [{"name": "sql", "huggingface": "o/sql"}, {"name": "fr", "huggingface": "o/fr"}]}
        }
        env = {e["name"]: e.get("value") for e in hook_pod(values)["spec"]["containers"][0]["env"]}
        assert env["LORA_ADAPTERS"] == "sql,fr"
        assert "LORA_ADAPTERS" not in {e["name"] for e in hook_pod({})["spec"]["containers"][0]["env"]}

    def test_sends_the_api_key_from_the_secret(self):
        env = hook_pod({"vllm": {"apiKey": {"secretName": "k"}}})["spec"]["containers"][0]["env"]
        assert {"name": "VLLM_API_KEY", "valueFrom": {"secretKeyRef": {"name": "k", "key": "api-key"}}} in env
