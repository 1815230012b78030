"""templates/httproute.yaml: the HTTPRoute from a named Gateway to the InferencePool, in the form GKE's Gateway
controller accepts (tests/cluster/test_gke_gateway_admission.py plays it)."""

from __future__ import annotations

import pytest

from paths import REPO
from support import kubeschemas
from support.manifests import of_kind, one, render, render_file
from vllm_serving import helm
from vllm_serving.chart import chart_dir
from vllm_serving.errors import InvalidValues

TWO_MODELS = ("gemma-2-9b-it-lora-gateway.yaml", "llama-3.1-8b-instruct-gateway.yaml")
POOL = {"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": "vllm-vllm-serving"}


def route(**gateway) -> dict:
    return one(render({"gateway": {"enabled": True, **gateway}}, show_only="templates/httproute.yaml"), "HTTPRoute")


class TestHttpRoute:
    def test_off_by_default(self):
        assert of_kind(render({}), "HTTPRoute") == []

    def test_routes_the_openai_api_of_the_gateway_to_the_pool(self):
        r = route(parentRefs=[{"name": "llm-gateway", "namespace": "infra"}], hostnames=["llm.example.com"])
        assert r["apiVersion"] == "gateway.networking.k8s.io/v1"
        assert r["spec"]["parentRefs"] == [{"name": "llm-gateway", "namespace": "infra"}]
        assert r["spec"]["hostnames"] == ["llm.example.com"]
        (rule,) = r["spec"]["rules"]
        # vLLM's unauthenticated /metrics, /docs, /openapi.json, /version and /load stay off the gateway
        assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/v1"}}]
        assert rule["backendRefs"] == [POOL]
        assert "filters" not in rule


class TestTimeout:
    def test_none_on_the_route_where_gke_policies_carry_it(self):
        """GKE's Gateway controller refuses a whole route with rules[].timeouts (Accepted=False, GWCER104);
        the bound is GCPBackendPolicy.timeoutSec."""
        objects = render({"gateway": {"enabled": True, "timeoutSeconds": 600}})
        assert all("timeouts" not in rule for rule in one(objects, "HTTPRoute")["spec"]["rules"])
        assert one(objects, "GCPBackendPolicy")["spec"]["default"]["timeoutSec"] == 600

    def test_on_the_route_outside_gke(self):
        (rule,) = route(timeoutSeconds=600, gke={"policies": False})["spec"]["rules"]
        assert rule["timeouts"] == {"request": "600s"}


class TestPaths:
    def test_a_prefix_is_taken_off_before_vllm(self):
        """/team-a/v1/chat/completions reaches vLLM as /v1/chat/completions."""
        (rule,) = route(pathPrefix="/team-a")["spec"]["rules"]
        assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/team-a/v1"}}]
        assert rule["filters"] == [
            {"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/v1"}}}
        ]

    def test_one_rule_per_path_and_every_path_on_request(self):
        rules = route(pathPrefix="/team-a", paths=["/v1", "/tokenize", "/"])["spec"]["rules"]
        assert [
            (r["matches"][0]["path"]["value"], r["filters"][0]["urlRewrite"]["path"]["replacePrefixMatch"])
            for r in rules
        ] == [
            ("/team-a/v1", "/v1"),
            ("/team-a/tokenize", "/tokenize"),
            ("/team-a", "/"),
        ]
        (everything,) = route(paths=["/"])["spec"]["rules"]
        assert everything["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]

    def test_paths_gateway_api_refuses_are_refused_by_the_schema(self):
        """A trailing or doubled slash, a relative path, a fragment: the HTTPRoute CRD refuses such a match."""
        with pytest.raises(InvalidValues) as refused:
            helm.template(
                chart_dir(), {"gateway": {"enabled": True, "pathPrefix": "/a//b", "paths": ["v1", "/v1#x", "/v1/"]}}
            )
        problems = "\n".join(refused.value.problems)
        for where in ("gateway.pathPrefix", "gateway.paths.0", "gateway.paths.1", "gateway.paths.2"):
            assert where in problems, (where, problems)


class TestBodyBasedRouting:
    def test_each_served_name_and_adapter_is_matched_on_the_routers_header(self):
        values = {
            "model": {"name": "google/gemma-2-9b-it", "servedName": "gemma"},
            "weights": {"source": "huggingface"},
            "lora": {"adapters": [{"name": "gemma-sql", "gcs": "gs://my-adapters/sql"}]},
            "gateway": {"enabled": True, "bodyBasedRouting": True},
        }
        (rule,) = one(render(values, show_only="templates/httproute.yaml"), "HTTPRoute")["spec"]["rules"]
        assert rule["matches"] == [
            {
                "path": {"type": "PathPrefix", "value": "/v1"},
                "headers": [{"type": "Exact", "name": "X-Gateway-Model-Name", "value": name}],
            }
            for name in ("gemma", "gemma-sql")
        ]


# Values the Gateway API v1.4.1 HTTPRoute CRD refuses (config/crd/standard/gateway.networking.k8s.io_httproutes.yaml).
CRD_REFUSES = {
    "hostnames": ["llm_a.example.com", "LLM.example.com", "llm.*.example.com", "llm.example.com:443"],
    "parentRefs": [
        {"name": "gw", "namespace": "infra.prod"},
        {"name": "gw", "sectionName": "HTTPS"},
        {"name": "gw", "port": 0},
        {"name": ""},
    ],
}


def test_what_the_httproute_crd_refuses_the_chart_refuses_before_install():
    """Each value alone is refused by the CRD's schema; Helm refuses each (one render, every problem listed)."""
    for key, values in CRD_REFUSES.items():
        for value in values:
            as_the_crd_sees_it = route()
            as_the_crd_sees_it["spec"][key] = [value]
            assert kubeschemas.problems(as_the_crd_sees_it, "1.35.0"), f"the CRD admits {key}: {value}"
    with pytest.raises(InvalidValues) as refused:
        helm.template(chart_dir(), {"gateway": {"enabled": True, **CRD_REFUSES}})
    problems = "\n".join(refused.value.problems)
    for key, values in CRD_REFUSES.items():
        for i in range(len(values)):
            assert f"gateway.{key}.{i}" in problems, (key, values[i], problems)


def match_keys(r: dict) -> set[tuple]:
    """What Gateway API compares when two routes' matches tie: host, path and header matches."""
    hosts = r["spec"].get("hostnames") or ["*"]
    return {
        (
            host,
            m["path"]["type"],
            m["path"]["value"],
            tuple(sorted((h["name"], h["value"]) for h in m.get("headers", []))),
        )
        for host in hosts
        for rule in r["spec"]["rules"]
        for m in rule["matches"]
    }


def test_the_two_model_example_shares_one_gateway_without_a_tie():
    """values/gemma-2-9b-it-lora-gateway.yaml and values/llama-3.1-8b-instruct-gateway.yaml: one Gateway,
    one path, routed by the model in the body. Identical matches would tie, and the older route would take
    all of the traffic."""
    gemma, llama = (one(render_file(REPO / "values" / name), "HTTPRoute") for name in TWO_MODELS)
    assert gemma["spec"]["parentRefs"] == llama["spec"]["parentRefs"]
    assert {m[2] for m in match_keys(gemma)} == {m[2] for m in match_keys(llama)} == {"/v1"}
    assert match_keys(gemma) and match_keys(llama) and not match_keys(gemma) & match_keys(llama)
    served = {h[1] for m in match_keys(gemma) | match_keys(llama) for h in m[3]}
    assert served == {
        "gemma-2-9b-it",
        "gemma-sql",
        "gemma-support",
        "llama-3.1-8b-instruct",
        "llama-3.1-8b-instruct-fr",
    }
