"""APIs the release's objects need beyond core Kubernetes: the CRDs of the enabled features, the
LeaderWorkerSet controller, and the custom and external metrics APIs the HPA reads."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from vllm_serving.preflight.core import FAIL, PASS, WARN, Context, Result, listing

CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
APISERVICE_PATH = "/apis/apiregistration.k8s.io/v1/apiservices"
LWS_GROUP = "leaderworkerset.x-k8s.io"
STACKDRIVER_ADAPTER = (
    "the custom-metrics Stackdriver adapter (kubectl apply -f https://raw.githubusercontent.com/GoogleCloudPlatform/"
    "k8s-stackdriver/master/custom-metrics-stackdriver-adapter/deploy/production/adapter_new_resource_model.yaml,"
    " then grant its Kubernetes service account custom-metrics/custom-metrics-stackdriver-adapter"
    " roles/monitoring.viewer through Workload Identity)"
)


@dataclass(frozen=True)
class Crd:
    name: str
    feature: str  # the value that asks for it
    install: str
    turn_off: str


_KEDA = "install KEDA (helm install keda kedacore/keda --namespace keda --create-namespace)"
CRDS: dict[tuple[str, str], Crd] = {
    ("monitoring.googleapis.com", "PodMonitoring"): Crd(
        "podmonitorings.monitoring.googleapis.com",
        "monitoring.podMonitoring.enabled",
        "enable Google Cloud Managed Service for Prometheus (gcloud container clusters update CLUSTER --location"
        " LOCATION --enable-managed-prometheus)",
        "set monitoring.podMonitoring.enabled: false",
    ),
    ("monitoring.coreos.com", "ServiceMonitor"): Crd(
        "servicemonitors.monitoring.coreos.com",
        "monitoring.serviceMonitor.enabled",
        "install the Prometheus Operator (e.g. helm install kube-prometheus-stack"
        " prometheus-community/kube-prometheus-stack)",
        "set monitoring.serviceMonitor.enabled: false",
    ),
    (LWS_GROUP, "LeaderWorkerSet"): Crd(
        "leaderworkersets.leaderworkerset.x-k8s.io",
        "parallelism.pipeline > 1",
        "install LeaderWorkerSet (kubectl apply --server-side -f"
        " https://github.com/kubernetes-sigs/lws/releases/download/VERSION/manifests.yaml)",
        "set parallelism.pipeline: 1 to serve from one node",
    ),
    ("inference.networking.k8s.io", "InferencePool"): Crd(
        "inferencepools.inference.networking.k8s.io",
        "gateway.enabled",
        "use GKE 1.34.0-gke.1626000 or later, which installs the Inference Extension CRDs itself, or install the"
        " Gateway API Inference Extension v1.5.0 CRDs (kubectl apply -f https://github.com/kubernetes-sigs/"
        "gateway-api-inference-extension/releases/download/v1.5.0/manifests.yaml)",
        "set gateway.enabled: false and use the Service",
    ),
    ("inference.networking.x-k8s.io", "InferenceObjective"): Crd(
        "inferenceobjectives.inference.networking.x-k8s.io",
        "gateway.objectives",
        "use GKE 1.34.0-gke.1626000 or later, which installs the Inference Extension CRDs itself, or install the"
        " Gateway API Inference Extension v1.5.0 CRDs (kubectl apply -f https://github.com/kubernetes-sigs/"
        "gateway-api-inference-extension/releases/download/v1.5.0/manifests.yaml)",
        "set gateway.objectives: []",
    ),
    ("gateway.networking.k8s.io", "HTTPRoute"): Crd(
        "httproutes.gateway.networking.k8s.io",
        "gateway.enabled",
        "enable the Gateway API on the cluster (gcloud container clusters update CLUSTER --location LOCATION"
        " --gateway-api=standard)",
        "set gateway.enabled: false and use the Service",
    ),
    ("networking.gke.io", "HealthCheckPolicy"): Crd(
        "healthcheckpolicies.networking.gke.io",
        "gateway.gke.policies",
        "enable the Gateway API on the GKE cluster (gcloud container clusters update CLUSTER --location LOCATION"
        " --gateway-api=standard), which installs GKE's policy CRDs",
        "set gateway.gke.policies: false outside GKE",
    ),
    ("networking.gke.io", "GCPBackendPolicy"): Crd(
        "gcpbackendpolicies.networking.gke.io",
        "gateway.gke.policies",
        "enable the Gateway API on the GKE cluster (gcloud container clusters update CLUSTER --location LOCATION"
        " --gateway-api=standard), which installs GKE's policy CRDs",
        "set gateway.gke.policies: false outside GKE",
    ),
    ("keda.sh", "ScaledObject"): Crd(
        "scaledobjects.keda.sh", "autoscaling.provider: keda", _KEDA, "set autoscaling.provider: hpa"
    ),
    ("cloud.google.com", "ComputeClass"): Crd(
        "computeclasses.cloud.google.com",
        "gke.computeClass.create",
        "use a GKE cluster at 1.30.3-gke.1451000 or later, where GKE serves ComputeClass",
        "set gke.computeClass.create: false and name an existing class",
    ),
    ("autoscaling.x-k8s.io", "ProvisioningRequest"): Crd(
        "provisioningrequests.autoscaling.x-k8s.io",
        "batch.provisioning: queuedProvisioning",
        "use a GKE cluster with queued provisioning (1.28.3-gke.1098000 or later)",
        "set batch.provisioning: flexStart or onDemand",
    ),
    ("keda.sh", "TriggerAuthentication"): Crd(
        "triggerauthentications.keda.sh",
        "autoscaling.keda.gcpWorkloadIdentity",
        _KEDA,
        "set autoscaling.keda.gcpWorkloadIdentity: false",
    ),
}


def _conditions(obj: dict) -> dict[str, dict]:
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}


def crd_checks(ctx: Context) -> list[Result]:
    wanted: dict[tuple[str, str], str] = {}  # (group, kind) -> version the chart writes
    for obj in ctx.objects:
        group, _, version = obj.get("apiVersion", "").rpartition("/")
        if (group, obj.get("kind")) in CRDS:
            wanted.setdefault((group, obj["kind"]), version)
    results = []
    for (group, kind), version in wanted.items():
        crd = CRDS[(group, kind)]
        name = f"crd/{kind}"
        found = ctx.kube.get(f"{CRD_PATH}/{crd.name}")
        if found is None:
            results.append(
                Result(
                    name,
                    FAIL,
                    f"{kind} ({group}/{version}, for {crd.feature}) is not installed: no CustomResourceDefinition"
                    f" {crd.name}; {crd.install}, or {crd.turn_off}",
                )
            )
            continue
        established = _conditions(found).get("Established", {})
        served = [v["name"] for v in found.get("spec", {}).get("versions") or [] if v.get("served")]
        if established.get("status") != "True":
            results.append(
                Result(
                    name,
                    FAIL,
                    f"CustomResourceDefinition {crd.name} is not Established"
                    f" ({established.get('reason', 'no condition')}: {established.get('message', '')}); fix or"
                    f" reinstall it ({crd.install})",
                )
            )
        elif version not in served:
            results.append(
                Result(
                    name,
                    FAIL,
                    f"CustomResourceDefinition {crd.name} serves {listing(served)}, not {version}, which the chart"
                    f" writes; upgrade it ({crd.install})",
                )
            )
        else:
            results.append(Result(name, PASS, f"{crd.name} is Established and serves {version} ({crd.feature})"))
    return results


def lws_controller_check(ctx: Context) -> list[Result]:
    """Whether a LeaderWorkerSet controller seems to run: every install of it (release manifests, Helm chart)
    registers admission webhooks for its API group; then its webhook must answer a dry-run create."""
    if ctx.values["parallelism"]["pipeline"] <= 1 or ctx.values["batch"]["enabled"]:
        return []
    hooks = []
    for kind in ("mutatingwebhookconfigurations", "validatingwebhookconfigurations"):
        for config in ctx.kube.list(f"/apis/admissionregistration.k8s.io/v1/{kind}"):
            if any(
                LWS_GROUP in (rule.get("apiGroups") or [])
                for hook in config.get("webhooks") or []
                for rule in hook.get("rules") or []
            ):
                hooks.append(config["metadata"]["name"])
    deployments = [d["metadata"]["name"] for d in ctx.kube.list("/apis/apps/v1/namespaces/lws-system/deployments")]
    if not hooks and not deployments:
        return [
            Result(
                "lws-controller",
                WARN,
                "no LeaderWorkerSet controller found (no admission webhook for leaderworkerset.x-k8s.io, no"
                " Deployment in namespace lws-system): without it the LeaderWorkerSet creates no pods and the"
                " release never serves; install it (kubectl apply --server-side -f"
                " https://github.com/kubernetes-sigs/lws/releases/download/VERSION/manifests.yaml), or ignore this"
                " if it runs without webhooks elsewhere",
            )
        ]
    found = f"webhooks {listing(hooks)}" if hooks else f"Deployment(s) {listing(deployments)} in lws-system"
    if hooks and ctx.namespace_object is not None:
        crd_known = ctx.kube.get(f"{CRD_PATH}/{CRDS[(LWS_GROUP, 'LeaderWorkerSet')].name}") is not None
        for obj in ctx.of_kind("LeaderWorkerSet") if crd_known else []:
            path = f"/apis/{obj['apiVersion']}/namespaces/{ctx.namespace}/leaderworkersets"
            response = ctx.kube.dry_run_create(
                path, {**obj, "metadata": {**obj["metadata"], "namespace": ctx.namespace}}
            )
            if response.status >= 300 and response.status != 409:
                return [
                    Result(
                        "lws-controller",
                        FAIL,
                        f"the LeaderWorkerSet controller ({found}) refuses LeaderWorkerSet/{obj['metadata']['name']}"
                        f" (dry run): {response.message}; if a webhook does not answer, check the controller's pods",
                    )
                ]
    return [Result("lws-controller", PASS, f"the LeaderWorkerSet controller is installed ({found})")]


def _metrics_api(ctx: Context, name: str, service: str, api: str, why: str) -> Result:
    found = ctx.kube.get(f"{APISERVICE_PATH}/{service}")
    if found is None:
        return Result(
            name,
            FAIL,
            f"the {api} is not registered (no APIService {service}), and the HPA reads {why} from it; deploy"
            f" {STACKDRIVER_ADAPTER}",
        )
    available = _conditions(found).get("Available", {})
    backend = (found.get("spec") or {}).get("service") or {}
    served_by = f"{backend.get('namespace')}/{backend.get('name')}" if backend else "the API server itself"
    if available.get("status") != "True":
        return Result(
            name,
            FAIL,
            f"APIService {service} is registered but not available ({available.get('reason', 'no condition')}:"
            f" {available.get('message', '')}), so the HPA cannot read {why}; the adapter behind it (service"
            f" {served_by}) does not answer: check its pods (kubectl get pods -n {backend.get('namespace', '?')}),"
            f" or redeploy {STACKDRIVER_ADAPTER}",
        )
    if backend and "stackdriver" not in backend.get("name", ""):
        return Result(
            name,
            WARN,
            f"APIService {service} is available but served by {served_by}, not the custom-metrics Stackdriver"
            f" adapter; the HPA asks for {why}, names only that adapter serves. Deploy {STACKDRIVER_ADAPTER},"
            " or use autoscaling.provider: keda",
        )
    return Result(name, PASS, f"APIService {service} is available (served by {served_by}) for {why}")


def metrics_api_checks(ctx: Context) -> list[Result]:
    scaling = ctx.values["autoscaling"]
    if not scaling["enabled"] or scaling["provider"] != "hpa":
        return []
    results = []
    pods = [m["type"] for m in scaling["metrics"] if m["type"] in ("queue-depth", "batch-size")]
    if pods:
        names = listing([ctx.rules["autoscalingMetrics"][kind]["hpaMetric"] for kind in pods])
        results.append(
            _metrics_api(ctx, "custom-metrics-api", "v1beta1.custom.metrics.k8s.io", "custom metrics API", names)
        )
    if any(m["type"] == "gpu-utilization" for m in scaling["metrics"]):
        results.append(
            _metrics_api(
                ctx,
                "external-metrics-api",
                "v1beta1.external.metrics.k8s.io",
                "external metrics API",
                ctx.rules["autoscalingMetrics"]["gpu-utilization"]["hpaMetric"],
            )
        )
    if all(r.status != FAIL for r in results) and ctx.namespace_object is not None:
        results += [
            served_check(ctx, hpa, metric)
            for hpa in ctx.of_kind("HorizontalPodAutoscaler")
            for metric in hpa["spec"]["metrics"]
        ]
    return results


def gateway_checks(ctx: Context) -> list[Result]:
    """The Gateway each HTTPRoute parentRef names exists, and so does its GatewayClass (GKE's classes exist
    once the Gateway API is enabled; the Gateway is created once per cluster, not by the chart)."""
    results = []
    for route in ctx.of_kind("HTTPRoute"):
        for ref in route["spec"]["parentRefs"]:
            namespace = ref.get("namespace", ctx.namespace)
            where = f"Gateway {namespace}/{ref['name']}"
            gateway = ctx.kube.get(f"/apis/gateway.networking.k8s.io/v1/namespaces/{namespace}/gateways/{ref['name']}")
            if gateway is None:
                results.append(
                    Result(
                        f"gateway/{ref['name']}",
                        FAIL,
                        f"{where}, which gateway.parentRefs names, does not exist; create it once for the cluster"
                        " (gatewayClassName gke-l7-regional-external-managed or gke-l7-rilb, in a region with a"
                        " proxy-only subnet), or name an existing one",
                    )
                )
                continue
            klass = gateway["spec"]["gatewayClassName"]
            if ctx.kube.get(f"/apis/gateway.networking.k8s.io/v1/gatewayclasses/{klass}") is None:
                results.append(
                    Result(
                        f"gateway/{ref['name']}",
                        FAIL,
                        f"{where} uses GatewayClass {klass}, which the cluster does not have; enable the Gateway API"
                        " (gcloud container clusters update CLUSTER --location LOCATION --gateway-api=standard)",
                    )
                )
                continue
            results.append(Result(f"gateway/{ref['name']}", PASS, f"{where} exists (class {klass})"))
    return results


def _pod_selector(ctx: Context, target: dict) -> str:
    """The label selector of the HPA target's serving pods, as the HPA controller sends it."""
    for obj in ctx.of_kind(target["kind"]):
        if obj["metadata"]["name"] != target["name"]:
            continue
        if target["kind"] == "LeaderWorkerSet":  # its scale subresource's status.hpaPodSelector: the leaders
            return f"leaderworkerset.sigs.k8s.io/name={target['name']},leaderworkerset.sigs.k8s.io/worker-index=0"
        return ",".join(f"{k}={v}" for k, v in sorted(obj["spec"]["selector"]["matchLabels"].items()))
    return ""


def served_check(ctx: Context, hpa: dict, metric: dict) -> Result:
    """Ask the metrics API for one metric of one HPA, for this release, as the HPA controller will: an
    HPA that cannot read a metric never scales down (kube-controller-manager podautoscaler/horizontal.go:
    invalid metrics block a scale-down)."""
    workload = hpa["spec"]["scaleTargetRef"]["name"]
    if metric["type"] == "Pods":
        name = metric["pods"]["metric"]["name"]
        path = f"/apis/custom.metrics.k8s.io/v1beta2/namespaces/{ctx.namespace}/pods/*/{quote(name, safe=':')}"
        selector = _pod_selector(ctx, hpa["spec"]["scaleTargetRef"])
        what = "pods"
    else:
        # client-go's external metrics client lower-cases the name it requests.
        name = metric["external"]["metric"]["name"].lower()
        path = f"/apis/external.metrics.k8s.io/v1beta1/namespaces/{ctx.namespace}/{quote(name, safe=':')}"
        labels = (metric["external"]["metric"].get("selector") or {}).get("matchLabels") or {}
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        what = "series"
    check = f"hpa-metric/{workload}/{name}"
    response = ctx.kube.request("GET", path, query={"labelSelector": selector})
    if response.status >= 300:
        return Result(
            check,
            FAIL,
            f"the metrics API cannot serve {name} for HorizontalPodAutoscaler {workload} (HTTP {response.status}:"
            f" {response.message}); an HPA metric that cannot be read blocks every scale-down, so the workload"
            " would only ever grow: check the adapter's logs and that the series exists in Cloud Monitoring",
        )
    items = (response.body or {}).get("items") or []
    if not items:
        return Result(
            check,
            WARN,
            f"the metrics API answers for {name} but no {what} report it for HorizontalPodAutoscaler {workload}"
            f" yet (selector {selector or 'none'}); until they do, the HPA cannot scale the workload down",
        )
    return Result(check, PASS, f"{name} is served for HorizontalPodAutoscaler {workload}: {len(items)} {what}")


def _selects(selector: dict, labels: dict[str, str]) -> bool:
    """Whether a metav1.LabelSelector (matchLabels, matchExpressions) selects pods with these labels."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for term in selector.get("matchExpressions") or []:
        key, operator, values = term["key"], term["operator"], term.get("values") or []
        holds = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }.get(operator, False)
        if not holds:
            return False
    return True


def double_scrape_checks(ctx: Context) -> list[Result]:
    """No other PodMonitoring (or ClusterPodMonitoring) scrapes the serving pods the chart's PodMonitoring
    scrapes. GKE's automatic application monitoring "deploys a PodMonitoring resource for each detected"
    vLLM workload (https://cloud.google.com/stackdriver/docs/managed-prometheus/exporters/vllm): each
    series is then stored twice (another `job`), and every sum over the release's pods, KEDA's queries and
    the adapter's Pods metrics alike, reads double."""
    servers = [t.template["metadata"].get("labels") or {} for t in ctx.pod_templates if t.role in ("server", "leader")]

    def scrapes_servers(monitor: dict) -> bool:
        return any(_selects((monitor.get("spec") or {}).get("selector") or {}, labels) for labels in servers)

    own = {m["metadata"]["name"] for m in ctx.of_kind("PodMonitoring")}
    if not any(scrapes_servers(m) for m in ctx.of_kind("PodMonitoring")):
        return []
    group = "/apis/monitoring.googleapis.com/v1"
    others = [
        (f"PodMonitoring {ctx.namespace}/{m['metadata']['name']}", m)
        for m in ctx.kube.list(f"{group}/namespaces/{ctx.namespace}/podmonitorings")
        if m["metadata"]["name"] not in own
    ] + [(f"ClusterPodMonitoring {m['metadata']['name']}", m) for m in ctx.kube.list(f"{group}/clusterpodmonitorings")]
    twice = sorted(where for where, monitor in others if scrapes_servers(monitor))
    if not twice:
        return [Result("metrics/scraped-once", PASS, "no other PodMonitoring scrapes the serving pods")]
    return [
        Result(
            "metrics/scraped-once",
            FAIL if ctx.values["autoscaling"]["enabled"] else WARN,
            f"{listing(twice)} also scrape{'s' if len(twice) == 1 else ''} this release's serving pods, as the"
            " chart's PodMonitoring does (GKE's automatic application monitoring creates one for each vLLM"
            " workload it detects): every vLLM series is stored twice, so sums over the pods read double and an"
            " autoscaler scales out at half its target; turn automatic application monitoring off"
            " (gcloud container clusters update CLUSTER --location LOCATION --auto-monitoring-scope=NONE), or"
            " delete the other monitor",
        )
    ]


def checks(ctx: Context) -> list[Result]:
    return [
        *crd_checks(ctx),
        *lws_controller_check(ctx),
        *gateway_checks(ctx),
        *metrics_api_checks(ctx),
        *double_scrape_checks(ctx),
    ]
