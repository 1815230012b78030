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
        env = {
            e["name"]: e["value"]
            for e in hook_pod({"model": {"name": "org/m", "weightsGB": 1}})["spec"]["containers"][0]["env"]
        }
        assert env["SERVED_MODEL_NAME"] == "org/m"

    def test_runs_serving_image_on_serving_nodes_without_gpu(self):
        objects = render({"gke": {"accelerator": "nvidia-h100-80gb", "nodePool": "h100"}})
        pod = one(hooks(objects, "test"), "Job")["spec"]["template"]
        assert pod["spec"]["containers"][0]["image"] == "vllm/vllm-openai:v0.33.0"
        assert pod["spec"]["nodeSelector"] == serving_pod_spec(objects)["nodeSelector"]
        assert "nvidia.com/gpu" not in pod["spec"]["containers"][0]["resources"]["limits"]

    def test_pod_is_hardened_and_overridable(self):
        spec = hook_pod({})["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 65534
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        container = spec["containers"][0]["securityContext"]
        assert container["capabilities"]["drop"] == ["ALL"]
        assert container["allowPrivilegeEscalation"] is False
        assert container["readOnlyRootFilesystem"] is True
        mine = {"tests": {"podSecurityContext": {"runAsUser": 1001}, "securityContext": {"privileged": False}}}
        spec = hook_pod(mine)["spec"]
        assert spec["securityContext"]["runAsUser"] == 1001  # merged over the defaults, as Helm merges maps
        assert spec["containers"][0]["securityContext"]["privileged"] is False
        resources = {
            "tests": {"resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "64Mi"}}}
        }
        assert hook_pod(resources)["spec"]["containers"][0]["resources"] == resources["tests"]["resources"]

    def test_on_autopilot_needs_no_gpu_node(self):
        """Autopilot refuses a GPU toleration on a pod that requests no GPU ("[denied by
        autogke-gpu-limitation] The toleration with key 'nvidia.com/gpu' ... cannot be specified if the pod
        does not request to use GPU in Autopilot", https://cloud.google.com/kubernetes-engine/docs/how-to/autopilot-gpus);
        the check only calls the API, so it runs on any node."""
        spec = hook_pod({"gke": {"mode": "autopilot"}})["spec"]
        assert "tolerations" not in spec
        assert "nodeSelector" not in spec
        standard = hook_pod({})["spec"]
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in standard["tolerations"]

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


def argo_hook_types(obj: dict) -> list[str]:
    """The sync phases Argo CD runs a hook in, as gitops-engine decides (argoproj/gitops-engine
    pkg/sync/hook/hook.go `Types` and pkg/sync/hook/helm/type.go at 0d0c679d): Argo's own hook annotation
    wins; without it only Helm's pre/post-install and pre/post-upgrade map (to PreSync and PostSync), so
    `helm.sh/hook: test` maps to nothing and the hook never runs
    (https://argo-cd.readthedocs.io/en/stable/user-guide/helm/#helm-hooks)."""
    annotations = obj["metadata"].get("annotations", {})
    argo_types = {"PreSync", "Sync", "PostSync", "SyncFail", "PostDelete", "Skip"}
    found = [t.strip() for t in annotations.get("argocd.argoproj.io/hook", "").split(",") if t.strip() in argo_types]
    if found:
        return found
    helm_types = {
        "pre-install": "PreSync",
        "pre-upgrade": "PreSync",
        "post-install": "PostSync",
        "post-upgrade": "PostSync",
    }
    return [helm_types[t.strip()] for t in annotations.get("helm.sh/hook", "").split(",") if t.strip() in helm_types]


class TestArgoForm:
    def test_helm_form_is_never_run_by_argo(self):
        job = one(render({}, TEST_POD), "Job")
        assert argo_hook_types(job) == []
        assert not any(k.startswith("argocd.argoproj.io/") for k in job["metadata"]["annotations"])

    def test_argocd_form_runs_after_each_sync_and_still_under_helm_test(self):
        job = one(render({"tests": {"hook": "argocd"}}, TEST_POD), "Job")
        annotations = job["metadata"]["annotations"]
        assert argo_hook_types(job) == ["PostSync"]
        # Replaced on the next sync, so the last run's pod and logs stay until then.
        assert annotations["argocd.argoproj.io/hook-delete-policy"] == "BeforeHookCreation"
        assert annotations["helm.sh/hook"] == "test"
        assert hooks(render({"tests": {"hook": "argocd"}}), "test") == [job]
        assert job["spec"] == one(render({}, TEST_POD), "Job")["spec"]

    def test_unknown_form_is_refused_by_the_schema(self):
        import pytest

        from vllm_serving.errors import InvalidValues

        with pytest.raises(InvalidValues) as refused:
            render({"tests": {"hook": "flux"}}, TEST_POD)
        assert "tests.hook" in "\n".join(refused.value.problems)
