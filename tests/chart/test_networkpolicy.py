"""templates/networkpolicy.yaml: who may reach the release's pods.

The CNI (GKE Dataplane V2) is the consumer; with no CNI in the local cluster, the policies are evaluated
here by the rules of https://kubernetes.io/docs/concepts/services-networking/network-policies/ (a pod
selected by an Ingress policy admits a connection that some rule's `from` peer and `ports` both match;
peers in one list are ORed; a peer with only podSelector means the policy's own namespace).
"""

from __future__ import annotations

import ipaddress

import pytest

from support.manifests import of_kind, render
from vllm_serving.errors import InvalidValues

NS = "default"
RELEASE = {"app.kubernetes.io/name": "vllm-serving", "app.kubernetes.io/instance": "vllm"}
VALUES = {
    "gateway": {"enabled": True},
    "networkPolicy": {
        "enabled": True,
        "proxyOnlySubnet": "10.129.0.0/23",
        "from": [{"namespaceSelector": {"matchLabels": {"team": "apps"}}}],
    },
    "monitoring": {"podMonitoring": {"enabled": True}},
}


def selects(selector: dict, labels: dict) -> bool:
    if not all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for e in selector.get("matchExpressions", []):
        assert e["operator"] == "In", e
        if labels.get(e["key"]) not in e["values"]:
            return False
    return True


def peer_admits(peer: dict, source: dict) -> bool:
    if "ipBlock" in peer:
        return "ip" in source and ipaddress.ip_address(source["ip"]) in ipaddress.ip_network(peer["ipBlock"]["cidr"])
    if "ip" in source:
        return False
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": source["ns"], **source["ns_labels"]}):
            return False
    elif source["ns"] != NS:
        return False
    return "podSelector" not in peer or selects(peer["podSelector"], source["labels"])


def reaches(policies: list[dict], target: dict, port: int, source: dict) -> bool:
    selecting = [p for p in policies if selects(p["spec"]["podSelector"], target)]
    assert selecting, f"no policy selects {target}"
    return any(
        any(peer_admits(peer, source) for peer in rule.get("from", []))
        and (not rule.get("ports") or any(p["port"] == port for p in rule["ports"]))
        for policy in selecting
        for rule in policy["spec"]["ingress"]
    )


def pod(component: str, ns: str = NS, ns_labels: dict | None = None, **labels: str) -> dict:
    return {
        "ns": ns,
        "ns_labels": ns_labels or {},
        "labels": {**RELEASE, "app.kubernetes.io/component": component, **labels},
    }


SERVER = {**RELEASE, "app.kubernetes.io/component": "server"}
PICKER = {**RELEASE, "app.kubernetes.io/component": "endpoint-picker"}
STRANGER = {"ns": NS, "ns_labels": {}, "labels": {"app": "curious"}}


class TestNetworkPolicy:
    def test_off_by_default(self):
        assert of_kind(render({}), "NetworkPolicy") == []

    def test_serving_port_admits_the_releases_own_clients_only(self):
        policies = of_kind(render(VALUES), "NetworkPolicy")
        for source in (pod("chat-ui"), pod("test"), pod("endpoint-picker")):
            assert reaches(policies, SERVER, 8000, source), source
        assert reaches(policies, SERVER, 8000, {"ip": "10.129.1.7"})  # the gateway's proxies
        assert reaches(policies, SERVER, 8000, {"ip": "35.191.3.4"})  # GKE's health checks
        assert reaches(policies, SERVER, 8000, {"ns": "gmp-system", "ns_labels": {}, "labels": {"app": "collector"}})
        assert reaches(policies, SERVER, 8000, {"ns": "web", "ns_labels": {"team": "apps"}, "labels": {}})
        assert not reaches(policies, SERVER, 8000, STRANGER)
        assert not reaches(policies, SERVER, 8000, {"ns": "web", "ns_labels": {"team": "other"}, "labels": {}})
        assert not reaches(policies, SERVER, 8000, {"ip": "10.0.0.5"})
        assert not reaches(policies, SERVER, 22, pod("chat-ui"))
        # Another release's chat UI is not this release's.
        assert not reaches(policies, SERVER, 8000, pod("chat-ui", **{"app.kubernetes.io/instance": "other"}))

    def test_picker_takes_ext_proc_from_the_proxies_and_scrapes_from_gmp(self):
        policies = of_kind(render(VALUES), "NetworkPolicy")
        assert reaches(policies, PICKER, 9002, {"ip": "10.129.0.9"})
        assert not reaches(policies, PICKER, 9002, STRANGER)
        assert reaches(policies, PICKER, 9090, {"ns": "gmp-system", "ns_labels": {}, "labels": {}})
        assert not reaches(policies, PICKER, 9090, STRANGER)

    def test_multinode_group_talks_on_every_port(self):
        policies = of_kind(render({**VALUES, "parallelism": {"pipeline": 2}}), "NetworkPolicy")
        worker = {**RELEASE, "app.kubernetes.io/component": "worker"}
        assert reaches(policies, SERVER, 29500, pod("worker"))
        assert reaches(policies, worker, 29500, pod("server"))
        assert not reaches(policies, worker, 29500, STRANGER)

    def test_autopilot_collectors_live_in_gke_gmp_system(self):
        policies = of_kind(render({**VALUES, "gke": {"mode": "autopilot"}}), "NetworkPolicy")
        assert reaches(policies, SERVER, 8000, {"ns": "gke-gmp-system", "ns_labels": {}, "labels": {}})

    def test_gateway_without_the_proxy_subnet_is_refused(self):
        with pytest.raises(InvalidValues) as refused:
            render({"gateway": {"enabled": True}, "networkPolicy": {"enabled": True}})
        assert (
            "networkPolicy.proxyOnlySubnet: the gateway's proxies reach the pods from the region's proxy-only subnet"
            in ("\n".join(refused.value.problems))
        )
