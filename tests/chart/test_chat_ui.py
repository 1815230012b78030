"""templates/chat-ui/: the Gradio chat front end."""

from __future__ import annotations

from support.manifests import of_kind, render

UI = {"chatUI": {"enabled": True}, "model": {"servedName": "qwen"}, "service": {"port": 8000}}


def by_component(objects: list[dict], kind: str, component: str) -> dict:
    (found,) = [
        o for o in of_kind(objects, kind) if o["metadata"]["labels"]["app.kubernetes.io/component"] == component
    ]
    return found


class TestChatUI:
    def test_off_by_default(self):
        assert [o for o in render({}) if "chat-ui" in o["metadata"]["name"]] == []

    def test_talks_to_the_serving_service_openai_api(self):
        objects = render(UI)
        deployment = by_component(objects, "Deployment", "chat-ui")
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"] == "us-docker.pkg.dev/google-samples/containers/gke/gradio-app:v1.0.7"
        env = {e["name"]: e["value"] for e in container["env"]}
        server = by_component(objects, "Service", "server")
        assert env["HOST"] == f"http://{server['metadata']['name']}:8000"
        assert env["CONTEXT_PATH"] == "/v1/chat/completions"
        assert env["LLM_ENGINE"] == "openai-chat"
        assert env["MODEL_ID"] == "qwen"
        assert container["securityContext"]["allowPrivilegeEscalation"] is False

    def test_own_service_selects_only_the_ui(self):
        objects = render({**UI, "chatUI": {"enabled": True, "service": {"type": "LoadBalancer", "port": 80}}})
        service = by_component(objects, "Service", "chat-ui")
        assert service["spec"]["type"] == "LoadBalancer"
        assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
        assert service["spec"]["selector"]["app.kubernetes.io/component"] == "chat-ui"
        pods = by_component(objects, "Deployment", "chat-ui")["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= pods.items()
        server_pods = by_component(objects, "Deployment", "server")["spec"]["template"]["metadata"]["labels"]
        assert not service["spec"]["selector"].items() <= server_pods.items()

    def test_image_and_resources_are_values(self):
        values = {
            "chatUI": {
                "enabled": True,
                "image": {"repository": "example.com/ui", "tag": "v2"},
                "resources": {"requests": {"cpu": "1"}},
            }
        }
        (container,) = by_component(render(values), "Deployment", "chat-ui")["spec"]["template"]["spec"]["containers"]
        assert container["image"] == "example.com/ui:v2"
        assert container["resources"]["requests"]["cpu"] == "1"

    def test_service_can_be_internal_or_restricted(self):
        """An unauthenticated UI behind a LoadBalancer: annotations (e.g. GKE's internal load balancer) and
        loadBalancerSourceRanges reach the Service."""
        service_values = {
            "type": "LoadBalancer",
            "annotations": {"networking.gke.io/load-balancer-type": "Internal"},
            "loadBalancerSourceRanges": ["10.0.0.0/8"],
        }
        service = by_component(
            render({**UI, "chatUI": {"enabled": True, "service": service_values}}), "Service", "chat-ui"
        )
        assert service["metadata"]["annotations"] == {"networking.gke.io/load-balancer-type": "Internal"}
        assert service["spec"]["loadBalancerSourceRanges"] == ["10.0.0.0/8"]
        plain = by_component(render(UI), "Service", "chat-ui")
        assert "annotations" not in plain["metadata"]
        assert "loadBalancerSourceRanges" not in plain["spec"]

    def test_runs_as_non_root_without_capabilities_and_is_overridable(self):
        spec = by_component(render(UI), "Deployment", "chat-ui")["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        (container,) = spec["containers"]
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        mine = {"chatUI": {"enabled": True, "podSecurityContext": {"runAsUser": 2000}}}
        spec = by_component(render(mine), "Deployment", "chat-ui")["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsUser"] == 2000
