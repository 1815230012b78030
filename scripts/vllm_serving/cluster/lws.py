"""The LeaderWorkerSet controller (``sigs.k8s.io/lws``) on the local cluster.

The controller manager is the ``lws-controller`` component of the ``localkube``
binary (``hack/cluster/lws.go``: upstream ``cmd/main.go`` without its certificate
manager), pinned in ``hack/cluster/go.mod`` at the version ``crds.yaml`` takes the
LeaderWorkerSet CRD from. Its admission webhooks are what give a group's pods
their labels (``leaderworkerset.sigs.k8s.io/group-key``, ``.../worker-index``, ...)
and env (``LWS_LEADER_ADDRESS``, ``LWS_GROUP_SIZE``, ``LWS_WORKER_INDEX``), so the
API server must reach them. In a real install the webhook configurations name
the Service ``lws-webhook-service``; here there is no pod network to route a
Service to a local process, so:

- the webhook configurations are upstream's (``config/webhook/manifests.yaml``
  with the kustomize patches of ``config/webhook`` applied, read from the module
  at run time, names prefixed ``lws-`` as ``config/default`` does) with each
  ``clientConfig.service`` replaced by ``clientConfig.url:
  https://127.0.0.1:PORT/PATH`` and ``caBundle`` the cluster CA;
- the manager serves them from the loopback serving certificate ``pki`` issued
  by that CA, with internal certificate management off (``config_file``).

The manager runs without its DisaggregatedSet controller (``--disaggregatedset=false``,
a localkube addition): the chart does not use DisaggregatedSets, so the cluster need not
carry their 1.5 MB CRD. That controller's webhook is left out of the configurations.
"""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vllm_serving.cluster import build, crds
from vllm_serving.cluster.rest import Rest
from vllm_serving.errors import ClusterError

MODULE = "sigs.k8s.io/lws"
COMPONENT = "lws-controller"
WEBHOOK_DIR = "config/webhook"
# API groups whose webhooks the manager serves here: pods and LeaderWorkerSets (not DisaggregatedSets).
SERVED_GROUPS = frozenset({"", "leaderworkerset.x-k8s.io"})
NAME_PREFIX = "lws-"  # config/default/kustomization.yaml: the names a release install gives them
NAME_LABEL = "leaderworkerset.sigs.k8s.io/name"
WORKER_INDEX_LABEL = "leaderworkerset.sigs.k8s.io/worker-index"
SIZE_ANNOTATION = "leaderworkerset.sigs.k8s.io/size"
WEBHOOK_PATHS = {
    "MutatingWebhookConfiguration": "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
    "ValidatingWebhookConfiguration": "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
}

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Upstream:
    """What the local cluster takes from the pinned lws module."""

    version: str
    webhook_configurations: list[dict[str, Any]]  # as upstream installs them: clientConfig names a Service


def pinned_version(src: Path | None = None) -> str:
    """The lws version ``hack/cluster/go.mod`` builds; it must be the one crds.yaml takes the CRD from."""
    version = build.pinned_versions(src).get(MODULE)
    if not version:
        raise ClusterError(f"hack/cluster/go.mod does not require {MODULE}; the LeaderWorkerSet controller needs it")
    crd_versions = {s.version for s in crds.sources() if s.module == MODULE}
    if crd_versions and crd_versions != {version}:
        raise ClusterError(
            f"the LeaderWorkerSet controller is {MODULE}@{version} (hack/cluster/go.mod) but crds.yaml takes its "
            f"CRD from {', '.join(sorted(crd_versions))}; bump both together"
        )
    return version


def load(version: str, module_dir: Path | None = None) -> Upstream:
    """Read the webhook configurations (with config/webhook's kustomize patches applied) from the module."""
    root = module_dir or build.go_mod_download([(MODULE, version)])[MODULE]
    webhook_dir = root / WEBHOOK_DIR
    try:
        configs = [d for d in yaml.load_all((webhook_dir / "manifests.yaml").read_text(), Loader=_Loader) if d]
        kustomization = yaml.safe_load((webhook_dir / "kustomization.yaml").read_text()) or {}
        for patch in kustomization.get("patches") or []:
            target = patch.get("target") or {}
            ops = yaml.safe_load((webhook_dir / patch["path"]).read_text())
            for obj in configs:
                if obj.get("kind") == target.get("kind") and obj["metadata"]["name"] == target.get("name"):
                    _json_patch(obj, ops)
    except (OSError, KeyError, IndexError, TypeError, ValueError, yaml.YAMLError) as err:
        raise ClusterError(f"{MODULE}@{version}: cannot read its webhook configuration: {err}") from err
    configs = [c for c in configs if c.get("kind") in WEBHOOK_PATHS]
    if not configs or not all(c.get("webhooks") for c in configs):
        raise ClusterError(f"{MODULE}@{version}: {WEBHOOK_DIR}/manifests.yaml has no webhooks")
    return Upstream(version, configs)


def _json_patch(obj: Any, ops: list[dict[str, Any]]) -> None:
    """Apply RFC 6902 add/replace/remove operations (what kustomize patches in config/webhook use)."""
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].lstrip("/").split("/")]
        parent = obj
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        last = parts[-1]
        kind = op["op"]
        if isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            if kind == "add":
                parent.insert(index, op["value"])
            elif kind == "replace":
                parent[index] = op["value"]
            elif kind == "remove":
                del parent[index]
            else:
                raise ClusterError(f"unsupported JSON patch op {kind!r}")
        elif kind in ("add", "replace"):
            parent[last] = op["value"]
        elif kind == "remove":
            del parent[last]
        else:
            raise ClusterError(f"unsupported JSON patch op {kind!r}")


def served(hook: dict[str, Any]) -> bool:
    """Whether the manager, as started here, serves this webhook (its rules name only SERVED_GROUPS)."""
    return all(set(rule.get("apiGroups") or []) <= SERVED_GROUPS for rule in hook.get("rules") or [])


def webhook_configurations(upstream: Upstream, *, port: int, ca: bytes) -> list[dict[str, Any]]:
    """Upstream's configurations pointed at ``https://127.0.0.1:PORT`` with the cluster CA as caBundle."""
    ca_bundle = base64.b64encode(ca).decode()
    out = []
    for config in upstream.webhook_configurations:
        config = copy.deepcopy(config)
        config["webhooks"] = [hook for hook in config["webhooks"] if served(hook)]
        config["metadata"] = {
            "name": NAME_PREFIX + config["metadata"]["name"],
            "labels": {"app.kubernetes.io/name": "lws", "app.kubernetes.io/managed-by": "vllm-serving-local-cluster"},
        }
        for hook in config["webhooks"]:
            service = (hook.get("clientConfig") or {}).get("service") or {}
            hook["clientConfig"] = {"url": f"https://127.0.0.1:{port}{service.get('path', '/')}", "caBundle": ca_bundle}
        out.append(config)
    return out


def apply_webhook_configurations(rest: Rest, configs: list[dict[str, Any]]) -> list[str]:
    """Create (or replace) the configurations, validating first: once ``webhooks_answer`` sees the
    mutating one in effect, the API server has had the validating one longer."""
    ordered = sorted(configs, key=lambda c: c["kind"] != "ValidatingWebhookConfiguration")
    for config in ordered:
        rest.create_or_replace(WEBHOOK_PATHS[config["kind"]], config)
    return [c["metadata"]["name"] for c in ordered]


def config_file(path: Path, *, webhook_port: int, cert_dir: Path, metrics_port: int, health_port: int) -> Path:
    """Write the manager's Configuration: loopback ports, no leader election, certificates from ``cert_dir``."""
    config = {
        "apiVersion": "config.lws.x-k8s.io/v1alpha1",
        "kind": "Configuration",
        "leaderElection": {"leaderElect": False},
        "internalCertManagement": {"enable": False},
        "webhook": {"host": "127.0.0.1", "port": webhook_port, "certDir": str(cert_dir)},
        "metrics": {"bindAddress": f"127.0.0.1:{metrics_port}"},
        "health": {"healthProbeBindAddress": f"127.0.0.1:{health_port}"},
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def args(*, kubeconfig: Path, config: Path) -> list[str]:
    return [f"--kubeconfig={kubeconfig}", f"--config={config}", "--disaggregatedset=false", "--zap-log-level=info"]


# A leader pod as the LeaderWorkerSet controller would have its StatefulSet create it.
PROBE = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "lws-webhook-probe-0",
        "labels": {NAME_LABEL: "lws-webhook-probe", WORKER_INDEX_LABEL: "0"},
        "annotations": {SIZE_ANNOTATION: "1"},
    },
    "spec": {
        "subdomain": "lws-webhook-probe",
        "automountServiceAccountToken": False,
        "containers": [{"name": "probe", "image": "registry.k8s.io/pause:3.10"}],
    },
}


def webhooks_answer(rest: Rest, namespace: str = "default") -> bool:
    """Whether the API server sends a LeaderWorkerSet's pods through the mutating webhook now.

    A dry-run create (nothing is stored) of a leader pod comes back with ``LWS_GROUP_SIZE``
    in its env only if the webhook ran: proof that the configuration is loaded, the URL
    answers and the CA matches. A pod rather than a LeaderWorkerSet: the API server holds
    any create of a custom resource for 2 s after its CRD becomes Established.
    """
    status, data = rest.request("POST", f"/api/v1/namespaces/{namespace}/pods?dryRun=All", PROBE)
    if status not in (200, 201):
        return False
    containers = (json.loads(data).get("spec") or {}).get("containers") or [{}]
    return any(e.get("name") == "LWS_GROUP_SIZE" for e in containers[0].get("env") or [])
