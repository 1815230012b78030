"""The local cluster plays GKE's Gateway controller: each refusal GKE documents for HTTPRoutes on gke-l7-*
Gateways is a ValidatingAdmissionPolicy (scripts/vllm_serving/cluster/gke_gateway.yaml) that the real
kube-apiserver enforces on every HTTPRoute. Each policy refuses its target with the message a user reads;
the route the chart renders for GKE is admitted, and the one it rendered before (with timeouts) is not.
Every gateway values file installs under these policies (tests/install/test_install.py)."""

from __future__ import annotations

import pytest

from support.manifests import one, render
from vllm_serving.cluster import gke_gateway
from vllm_serving.cluster.autopilot import API

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def rest(local_cluster):
    client = local_cluster.rest()
    yield client
    client.close()


CASES = {
    "httproute-timeouts": (
        [{"timeouts": {"request": "300s"}}],
        "[GKE Gateway controller] HTTPRoute gke-gateway-probe: spec.rules[].timeouts is not supported on gke-l7-*"
        " GatewayClasses; GKE marks the whole route Accepted=False (UnsupportedValue, GWCER104) and routes nothing."
        " Remove timeouts and set the backend timeout in a GCPBackendPolicy (spec.default.timeoutSec).",
    ),
    "httproute-path-regex": (
        [{"matches": [{"path": {"type": "RegularExpression", "value": "^/v1/.*$"}}]}],
        "[GKE Gateway controller] HTTPRoute gke-gateway-probe: path match type RegularExpression is not supported"
        " on gke-l7-* GatewayClasses; GKE marks the whole route Accepted=False (GWCER104). Use PathPrefix or Exact.",
    ),
    "httproute-extensionref-filter": (
        [
            {
                "filters": [
                    {"type": "ExtensionRef", "extensionRef": {"group": "example.com", "kind": "Auth", "name": "a"}}
                ]
            }
        ],
        "[GKE Gateway controller] HTTPRoute gke-gateway-probe: ExtensionRef filters are not implemented on"
        " gke-l7-* GatewayClasses, and a filter that cannot be resolved is not skipped: the requests it would"
        " process get an HTTP error. Use the GKE policies (GCPBackendPolicy, GCPRoutingExtension,"
        " GCPTrafficExtension) instead.",
    ),
}


def test_one_policy_per_documented_refusal_each_citing_its_gke_page(rest):
    policies = rest.get(f"{API}/validatingadmissionpolicies")["items"]
    ours = {p["metadata"]["name"]: p for p in policies if p["metadata"]["name"].startswith(gke_gateway.PREFIX)}
    assert set(ours) == {gke_gateway.PREFIX + name for name in CASES}
    for policy in ours.values():
        assert policy["metadata"]["annotations"]["vllm-serving.dev/source"].startswith(
            "https://cloud.google.com/kubernetes-engine/docs/"
        )


@pytest.mark.parametrize("rule", sorted(CASES))
def test_each_policy_refuses_its_target_with_the_message_a_user_reads(rest, rule):
    rules, message = CASES[rule]
    refused = gke_gateway.refusal(rest, "default", gke_gateway.probe_route(rules))
    assert refused is not None, f"{rule} admitted {rules}"
    assert f"ValidatingAdmissionPolicy '{gke_gateway.PREFIX}{rule}'" in refused
    assert message in refused
    assert gke_gateway.refusal(rest, "default", gke_gateway.probe_route([{}])) is None


def test_the_route_the_chart_renders_for_gke_is_admitted_and_the_one_with_timeouts_refused(rest):
    def chart_route(**gateway):
        values = {"gateway": {"enabled": True, "pathPrefix": "/team-a", "bodyBasedRouting": True, **gateway}}
        return one(render(values, namespace="default", show_only="templates/httproute.yaml"), "HTTPRoute")

    assert gke_gateway.refusal(rest, "default", chart_route()) is None
    # what the chart wrote on GKE before: rules[].timeouts beside the GCPBackendPolicy
    refused = gke_gateway.refusal(rest, "default", chart_route(gke={"policies": False}))
    assert "spec.rules[].timeouts is not supported on gke-l7-* GatewayClasses" in (refused or "admitted")
