"""templates/httproute.yaml: the HTTPRoute from a named Gateway to the InferencePool."""

from __future__ import annotations

from support.manifests import of_kind, one, render


class TestHttpRoute:
    def test_off_by_default(self):
        assert of_kind(render({}), "HTTPRoute") == []

    def test_routes_the_gateways_requests_to_the_pool(self):
        values = {
            "gateway": {
                "enabled": True,
                "parentRefs": [{"name": "llm-gateway", "namespace": "infra"}],
                "hostnames": ["llm.example.com"],
                "timeoutSeconds": 600,
            }
        }
        route = one(render(values), "HTTPRoute")
        assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
        assert route["spec"]["parentRefs"] == [{"name": "llm-gateway", "namespace": "infra"}]
        assert route["spec"]["hostnames"] == ["llm.example.com"]
        (rule,) = route["spec"]["rules"]
        assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
        assert rule["backendRefs"] == [
            {"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": "vllm-vllm-serving"}
        ]
        assert rule["timeouts"] == {"request": "600s"}
