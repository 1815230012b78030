"""templates/healthcheckpolicy.yaml and gcpbackendpolicy.yaml: GKE's policies for the pool's backend.

Their fields follow GKE's documentation (https://cloud.google.com/kubernetes-engine/docs/how-to/
configure-gateway-resources and .../deploy-gke-inference-gateway); the local cluster holds schemas of the
documented fields (vllm_serving/cluster/gke/) and test_values_files validates every rendered object.
"""

from __future__ import annotations

from support.manifests import of_kind, one, render

POOL_REF = {"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": "vllm-vllm-serving"}


class TestGkePolicies:
    def test_health_check_probes_vllms_open_health_path(self):
        policy = one(render({"gateway": {"enabled": True}, "vllm": {"port": 8080}}), "HealthCheckPolicy")
        assert policy["spec"]["targetRef"] == POOL_REF
        assert policy["spec"]["default"]["config"] == {
            "type": "HTTP",
            "httpHealthCheck": {"requestPath": "/health", "port": 8080},
        }

    def test_backend_timeout_is_the_routes(self):
        policy = one(render({"gateway": {"enabled": True, "timeoutSeconds": 900}}), "GCPBackendPolicy")
        assert policy["spec"]["targetRef"] == POOL_REF
        assert policy["spec"]["default"]["timeoutSec"] == 900

    def test_can_be_left_out_outside_gke(self):
        objects = render({"gateway": {"enabled": True, "gke": {"policies": False}}})
        assert of_kind(objects, "HealthCheckPolicy") == of_kind(objects, "GCPBackendPolicy") == []
