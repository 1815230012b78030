"""templates/service.yaml."""

from __future__ import annotations

import re

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


class TestNamesFromReleasesStartingWithADigit:
    """Helm accepts release names such as `70b-chat`; a Service name must start with a letter (RFC 1035
    label: https://kubernetes.io/docs/concepts/overview/working-with-objects/names/#rfc-1035-label-names)."""

    RFC1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")

    def test_every_service_name_starts_with_a_letter(self):
        objects = render({}, (), release="70b-chat")
        names = [o["metadata"]["name"] for o in objects if o["kind"] == "Service"]
        assert names == ["r70b-chat-vllm-serving"]
        assert all(self.RFC1035.match(n) and len(n) <= 63 for n in names)

    def test_the_leaderworkerset_name_gives_a_valid_headless_service(self):
        values = {"parallelism": {"tensor": 8, "pipeline": 2}, "gke": {"accelerator": "nvidia-h100-80gb"}}
        lws = one(render(values, (), release="9" * 53), "LeaderWorkerSet")
        # The LWS controller creates a headless Service named after the LeaderWorkerSet.
        assert self.RFC1035.match(lws["metadata"]["name"]) and len(lws["metadata"]["name"]) <= 48
