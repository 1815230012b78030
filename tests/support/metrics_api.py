"""A stand-in for the custom-metrics Stackdriver adapter: the custom.metrics.k8s.io and
external.metrics.k8s.io APIs, serving values a test (or the autoscaling benchmark) sets.

The kube-apiserver's aggregator proxies both API groups to an HTTPS server on loopback, reached through an
ExternalName Service named as the adapter's (custom-metrics/custom-metrics-stackdriver-adapter), so the
HPA controller in kube-controller-manager reads metrics exactly as it would on GKE:

    with MetricsApi(cluster.rest()) as metrics:
        metrics.set_pods("llm", "prometheus.googleapis.com|vllm:num_requests_waiting|gauge", {"pod-a": 13})
        metrics.set_external("llm", "prometheus.googleapis.com|dcgm_fi_dev_gpu_util|unknown",
                             [({"resource.labels.namespace": "llm"}, 80)])

Like the adapter, a metric nobody set is an error (404), which the HPA reports as a failed metric; names
are matched exactly (the adapter's Cloud Monitoring metric types are case-sensitive). Pods metrics are
answered for the pods the request's label selector matches (listed from the API server), external ones for
the series whose labels the selector matches.
"""

from __future__ import annotations

import datetime
import http.server
import json
import ssl
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vllm_serving.cluster.rest import Rest

NAMESPACE = "custom-metrics"
SERVICE = "custom-metrics-stackdriver-adapter"
APISERVICES = (
    ("custom.metrics.k8s.io", "v1beta1"),
    ("custom.metrics.k8s.io", "v1beta2"),
    ("external.metrics.k8s.io", "v1beta1"),
)
_APISERVICE_PATH = "/apis/apiregistration.k8s.io/v1/apiservices"


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A key and a self-signed certificate for localhost in ``directory`` (APIServices that point at a
    stand-in skip TLS verification)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    crt, pem = directory / "metrics-api.crt", directory / "metrics-api.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return crt, pem


def selector_matches(selector: str, labels: Mapping[str, str]) -> bool:
    """Whether labels satisfy a label selector in its query-string form (k=v, k==v, k!=v, k in (a,b),
    k notin (a,b), k, !k), as the HPA sends matchLabels and matchExpressions."""
    if not selector:
        return True
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(selector):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(selector[start:i])
            start = i + 1
    parts.append(selector[start:])
    for part in (p.strip() for p in parts):
        if " notin " in part or " in " in part:
            key, _, rest = part.partition(" ")
            negate = rest.startswith("notin")
            members = {v.strip() for v in rest.split("(", 1)[1].rstrip(")").split(",")}
            if (labels.get(key.strip()) in members) == negate:
                return False
        elif "!=" in part:
            key, value = part.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in part:
            key, value = part.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif part.startswith("!"):
            if part[1:] in labels:
                return False
        elif part not in labels:
            return False
    return True


class MetricsApi:
    """The stand-in; see the module docstring. ``rest`` talks to the cluster as an administrator."""

    def __init__(self, rest: Rest):
        self.rest = rest
        self._lock = threading.Lock()
        self._rest_lock = threading.Lock()  # Rest holds one connection
        self._pods: dict[tuple[str, str], dict[str, float]] = {}
        self._external: dict[tuple[str, str], list[tuple[dict[str, str], float]]] = {}
        self.requests: list[str] = []  # paths asked for (unescaped), in order (metric reads only)
        self._tmp = tempfile.TemporaryDirectory(prefix="metrics-api-")
        self._server: http.server.ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ values
    def set_pods(self, namespace: str, metric: str, values: Mapping[str, float]) -> None:
        """Per-pod values of a Pods metric (pod name -> value), replacing earlier ones."""
        with self._lock:
            self._pods[(namespace, metric)] = dict(values)

    def set_external(self, namespace: str, metric: str, series: Sequence[tuple[Mapping[str, str], float]]) -> None:
        """Series (labels, value) of an External metric, replacing earlier ones."""
        with self._lock:
            self._external[(namespace, metric)] = [(dict(labels), value) for labels, value in series]

    def forget(self, namespace: str, metric: str) -> None:
        """Make a metric unreadable again (the adapter answers 404)."""
        with self._lock:
            self._pods.pop((namespace, metric), None)
            self._external.pop((namespace, metric), None)

    # ------------------------------------------------------------------ serving
    def _answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        selector = query.get("labelSelector", [""])[0]
        if len(parts) == 3 and parts[0] == "apis":  # discovery of one group version
            return 200, {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": f"{parts[1]}/{parts[2]}",
                "resources": [],
            }
        # /apis/custom.metrics.k8s.io/VERSION/namespaces/NS/pods/NAME|*/METRIC
        if len(parts) == 8 and parts[1] == "custom.metrics.k8s.io" and parts[3] == "namespaces" and parts[5] == "pods":
            version, namespace, name, metric = parts[2], parts[4], parts[6], parts[7]
            self.requests.append(urllib.parse.unquote(path))
            with self._lock:
                values = self._pods.get((namespace, metric))
            if values is None:
                return 404, _status(404, f"the server could not find the metric {metric} for pods")
            query_string = urllib.parse.urlencode({"labelSelector": selector})
            with self._rest_lock:
                pods = self.rest.get(f"/api/v1/namespaces/{namespace}/pods?{query_string}")["items"]
            items = []
            for pod in pods:
                pod_name = pod["metadata"]["name"]
                if pod_name in values and name in ("*", pod_name):
                    described = {"kind": "Pod", "namespace": namespace, "name": pod_name, "apiVersion": "/v1"}
                    item = {"describedObject": described, "timestamp": now, "value": _quantity(values[pod_name])}
                    if version == "v1beta1":
                        item |= {"metricName": metric, "windowSeconds": 60}
                    else:
                        item |= {"metric": {"name": metric}, "windowSeconds": 60}
                    items.append(item)
            return 200, {
                "kind": "MetricValueList",
                "apiVersion": f"custom.metrics.k8s.io/{version}",
                "metadata": {},
                "items": items,
            }
        # /apis/external.metrics.k8s.io/v1beta1/namespaces/NS/METRIC
        if len(parts) == 6 and parts[1] == "external.metrics.k8s.io" and parts[3] == "namespaces":
            namespace, metric = parts[4], parts[5]
            self.requests.append(urllib.parse.unquote(path))
            with self._lock:
                series = self._external.get((namespace, metric))
            if series is None:
                return 404, _status(404, f"the server could not find the external metric {metric}")
            items = [
                {"metricName": metric, "metricLabels": labels, "timestamp": now, "value": _quantity(value)}
                for labels, value in series
                if selector_matches(selector, labels)
            ]
            return 200, {
                "kind": "ExternalMetricValueList",
                "apiVersion": "external.metrics.k8s.io/v1beta1",
                "metadata": {},
                "items": items,
            }
        return 404, _status(404, f"no such path {path}")

    def start(self) -> MetricsApi:
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                try:
                    code, body = api._answer(url.path, urllib.parse.parse_qs(url.query))
                except Exception as err:  # a stand-in bug must show up in the HPA's events, not hang it
                    code, body = 500, _status(500, f"metrics stand-in: {err}")
                data = json.dumps(body).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the aggregator gave up on this request (ssl.SSLEOFError, a reset)
                    self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        crt, key = self_signed_cert(Path(self._tmp.name))
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(crt, key)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self._register(self._server.server_address[1])
        return self

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    def _register(self, port: int) -> None:
        self.rest.request(
            "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
        )
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": SERVICE, "namespace": NAMESPACE},
            "spec": {"type": "ExternalName", "externalName": "localhost", "ports": [{"port": port}]},
        }
        self.rest.create_or_replace(f"/api/v1/namespaces/{NAMESPACE}/services", service)
        for group, version in APISERVICES:
            self.rest.create_or_replace(
                _APISERVICE_PATH,
                {
                    "apiVersion": "apiregistration.k8s.io/v1",
                    "kind": "APIService",
                    "metadata": {"name": f"{version}.{group}"},
                    "spec": {
                        "group": group,
                        "version": version,
                        "service": {"namespace": NAMESPACE, "name": SERVICE, "port": port},
                        "insecureSkipTLSVerify": True,
                        "groupPriorityMinimum": 100,
                        "versionPriority": 200 if version == "v1beta2" else 100,
                    },
                },
            )

    def available(self) -> bool:
        """Whether the aggregator reports every APIService Available (it probes the server itself)."""
        for group, version in APISERVICES:
            status, body = self.rest.request("GET", f"{_APISERVICE_PATH}/{version}.{group}")
            conditions = json.loads(body).get("status", {}).get("conditions", []) if status == 200 else []
            if not any(c["type"] == "Available" and c["status"] == "True" for c in conditions):
                return False
        return True

    def stop(self) -> None:
        for group, version in APISERVICES:
            self.rest.request("DELETE", f"{_APISERVICE_PATH}/{version}.{group}")
        self.rest.request("DELETE", f"/api/v1/namespaces/{NAMESPACE}")
        # Gone, not Terminating, so that the next user of the cluster can create it again.
        deadline = time.monotonic() + 60
        while self.rest.request("GET", f"/api/v1/namespaces/{NAMESPACE}")[0] != 404 and time.monotonic() < deadline:
            time.sleep(0.25)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self._tmp.cleanup()

    def __enter__(self) -> MetricsApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _quantity(value: float) -> str:
    """A Kubernetes quantity: milli-units keep three decimals exact."""
    milli = round(value * 1000)
    return f"{milli // 1000}" if milli % 1000 == 0 else f"{milli}m"


def _status(code: int, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "code": code}
