"""templates/scaledobject.yaml and triggerauthentication.yaml: KEDA, with scale to zero."""

from __future__ import annotations

import pytest
import yaml

from gmp_series import GMP_RESOURCE, EppScrape, Scrape, deployment_pod
from support import eppflags, promql
from support.manifests import of_kind, one, render
from vllm_serving.errors import InvalidValues

SERVER = "https://monitoring.googleapis.com/v1/projects/my-project/location/global/prometheus"
# A wake-up signal from outside the serving pods: requests counted at the load balancer.
WAKE_UP = {
    "type": "prometheus",
    "metadata": {
        "serverAddress": SERVER,
        "query": "sum(rate(loadbalancing_googleapis_com:https_external_regional_request_count"
        '{forwarding_rule_name="llm"}[1m]))',
        "threshold": "5",
    },
}
KEDA = {
    "autoscaling": {
        "enabled": True,
        "provider": "keda",
        "minReplicas": 0,
        # GMP's endpoint reads the whole project: the queries keep to this cluster's series.
        "clusterName": GMP_RESOURCE["cluster"],
        "keda": {"serverAddress": SERVER, "extraTriggers": [WAKE_UP]},
    }
}


def scaled_object(values: dict) -> dict:
    return one(render(values), "ScaledObject")


class TestScaledObject:
    def test_scales_the_deployment_to_zero_on_queue_depth(self):
        objects = render(KEDA, namespace="llm")
        assert of_kind(objects, "HorizontalPodAutoscaler") == []
        spec = one(objects, "ScaledObject")["spec"]
        assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "vllm-vllm-serving"}
        assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (0, 5)
        assert (
            spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"]
            == 300
        )
        trigger, wake_up = spec["triggers"]
        assert wake_up == WAKE_UP
        assert trigger["type"] == "prometheus"
        assert trigger["metricType"] == "AverageValue"
        assert trigger["metadata"] == {
            # The exact metric name: Google Managed Prometheus refuses {__name__=~...}.
            "query": 'sum(vllm:num_requests_waiting{cluster="prod",namespace="llm",'
            'pod=~"vllm-vllm-serving-[a-z0-9]+(-[a-z0-9]+)?"})',
            "serverAddress": SERVER,
            "threshold": "10",
            "activationThreshold": "0",
        }
        assert "authenticationRef" not in trigger

    def test_concurrency_sums_running_and_waiting(self):
        values = {"autoscaling": {**KEDA["autoscaling"], "metrics": [{"type": "concurrency", "target": 24}]}}
        trigger, _ = scaled_object(values)["spec"]["triggers"]
        pods = 'cluster="prod",namespace="default",pod=~"vllm-vllm-serving-[a-z0-9]+(-[a-z0-9]+)?"'
        assert trigger["metadata"]["query"] == (
            f"sum(vllm:num_requests_running{{{pods}}}) + sum(vllm:num_requests_waiting{{{pods}}})"
        )
        assert trigger["metadata"]["threshold"] == "24"

    def test_gpu_utilization_is_an_average_compared_as_is(self):
        values = {"autoscaling": {**KEDA["autoscaling"], "metrics": [{"type": "gpu-utilization", "target": 85}]}}
        trigger, _ = scaled_object(values)["spec"]["triggers"]
        assert trigger["metricType"] == "Value"
        # The series the chart's ClusterPodMonitoring writes, selected as the HPA selects it.
        assert trigger["metadata"]["query"] == (
            'avg(dcgm_fi_dev_gpu_util{cluster="prod",namespace="default",vllm_serving_workload="vllm-vllm-serving"})'
        )

    def test_workload_identity_authentication(self):
        values = {
            "autoscaling": {
                **KEDA["autoscaling"],
                "keda": {"serverAddress": SERVER, "gcpWorkloadIdentity": True, "extraTriggers": [WAKE_UP]},
            }
        }
        objects = render(values)
        auth = one(objects, "TriggerAuthentication")
        assert auth["spec"] == {"podIdentity": {"provider": "gcp"}}
        trigger, _ = one(objects, "ScaledObject")["spec"]["triggers"]
        assert trigger["authenticationRef"] == {"name": auth["metadata"]["name"]}

    def test_no_trigger_authentication_without_workload_identity(self):
        assert of_kind(render(KEDA), "TriggerAuthentication") == []

    def test_leaderworkerset_queries_select_the_leaders(self):
        values = {**KEDA, "parallelism": {"tensor": 8, "pipeline": 2}, "gke": {"accelerator": "nvidia-h100-80gb"}}
        trigger, _ = scaled_object(values)["spec"]["triggers"]
        assert trigger["metadata"]["query"] == (
            'sum(vllm:num_requests_waiting{cluster="prod",namespace="default",pod=~"vllm-vllm-serving-lws-[0-9]+"})'
        )


class TestScaleToZero:
    """At zero replicas the serving pods' series vanish and KEDA's prometheus scaler reads the empty
    result as 0 (kedacore/keda pkg/scalers/prometheus_scaler.go: ignoreNullValues defaults to true)."""

    MESSAGE = (
        "autoscaling.minReplicas: 0 would never scale back up: every trigger reads series of the serving pods,"
        " which vanish at zero replicas, and KEDA reads the empty result as 0; add a wake-up signal that does"
        " not come from the serving pods (autoscaling.keda.extraTriggers, e.g. requests counted at the load"
        " balancer or a queue's length), or set autoscaling.minReplicas: 1"
    )

    def test_refused_without_a_wake_up_signal(self):
        values = {"autoscaling": {**KEDA["autoscaling"], "keda": {"serverAddress": SERVER}}}
        with pytest.raises(InvalidValues) as refused:
            render(values)
        assert self.MESSAGE in refused.value.problems

    def test_one_replica_needs_none(self):
        values = {"autoscaling": {**KEDA["autoscaling"], "minReplicas": 1, "keda": {"serverAddress": SERVER}}}
        assert scaled_object(values)["spec"]["minReplicaCount"] == 1

    def test_an_extra_trigger_wakes_it_up(self):
        assert scaled_object(KEDA)["spec"]["minReplicaCount"] == 0

    def test_extra_triggers_are_keda_values_only(self):
        values = {"autoscaling": {"enabled": True, "keda": {"extraTriggers": [WAKE_UP]}}}
        with pytest.raises(InvalidValues) as refused:
            render({**values, "monitoring": {"podMonitoring": {"enabled": True}}})
        assert (
            "autoscaling.keda is set but autoscaling.provider is hpa; set autoscaling.provider: keda,"
            " or remove autoscaling.keda"
        ) in refused.value.problems


def queries(values: dict, release: str = "vllm", namespace: str = "llm") -> list[str]:
    """The query of each trigger the chart writes (not the extra ones), in metrics order."""
    spec = one(render(values, release=release, namespace=namespace), "ScaledObject")["spec"]
    return [t["metadata"]["query"] for t in spec["triggers"][: len(values["autoscaling"].get("metrics", [1]))]]


def evaluate(expr: str, series: list[dict], at: float = 30):
    (result,) = promql.run(series, [(expr, at)])
    assert promql.gmp_problems(result) == []
    return promql.value(result)


@pytest.mark.promql
class TestTriggersOnGmpSeries:
    """Each trigger's query through Prometheus's own parser and engine, over series shaped as Google
    Managed Prometheus stores them from the chart's PodMonitoring (gmp_series)."""

    def test_queue_depth_is_the_total_over_this_release_pods(self):
        scrape = Scrape({})
        name = "vllm-vllm-serving"
        series = [
            s
            for waiting in (2, 4, 6)
            for s in scrape.gauges(deployment_pod(name), name, num_requests_waiting=waiting, num_requests_running=9)
        ]
        # Another release in the same namespace, whose name extends ours, and this release's name in
        # another namespace: neither is counted.
        other = Scrape({}, release="vllm-vllm-serving-canary")
        series += other.gauges(
            deployment_pod("vllm-vllm-serving-canary"), "vllm-vllm-serving-canary", num_requests_waiting=100
        )
        series += Scrape({}, namespace="staging").gauges(deployment_pod(name), name, num_requests_waiting=100)
        (query,) = queries(KEDA, namespace="llm")
        assert evaluate(query, series) == 12

    def test_the_same_release_in_another_cluster_of_the_project_is_not_counted(self):
        """GMP's project endpoint holds every cluster's series; only the `cluster` label tells them apart."""
        name = "vllm-vllm-serving"
        here, staging = Scrape({}), Scrape({}, cluster="staging")
        series = here.gauges(deployment_pod(name), name, num_requests_waiting=3)
        series += staging.gauges(deployment_pod(name), name, num_requests_waiting=40)
        (query,) = queries(KEDA, namespace="llm")
        assert evaluate(query, series) == 3
        gateway = EppScrape(GATEWAY_ZERO), EppScrape(GATEWAY_ZERO, cluster="staging")
        held = [gateway[0].queue(1, model="gemma-2-9b-it"), gateway[1].queue(9, model="gemma-2-9b-it")]
        assert evaluate(gateway_trigger(render(GATEWAY_ZERO, namespace="llm"))["metadata"]["query"], held) == 1

    def test_concurrency_is_running_plus_waiting(self):
        scrape = Scrape({})
        name = "vllm-vllm-serving"
        series = scrape.gauges(deployment_pod(name), name, num_requests_running=3, num_requests_waiting=1)
        series += scrape.gauges(deployment_pod(name), name, num_requests_running=5, num_requests_waiting=2)
        values = {"autoscaling": {**KEDA["autoscaling"], "metrics": [{"type": "concurrency", "target": 24}]}}
        (query,) = queries(values)
        assert evaluate(query, series) == 11
        # Two engines (data parallel) in one pod: one series each, both counted.
        pod = deployment_pod(name)
        engines = [
            {"labels": scrape.labels(f"vllm:num_requests_{g}", pod, name, engine=e), "samples": [[0, 1]]}
            for g in ("running", "waiting")
            for e in ("0", "1")
        ]
        assert evaluate(query, series + engines) == 15

    def test_batch_size(self):
        scrape = Scrape({})
        name = "vllm-vllm-serving"
        series = scrape.gauges(deployment_pod(name), name, num_requests_running=7, num_requests_waiting=50)
        values = {"autoscaling": {**KEDA["autoscaling"], "metrics": [{"type": "batch-size", "target": 48}]}}
        assert evaluate(queries(values)[0], series) == 7

    def test_zero_pods_give_an_empty_result(self):
        """What makes a wake-up signal necessary: KEDA reads this empty result as 0."""
        assert evaluate(queries(KEDA)[0], []) is None

    def test_a_53_character_release_name(self):
        """Kubernetes cuts "<deployment>-<hash>-" to 58 characters before the random suffix."""
        release = "r" * 53
        name = f"{release}-vllm-serving"[:55]
        pods = [deployment_pod(name) for _ in range(3)]
        assert all(len(p) == 63 for p in pods)
        scrape = Scrape({}, release=release)
        series = [
            s for w, p in zip((1, 2, 3), pods, strict=True) for s in scrape.gauges(p, name, num_requests_waiting=w)
        ]
        assert evaluate(queries(KEDA, release=release)[0], series) == 6

    def test_leaderworkerset_counts_leaders_only(self):
        values = {**KEDA, "parallelism": {"tensor": 8, "pipeline": 2}, "gke": {"accelerator": "nvidia-h100-80gb"}}
        name = "vllm-vllm-serving-lws"
        scrape = Scrape(values)
        # Leaders are pods of the StatefulSet named after the LeaderWorkerSet; a worker's is NAME-<group>.
        series = scrape.gauges(f"{name}-0", name, "StatefulSet", num_requests_waiting=4)
        series += scrape.gauges(f"{name}-1", name, "StatefulSet", num_requests_waiting=5)
        series += scrape.gauges(f"{name}-1-1", f"{name}-1", "StatefulSet", num_requests_waiting=100)
        assert evaluate(queries(values)[0], series) == 9

    def test_gpu_utilization_averages_this_workload_gpus(self):
        values = {"autoscaling": {**KEDA["autoscaling"], "metrics": [{"type": "gpu-utilization", "target": 85}]}}
        name = "vllm-vllm-serving"
        # As the chart's ClusterPodMonitoring writes it (see test_clusterpodmonitoring for the relabeling).
        series = [
            {
                "labels": {
                    "__name__": "dcgm_fi_dev_gpu_util",
                    **GMP_RESOURCE,
                    "namespace": ns,
                    "pod": deployment_pod(name),
                    "vllm_serving_workload": workload,
                },
                "samples": [[0, util]],
            }
            for ns, workload, util in (("llm", name, 60), ("llm", name, 90), ("llm", "other", 5), ("dev", name, 5))
        ]
        assert evaluate(queries(values)[0], series) == 75


# Scale to zero behind the Inference Gateway: the endpoint picker's flow control holds each request while
# the pool has no pod with room (GIE v1.5.0: the flow controller's dispatch loop finds the pool saturated,
# pkg/epp/flowcontrol/controller/internal/processor.go, and a pool with no pod is saturated,
# pkg/epp/framework/plugins/flowcontrol/saturationdetector/utilization/detector.go), and counts it in
# inference_extension_flow_control_queue_size until it is sent on. Without flow control the picker answers
# 503 at once when the pool has no pod (pkg/epp/requestcontrol/director.go) and counts no request
# (inference_objective_request_total is only recorded for requests it routed, pkg/epp/handlers/server.go).
GATEWAY_ZERO = {
    "gateway": {"enabled": True, "endpointPicker": {"flowControl": True}},
    "monitoring": {"podMonitoring": {"enabled": True}},
    "autoscaling": {
        "enabled": True,
        "provider": "keda",
        "minReplicas": 0,
        "clusterName": GMP_RESOURCE["cluster"],
        "keda": {"serverAddress": SERVER},
    },
}


def gateway_trigger(objects: list[dict]) -> dict:
    (trigger,) = [
        t
        for t in one(objects, "ScaledObject")["spec"]["triggers"]
        if "inference_extension_flow_control_queue_size" in t["metadata"]["query"]
    ]
    return trigger


def with_autoscaling(**changes) -> dict:
    return {**GATEWAY_ZERO, "autoscaling": {**GATEWAY_ZERO["autoscaling"], **changes}}


class TestGatewayWakeUp:
    def test_the_pickers_queue_for_this_pool_wakes_it(self):
        objects = render(GATEWAY_ZERO, namespace="llm")
        pool = one(objects, "InferencePool")["metadata"]["name"]
        trigger = gateway_trigger(objects)
        assert trigger == {
            "type": "prometheus",
            "metricType": "AverageValue",
            "metadata": {
                "query": "sum(inference_extension_flow_control_queue_size"
                f'{{cluster="prod",namespace="llm",inference_pool="{pool}"}})',
                "serverAddress": SERVER,
                "threshold": "5",
                "activationThreshold": "0",
            },
        }
        assert one(objects, "ScaledObject")["spec"]["minReplicaCount"] == 0

    def test_the_picker_holds_requests_and_is_scraped(self):
        objects = render(GATEWAY_ZERO)
        config = yaml.safe_load(
            next(o for o in of_kind(objects, "ConfigMap") if o["metadata"]["name"].endswith("-epp"))["data"][
                "config.yaml"
            ]
        )
        assert config["featureGates"] == ["flowControl"]
        monitors = [o["metadata"]["name"] for o in of_kind(objects, "PodMonitoring")]
        assert monitors == ["vllm-vllm-serving", "vllm-vllm-serving-epp"]

    def test_target_and_workload_identity(self):
        keda = {"serverAddress": SERVER, "gatewayQueueTarget": 2.5, "gcpWorkloadIdentity": True}
        objects = render(with_autoscaling(keda=keda))
        trigger = gateway_trigger(objects)
        assert trigger["metadata"]["threshold"] == "2.5"
        assert trigger["authenticationRef"] == {"name": one(objects, "TriggerAuthentication")["metadata"]["name"]}

    @pytest.mark.parametrize(
        "values",
        [
            with_autoscaling(minReplicas=1),
            {**GATEWAY_ZERO, "gateway": {"enabled": True}, "autoscaling": {**KEDA["autoscaling"]}},
        ],
        ids=["one replica", "flow control off, an extra trigger"],
    )
    def test_only_when_scaling_to_zero_through_the_picker(self, values):
        triggers = one(render(values), "ScaledObject")["spec"]["triggers"]
        assert not [t for t in triggers if "inference_extension" in t["metadata"]["query"]]

    def test_a_scrape_of_the_picker_is_needed(self):
        """The refusals' messages are asserted through helm and validate in bad-values/
        (autoscaling-scale-to-zero-gateway-*.yaml)."""
        unscraped = {**GATEWAY_ZERO, "monitoring": {"podMonitoring": {"enabled": False}}}
        with pytest.raises(InvalidValues) as refused:
            render(unscraped)
        assert [p.split(":")[0] for p in refused.value.problems] == ["gateway.endpointPicker.flowControl"]
        assert gateway_trigger(render({**unscraped, "monitoring": {"serviceMonitor": {"enabled": True}}}))


def keda_active(value, activation: float) -> bool:
    """KEDA's prometheus scaler: an empty result reads as 0 (ignoreNullValues, the default), and the
    scaler is active when the value exceeds activationThreshold (pkg/scalers/prometheus_scaler.go)."""
    return (value or 0) > activation


@pytest.mark.promql
class TestGatewayWakeUpOnGmpSeries:
    """The wake-up query through Prometheus's own engine, over the picker's gauge as GMP stores it from the
    chart's PodMonitoring of the picker (gmp_series.EppScrape)."""

    def test_the_first_held_request_activates(self):
        scrape = EppScrape(GATEWAY_ZERO)
        trigger = gateway_trigger(render(GATEWAY_ZERO, namespace="llm"))
        query, activation = trigger["metadata"]["query"], float(trigger["metadata"]["activationThreshold"])
        # A picker that has held nothing yet exports no series: KEDA reads 0 and the workload stays at 0.
        assert not keda_active(evaluate(query, []), activation)
        # A series left at 0 after earlier requests were sent on: still asleep.
        assert not keda_active(evaluate(query, [scrape.queue(0, model="gemma-2-9b-it")]), activation)
        # One request held: awake.
        held = [scrape.queue(1, model="gemma-2-9b-it")]
        assert evaluate(query, held) == 1
        assert keda_active(evaluate(query, held), activation)

    def test_every_flow_of_this_pool_counts_and_nothing_else(self):
        scrape = EppScrape(GATEWAY_ZERO)
        series = [
            scrape.queue(3, model="gemma-2-9b-it"),
            scrape.queue(2, model="gemma-sql"),
            # A rewrite to an adapter is one more flow of the same pool.
            scrape.queue(1, model="sql", target="gemma-sql"),
        ]
        # Another release's picker in the same namespace, whose pool name extends ours, and this release's
        # pool in another namespace.
        series.append(EppScrape(GATEWAY_ZERO, release="vllm-vllm-serving-canary").queue(50, model="gemma-2-9b-it"))
        series.append(EppScrape(GATEWAY_ZERO, namespace="staging").queue(50, model="gemma-2-9b-it"))
        query = gateway_trigger(render(GATEWAY_ZERO, namespace="llm"))["metadata"]["query"]
        assert evaluate(query, series) == 6

    def test_a_53_character_release_name(self):
        release = "r" * 53
        scrape = EppScrape(GATEWAY_ZERO, release=release)
        query = gateway_trigger(render(GATEWAY_ZERO, release=release, namespace="llm"))["metadata"]["query"]
        assert evaluate(query, [scrape.queue(2, model="gemma-2-9b-it")]) == 2


def picker_config_and_args(objects: list[dict]) -> tuple[str, list[str]]:
    config = next(c for c in of_kind(objects, "ConfigMap") if c["metadata"]["name"].endswith("-epp"))
    picker = next(d for d in of_kind(objects, "Deployment") if d["metadata"]["name"].endswith("-epp"))
    return config["data"]["config.yaml"], picker["spec"]["template"]["spec"]["containers"][0]["args"]


@pytest.mark.epp_flags
@pytest.mark.promql
class TestThePickerAtZeroPods:
    """The picker's own request path at the pinned release (support.eppflags.hold: the Director with
    the endpoint candidates, admission control, scheduler and parser that cmd/epp's runner wires from the
    rendered argv and config) for a request to the release's pool while it has no pod."""

    def test_with_flow_control_it_holds_the_request_and_the_trigger_wakes_up(self):
        objects = render(GATEWAY_ZERO, namespace="llm")
        config, args = picker_config_and_args(objects)
        pool = args[args.index("--pool-name") + 1]
        verdict = eppflags.hold(config, args, model="gemma-2-9b-it", wait_ms=1000, peek_ms=300)
        # Held until the gateway gave up, then answered 503.
        assert verdict.held_ms >= 1000
        assert (verdict.code, verdict.message) == (
            "ServiceUnavailable",
            "request timed out in queue: request evicted from queue: request TTL expired",
        )
        # What the picker exposed while it held the request, as GMP stores it from the chart's scrape.
        scrape = EppScrape(GATEWAY_ZERO)
        (exposed,) = [s for s in verdict.while_held if s["labels"]["__name__"] == EppScrape.QUEUE]
        assert exposed["labels"] == {
            "__name__": "inference_extension_flow_control_queue_size",
            "fairness_id": "default-flow",
            "priority": "0",
            "inference_pool": pool,
            "model_name": "gemma-2-9b-it",
            "target_model_name": "gemma-2-9b-it",
        }
        # The hand-made series of the tests above carry the same labels.
        assert exposed["labels"].items() <= scrape.queue(1, model="gemma-2-9b-it")["labels"].items()
        trigger = gateway_trigger(objects)
        value = evaluate(trigger["metadata"]["query"], [scrape.scraped(exposed)])
        assert value == 1
        assert keda_active(value, float(trigger["metadata"]["activationThreshold"]))

    def test_a_request_held_at_an_empty_pool_goes_to_the_first_pod_that_joins(self):
        """The gateway's endpoint-subset hint is empty for a request that arrived while the pool had no
        endpoint; the chart's --disable-endpoint-subset-filter lets the picker send it to the pod that
        joins later (GIE #2117)."""
        config, args = picker_config_and_args(render(GATEWAY_ZERO))
        verdict = eppflags.hold(
            config, args, model="gemma-2-9b-it", wait_ms=5000, peek_ms=5000, pod_after_ms=500, empty_subset=True
        )
        assert (verdict.code, verdict.message, verdict.endpoint) == ("", "", "10.0.0.7:8000")
        assert 500 <= verdict.held_ms < 5000

    def test_without_the_subset_flag_that_request_fails_when_the_pod_joins(self):
        """v1.5.0 releases the request once the pool has room, then picks from the endpoints the stale
        hint allows: none."""
        config, args = picker_config_and_args(render(GATEWAY_ZERO))
        args.remove("--disable-endpoint-subset-filter")
        verdict = eppflags.hold(
            config, args, model="gemma-2-9b-it", wait_ms=1500, peek_ms=1500, pod_after_ms=300, empty_subset=True
        )
        assert (verdict.code, verdict.message, verdict.endpoint) == (
            "ServiceUnavailable",
            "failed to find endpoint candidates for serving the request",
            "",
        )
        assert 300 <= verdict.held_ms < 1500

    def test_without_flow_control_it_answers_503_at_once(self):
        config, args = picker_config_and_args(render({"gateway": {"enabled": True}}))
        assert "--disable-endpoint-subset-filter" not in args
        verdict = eppflags.hold(config, args, model="gemma-2-9b-it", wait_ms=1000, peek_ms=300)
        assert verdict.held_ms < 300
        assert (verdict.code, verdict.message) == (
            "ServiceUnavailable",
            "failed to find endpoint candidates for serving the request",
        )


# The Cloud Monitoring request counts of the load balancers the Inference Gateway's classes make, as
# Google Managed Prometheus names them (https://cloud.google.com/load-balancing/docs/metrics: https/ is the
# global external and classic load balancer, https/external/regional the regional external one, https/internal
# the internal ones).
REGIONAL_LB_REQUESTS = {
    "gke-l7-regional-external-managed": "loadbalancing_googleapis_com:https_external_regional_request_count",
    "gke-l7-rilb": "loadbalancing_googleapis_com:https_internal_request_count",
}


def test_the_wake_up_example_counts_the_requests_of_the_gateways_load_balancer():
    """ci/keda-values.yaml: an example trigger that reads the global load balancer's metric reads an empty
    vector (0) behind a regional Gateway and never wakes a release at zero replicas."""
    from paths import CHART

    values = yaml.safe_load((CHART / "ci" / "keda-values.yaml").read_text())
    (trigger,) = values["autoscaling"]["keda"]["extraTriggers"]
    name = REGIONAL_LB_REQUESTS["gke-l7-regional-external-managed"]
    requests = [
        promql.series(
            # GMP labels a Cloud Monitoring series with its monitored resource type
            {"__name__": name, "monitored_resource": "http_external_regional_lb_rule", "forwarding_rule_name": "llm"},
            *((t, 2.0 * t) for t in range(0, 121, 15)),
        )
    ]
    (result,) = promql.run(requests, [(trigger["metadata"]["query"], 120)])
    assert promql.gmp_problems(result) == []
    assert (promql.value(result) or 0) > float(trigger["metadata"]["activationThreshold"])
