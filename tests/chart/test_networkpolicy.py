"""templates/networkpolicy.yaml: who may reach the release's pods.

The consumer is the cluster's network plugin (GKE Dataplane V2); with none in the local cluster, a real
evaluator plays it: cyclonus's policy matcher, built from its Go module (tests/support/netpol.py). For every
values file that renders a NetworkPolicy, a table of flows derived from the rendered objects themselves
(pod labels and ports from the workloads, scrape targets from the PodMonitorings, the gateway's targets from
the InferencePool) is evaluated in one run: what GKE and the chart's own parts need must be admitted, and
everything else must stay closed.

Sources outside the cluster, as GKE documents them:
- health checks come from 35.191.0.0/16 and 130.211.0.0/22
  (https://cloud.google.com/load-balancing/docs/health-check-concepts#ip-ranges); GKE's Gateway controller
  health-checks the endpoint picker over gRPC on 9003 (llm-d/llm-d-router PR #1607; GKE "Deploy GKE
  Inference Gateway"), and the model servers as the pool's HealthCheckPolicy says;
- the gateway's Envoy proxies connect from the region's proxy-only subnet
  (https://cloud.google.com/load-balancing/docs/proxy-only-subnets), to the picker's ext-proc port and to
  the pool's target port;
- Google Managed Prometheus collectors run in gmp-system, on Autopilot in gke-gmp-system
  (https://cloud.google.com/stackdriver/docs/managed-prometheus/setup-managed).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from paths import CI_FILES, VALUES_FILES
from support import netpol
from support.manifests import of_kind, render, render_file
from vllm_serving.errors import InvalidValues

NS = "default"  # where render_file's release lives
HEALTH_CHECKS = ("35.191.0.1", "130.211.3.254")  # one address in each of Google's health-check ranges
GKE_EPP_HEALTH_PORT = 9003  # GKE health-checks the endpoint picker over gRPC here (llm-d-router PR #1607)
INTERNET = "8.8.8.8"
STRANGER = {"app": "curious"}
GROUP_PORTS = (29500, 45678)  # torch.distributed's rendezvous and an NCCL socket: any port between group pods

pytestmark = pytest.mark.netpol


def pod_templates(objects: list[dict]) -> Iterator[dict]:
    """The pod templates of the rendered workloads (LeaderWorkerSets hold two)."""
    for o in objects:
        spec = o.get("spec", {})
        if o["kind"] in ("Deployment", "StatefulSet", "Job"):
            yield spec["template"]
        elif o["kind"] == "Pod":
            yield o
        elif o["kind"] == "LeaderWorkerSet":
            lwt = spec["leaderWorkerTemplate"]
            yield from (lwt[k] for k in ("leaderTemplate", "workerTemplate") if k in lwt)


def pods(objects: list[dict]) -> dict[str, dict]:
    """component -> {"labels", "ports" (name -> number)} of each kind of pod the release runs."""
    out = {}
    for template in pod_templates(objects):
        labels = template["metadata"]["labels"]
        ports = {
            p.get("name", str(p["containerPort"])): p["containerPort"]
            for c in template["spec"]["containers"]
            for p in c.get("ports", [])
        }
        out[labels["app.kubernetes.io/component"]] = {"labels": labels, "ports": ports}
    return out


def selected(selector: dict, all_pods: dict[str, dict]) -> list[dict]:
    return [p for p in all_pods.values() if selector.items() <= p["labels"].items()]


def one_ip(cidr: str) -> str:
    return str(ipaddress.ip_network(cidr)[5])


def gke_flows(objects: list[dict], values: dict) -> list[netpol.Flow]:
    """The flows a release needs on GKE (allowed) and a sample of those that must stay closed."""
    all_pods = pods(objects)
    server = all_pods["server"]
    dest = {name: netpol.pod(NS, p["labels"]) for name, p in all_pods.items()}
    api_port = server["ports"]["http"]
    flows = []

    def need(why, source, component, port):
        flows.append(netpol.Flow(why, source, dest[component], port, allowed=True))

    def closed(why, source, component, port):
        flows.append(netpol.Flow(why, source, dest[component], port, allowed=False))

    stranger_elsewhere = netpol.pod("elsewhere", STRANGER)
    stranger_here = netpol.pod(NS, STRANGER)
    for source, where in ((stranger_elsewhere, "another namespace"), (stranger_here, "this namespace")):
        closed(f"an unrelated pod in {where} -> vLLM", source, "server", api_port)
    closed("the internet -> vLLM", netpol.host(INTERNET), "server", api_port)
    other_release = {**all_pods["test"]["labels"], "app.kubernetes.io/instance": "other"}
    closed("another release's test pod -> vLLM", netpol.pod(NS, other_release), "server", api_port)

    need("the helm test pod -> vLLM", netpol.pod(NS, all_pods["test"]["labels"]), "server", api_port)
    if "chat-ui" in all_pods:
        need("the chat UI -> vLLM", netpol.pod(NS, all_pods["chat-ui"]["labels"]), "server", api_port)

    # The sources the user lists in networkPolicy.from reach the API port, and nothing else.
    user_peers = values.get("networkPolicy", {}).get("from", [])
    for i, peer in enumerate(user_peers):
        ns_labels = peer.get("namespaceSelector", {}).get("matchLabels", {})
        source = netpol.pod(f"user-{i}", peer.get("podSelector", {}).get("matchLabels", {}), ns_labels)
        need("a networkPolicy.from peer -> vLLM", source, "server", api_port)
        if "endpoint-picker" in all_pods:
            closed("a networkPolicy.from peer -> the picker", source, "endpoint-picker", GKE_EPP_HEALTH_PORT)
        if ns_labels:
            wrong = netpol.pod(f"other-{i}", {}, {k: f"not-{v}" for k, v in ns_labels.items()})
            closed("a namespace unlike the networkPolicy.from peer -> vLLM", wrong, "server", api_port)

    # Google Managed Prometheus scrapes what the PodMonitorings name, and nothing else.
    gmp = "gke-gmp-system" if values.get("gke", {}).get("mode") == "autopilot" else "gmp-system"
    collector = netpol.pod(gmp, {"app.kubernetes.io/name": "collector"})
    for monitor in of_kind(objects, "PodMonitoring") + of_kind(objects, "ClusterPodMonitoring"):
        for target in selected(monitor["spec"]["selector"]["matchLabels"], all_pods):
            component = target["labels"]["app.kubernetes.io/component"]
            for endpoint in monitor["spec"]["endpoints"]:
                port = endpoint["port"]
                port = target["ports"][port] if isinstance(port, str) else port
                need(f"GMP ({gmp}) -> {component} metrics", collector, component, port)
    if of_kind(objects, "PodMonitoring"):
        closed("GMP -> a port other than the metrics port", collector, "server", GROUP_PORTS[0])

    if "worker" in all_pods:  # a multi-node group: its pods talk on every port
        leader, worker = (netpol.pod(NS, all_pods[c]["labels"]) for c in ("server", "worker"))
        for port in (api_port, *GROUP_PORTS):
            need("leader -> worker", leader, "worker", port)
            need("worker -> leader", worker, "server", port)
        closed("an unrelated pod -> a worker", stranger_here, "worker", GROUP_PORTS[0])
    else:
        closed("the test pod -> another port of vLLM", netpol.pod(NS, all_pods["test"]["labels"]), "server", 22)

    for pool in of_kind(objects, "InferencePool"):  # the Inference Gateway
        picker = all_pods["endpoint-picker"]
        ref = pool["spec"]["endpointPickerRef"]
        (service,) = [s for s in of_kind(objects, "Service") if s["metadata"]["name"] == ref["name"]]
        (svc_port,) = [p for p in service["spec"]["ports"] if p["port"] == ref["port"]["number"]]
        target = svc_port.get("targetPort", svc_port["port"])
        ext_proc = picker["ports"][target] if isinstance(target, str) else target
        proxy = netpol.host(one_ip(values["networkPolicy"]["proxyOnlySubnet"]))
        need("the gateway's proxies -> the picker's ext-proc", proxy, "endpoint-picker", ext_proc)
        for ip in HEALTH_CHECKS:
            need(
                f"GKE health checks ({ip}) -> the picker's gRPC health",
                netpol.host(ip),
                "endpoint-picker",
                GKE_EPP_HEALTH_PORT,
            )
        for hc in of_kind(objects, "HealthCheckPolicy"):
            port = hc["spec"]["default"]["config"]["httpHealthCheck"]["port"]
            for ip in HEALTH_CHECKS:
                need(f"GKE health checks ({ip}) -> vLLM", netpol.host(ip), "server", port)
        for target_port in pool["spec"]["targetPorts"]:
            need("the gateway's proxies -> vLLM", proxy, "server", target_port["number"])
            need("the picker -> vLLM (metrics)", dest["endpoint-picker"], "server", target_port["number"])
        for port in picker["ports"].values():
            closed("an unrelated pod in another namespace -> the picker", stranger_elsewhere, "endpoint-picker", port)
            closed("the internet -> the picker", netpol.host(INTERNET), "endpoint-picker", port)
        closed("GMP -> the picker's ext-proc", collector, "endpoint-picker", ext_proc)
        closed("the gateway's proxies -> the picker's metrics", proxy, "endpoint-picker", picker["ports"]["metrics"])
    return flows


def with_namespace(policies: list[dict]) -> list[dict]:
    for p in policies:
        p["metadata"].setdefault("namespace", NS)
    return policies


# Chosen by their values, so that collecting this module renders nothing; the first test checks that these
# are exactly the files whose render holds a NetworkPolicy.
ALL_FILES = (*VALUES_FILES, *CI_FILES)
FILES = [f for f in ALL_FILES if (yaml.safe_load(f.read_text()) or {}).get("networkPolicy", {}).get("enabled")]


@pytest.fixture(scope="module")
def verdicts() -> dict[Path, list[tuple[netpol.Flow, dict]]]:
    """Every file's flows through the evaluator, in one run."""
    cases = []
    for f in FILES:
        objects = render_file(f)
        flows = gke_flows(objects, yaml.safe_load(f.read_text()))
        cases.append((with_namespace(of_kind(objects, "NetworkPolicy")), flows))
    results = netpol.evaluate(cases)
    return {f: list(zip(flows, r, strict=True)) for f, (_, flows), r in zip(FILES, cases, results, strict=True)}


def test_the_flow_table_covers_the_gateway_a_group_autopilot_and_the_chat_ui():
    """The flow table runs where it matters: the gateway (gemma-2-9b-it-lora-gateway.yaml), a multi-node
    group behind it (gateway-values.yaml), Autopilot's collectors and the chat UI (autopilot-gcsfuse-values.yaml)."""
    assert [f for f in ALL_FILES if of_kind(render_file(f), "NetworkPolicy")] == FILES
    names = {f.name for f in FILES}
    assert {"gemma-2-9b-it-lora-gateway.yaml", "gateway-values.yaml", "autopilot-gcsfuse-values.yaml"} <= names


@pytest.mark.parametrize("path", FILES, ids=lambda f: f.name)
def test_flows_gke_needs_are_admitted_and_others_stay_closed(verdicts, path):
    wrong = [
        f"{flow.why} (port {flow.port}): {'denied' if flow.allowed else 'admitted'}"
        f" (allowing {verdict['allowing']}, denying {verdict['denying']})"
        for flow, verdict in verdicts[path]
        if verdict["allowed"] != flow.allowed
    ]
    assert wrong == []
    # Every destination is isolated: some policy selects it, so an admitted flow was admitted by a rule.
    assert all(v["allowing"] or v["denying"] for _, v in verdicts[path])


class TestNetworkPolicy:
    def test_off_by_default(self):
        assert of_kind(render({}), "NetworkPolicy") == []

    def test_gateway_without_the_proxy_subnet_is_refused(self):
        with pytest.raises(InvalidValues) as refused:
            render({"gateway": {"enabled": True}, "networkPolicy": {"enabled": True}})
        assert (
            "networkPolicy.proxyOnlySubnet: the gateway's proxies reach the pods from the region's proxy-only subnet"
            in ("\n".join(refused.value.problems))
        )
