"""The chart's NetworkPolicy rules (templates/validate/_networkpolicy.tpl) against the real API server: each
peer and CIDR the chart refuses in bad-values/networkpolicy-*.yaml, the API server refuses too (server-side
dry run; strict field validation, so a field it would drop counts as refused), and the peers the chart
accepts, it admits. Every values file's rendered NetworkPolicies are admitted as well."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from paths import CHART, CI_FILES, REPO, VALUES_FILES
from support.manifests import of_kind, render_file
from vllm_serving.cluster.rest import ApiError
from vllm_serving.verdict import chart_verdict

pytestmark = pytest.mark.cluster

COLLECTION = "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies"
BAD = sorted((REPO / "tests" / "chart" / "bad-values").glob("networkpolicy-*.yaml"))
# Peers the chart must accept (and the API server admits): the edges of its rules.
GOOD_PEERS = [
    {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "web"}}},
    {"namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "Exists"}]}},
    {"podSelector": {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["x"]}]}},
    {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "192.168.1.0/24"]}},
    {"ipBlock": {"cidr": "203.0.113.7/32"}},
    {"ipBlock": {"cidr": "2001:db8::/64", "except": ["2001:db8::/80"]}},
]


def policy(peers: list[dict], name: str) -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": peers}]},
    }


@pytest.fixture(scope="module")
def rest(local_cluster):
    client = local_cluster.rest()
    yield client
    client.close()


def admitted(rest, obj: dict) -> str:
    """'' if the API server would create the object, else its refusal."""
    try:
        rest.create(f"{COLLECTION}?dryRun=All&fieldValidation=Strict", obj)
    except ApiError as refused:
        return f"{refused.status}: {refused.body}"
    return ""


def chart_problems(values: dict) -> list[str]:
    return chart_verdict(CHART, values=values).problems


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_what_the_chart_refuses_the_api_server_refuses(rest, path: Path):
    values = yaml.safe_load(path.read_text())
    problems = chart_problems(values)
    np = values["networkPolicy"]
    peers = {f"networkPolicy.{k}[{i}]": peer for k in ("from", "metricsFrom") for i, peer in enumerate(np.get(k, []))}
    cidrs = {"networkPolicy.proxyOnlySubnet": np.get("proxyOnlySubnet") or None}
    cidrs |= {f"networkPolicy.healthCheckRanges[{i}]": c for i, c in enumerate(np.get("healthCheckRanges", []))}
    peers |= {where: {"ipBlock": {"cidr": cidr}} for where, cidr in cidrs.items() if cidr}
    disagree = []
    for n, (where, peer) in enumerate(peers.items()):
        chart = [p for p in problems if p.startswith((f"{where}:", f"{where}."))]
        server = admitted(rest, policy([peer], f"peer-{n}"))
        if bool(chart) != bool(server):
            disagree.append(f"{where} {peer}: chart {chart or 'accepts'}; API server {server or 'admits'}")
    assert disagree == []


def test_what_the_chart_accepts_the_api_server_admits(rest):
    assert chart_problems({"networkPolicy": {"enabled": True, "from": GOOD_PEERS}}) == []
    assert admitted(rest, policy(GOOD_PEERS, "good-peers")) == ""
    rendered = [p for f in (*VALUES_FILES, *CI_FILES) for p in of_kind(render_file(f), "NetworkPolicy")]
    assert rendered
    refused = {p["metadata"]["name"]: admitted(rest, p) for p in rendered}
    assert {name: why for name, why in refused.items() if why} == {}
