"""templates/service.yaml."""

from __future__ import annotations

from support.manifests import one, render

SERVICE = "templates/service.yaml"


class TestService:
    def test_cluster_ip_with_named_port_to_the_container_port(self):
        service = one(render({}, SERVICE), "Service")
        assert service["spec"]["type"] == "ClusterIP"
        assert service["spec"]["ports"] == [{"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}]

    def test_selects_the_serving_pods_only(self):
        service = one(render({}, SERVICE), "Service")
        assert service["spec"]["selector"]["app.kubernetes.io/component"] == "server"

    def test_port_type_and_annotations(self):
        service = one(
            render(
                {
                    "service": {
                        "type": "LoadBalancer",
                        "port": 80,
                        "annotations": {"networking.gke.io/load-balancer-type": "Internal"},
                    }
                },
                SERVICE,
            ),
            "Service",
        )
        assert service["spec"]["type"] == "LoadBalancer"
        assert service["spec"]["ports"][0]["port"] == 80
        assert service["metadata"]["annotations"] == {"networking.gke.io/load-balancer-type": "Internal"}
