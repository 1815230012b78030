"""support.metrics_api without a cluster: the paths and bodies the HPA controller's metrics
clients use (k8s.io/metrics@v0.36.4 pkg/client/custom_metrics/versioned_client.go: .../pods/*/<metric>,
external_metrics/client.go: .../namespaces/<ns>/<metric>, the name lower-cased by client-go's
rest/request.go). The same server behind the real aggregator and HPA controller: tests/install/test_autoscaling.py."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from support.metrics_api import MetricsApi, selector_matches

WAITING = "prometheus.googleapis.com|vllm:num_requests_waiting|gauge"


class FakeRest:
    def __init__(self, pods: dict[str, dict[str, str]]):
        self.pods, self.asked = pods, []

    def get(self, path: str) -> dict:
        self.asked.append(path)
        return {"items": [{"metadata": {"name": n, "labels": labels}} for n, labels in self.pods.items()]}


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("", {}, True),
        ("a=1,b=2", {"a": "1", "b": "2", "c": "3"}, True),
        ("a=1,b=2", {"a": "1"}, False),
        ("a==1", {"a": "1"}, True),
        ("a!=1", {"a": "1"}, False),
        ("a in (1,2),b notin (3)", {"a": "2", "b": "4"}, True),
        ("a in (1,2)", {"a": "3"}, False),
        ("a,!b", {"a": "x"}, True),
        ("a,!b", {"a": "x", "b": "y"}, False),
        ("resource.labels.namespace=llm", {"resource.labels.namespace": "llm"}, True),
    ],
)
def test_selector_matches(selector, labels, expected):
    assert selector_matches(selector, labels) is expected


def test_pods_metric_for_the_selected_pods_only():
    api = MetricsApi(FakeRest({"a": {}, "b": {}}))
    api.set_pods("llm", WAITING, {"a": 13, "b": 2.5, "gone": 7})
    code, body = api._answer(
        f"/apis/custom.metrics.k8s.io/v1beta2/namespaces/llm/pods/*/{quote(WAITING)}", {"labelSelector": ["x=y"]}
    )
    assert code == 200
    assert body["apiVersion"] == "custom.metrics.k8s.io/v1beta2"
    assert [(i["describedObject"]["name"], i["value"], i["metric"]["name"]) for i in body["items"]] == [
        ("a", "13", WAITING),
        ("b", "2500m", WAITING),
    ]
    assert api.rest.asked == ["/api/v1/namespaces/llm/pods?labelSelector=x%3Dy"]


def test_an_unknown_metric_is_a_404_as_from_the_adapter():
    api = MetricsApi(FakeRest({}))
    code, body = api._answer(f"/apis/custom.metrics.k8s.io/v1beta2/namespaces/llm/pods/*/{quote(WAITING)}", {})
    assert (code, body["message"]) == (404, f"the server could not find the metric {WAITING} for pods")


def test_external_metric_names_are_case_sensitive_and_series_selected():
    api = MetricsApi(FakeRest({}))
    upper = "prometheus.googleapis.com|DCGM_FI_DEV_GPU_UTIL|gauge"
    api.set_external("llm", upper, [({"pod": "a"}, 90)])
    lower = upper.lower()
    code, _ = api._answer(f"/apis/external.metrics.k8s.io/v1beta1/namespaces/llm/{quote(lower)}", {})
    assert code == 404
    api.set_external("llm", lower, [({"w": "ours"}, 90), ({"w": "theirs"}, 10)])
    code, body = api._answer(
        f"/apis/external.metrics.k8s.io/v1beta1/namespaces/llm/{quote(lower)}", {"labelSelector": ["w=ours"]}
    )
    assert code == 200
    assert [(i["metricLabels"], i["value"]) for i in body["items"]] == [({"w": "ours"}, "90")]
