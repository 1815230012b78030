"""A Helm release of the chart on a cluster: install (with the real helm), wait until its
pods are Ready, report where they landed, test, upgrade, roll back, uninstall."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vllm_serving import chart as chart_mod
from vllm_serving import helm
from vllm_serving.errors import ClusterError, UsageError

_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")  # Helm's release name: a DNS label of at most 53 characters


def release_name(files: Sequence[Path], given: str | None = None) -> str:
    """``given`` (--release), else the first values file's name made a release name; `up` and `preflight` alike."""
    name = given or re.sub(r"[^a-z0-9-]", "-", files[0].stem.lower()).strip("-")[:53]
    if not _NAME.fullmatch(name):
        raise UsageError(f"{name!r} is not a valid release name; pass --release")
    return name


# Pod Security admission labels of a namespace that enforces (and warns on) one level.
POD_SECURITY = "pod-security.kubernetes.io/{mode}"


def pod_security_labels(level: str) -> dict[str, str]:
    return {POD_SECURITY.format(mode=mode): level for mode in ("enforce", "warn")}


@dataclass
class Placement:
    """Where one pod of a release runs."""

    pod: str
    component: str
    phase: str
    ready: bool
    node: str = ""
    pool: str = ""
    accelerator: str = ""
    zone: str = ""
    gpus: int = 0
    node_labels: dict[str, str] = field(default_factory=dict)


@dataclass
class Release:
    """One release of the chart in one namespace of one cluster."""

    name: str
    namespace: str
    kubeconfig: Path
    chart: Path = field(default_factory=chart_mod.chart_dir)

    def _api(self):  # -> kubernetes.client.ApiClient
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))

    def install(self, values_files: list[Path] = (), values: dict[str, Any] | None = None, timeout: str = "5m") -> int:
        """Install or upgrade with values files layered in order, then `values`; return the revision.
        Helm itself reads and merges the files."""
        args = ["upgrade", self.name, str(self.chart), "--install", "--namespace", self.namespace]
        args += ["--timeout", timeout, "--output", "json"]
        for path in values_files:
            args += ["--values", str(path)]
        if values:
            args += ["--values", "-"]
        out = helm.run(args, json.dumps(values).encode() if values else None, kubeconfig=self.kubeconfig)
        return json.loads(out)["version"]

    def rollback(self, revision: int) -> None:
        helm.run(
            ["rollback", self.name, str(revision), "--namespace", self.namespace, "--wait"], kubeconfig=self.kubeconfig
        )

    def uninstall(self) -> None:
        helm.run(["uninstall", self.name, "--namespace", self.namespace, "--wait"], kubeconfig=self.kubeconfig)

    def test(self, timeout: str = "5m") -> str:
        """`helm test`: run the release's test hooks; their failure raises with helm's words."""
        out = helm.run(
            ["test", self.name, "--namespace", self.namespace, "--timeout", timeout], kubeconfig=self.kubeconfig
        )
        return out.decode()

    def status(self) -> str:
        return helm.run(["status", self.name, "--namespace", self.namespace], kubeconfig=self.kubeconfig).decode()

    def placements(self) -> list[Placement]:
        """The release's pods (test hooks excluded) and the node each runs on."""
        from kubernetes import client

        with self._api() as api:
            core = client.CoreV1Api(api)
            selector = f"app.kubernetes.io/instance={self.name},app.kubernetes.io/component!=test"
            pods = core.list_namespaced_pod(self.namespace, label_selector=selector).items
            nodes = {n.metadata.name: n for n in core.list_node().items}
        found = []
        for pod in sorted(pods, key=lambda p: p.metadata.name):
            if pod.metadata.deletion_timestamp:
                continue  # on its way out (an old revision's pod during a rollout)
            labels = pod.metadata.labels or {}
            node = nodes.get(pod.spec.node_name or "")
            node_labels = (node.metadata.labels or {}) if node else {}
            gpus = sum(int((c.resources.limits or {}).get("nvidia.com/gpu", 0)) for c in pod.spec.containers)
            found.append(
                Placement(
                    pod=pod.metadata.name,
                    component=labels.get("app.kubernetes.io/component", ""),
                    phase=pod.status.phase or "",
                    ready=_ready(pod),
                    node=pod.spec.node_name or "",
                    pool=node_labels.get("cloud.google.com/gke-nodepool", ""),
                    accelerator=node_labels.get("cloud.google.com/gke-accelerator", ""),
                    zone=node_labels.get("topology.kubernetes.io/zone", ""),
                    gpus=gpus,
                    node_labels=dict(node_labels),
                )
            )
        return found

    def problems(self) -> list[str]:
        """Why pods are missing or not running: scheduler and controller events of the namespace."""
        from kubernetes import client

        with self._api() as api:
            events = client.CoreV1Api(api).list_namespaced_event(self.namespace).items
        reasons = {"FailedScheduling", "FailedCreate", "BackoffLimitExceeded", "FailedMount"}
        return [
            f"{e.involved_object.kind}/{e.involved_object.name}: {e.reason}: {e.message}"
            for e in sorted(events, key=lambda e: e.last_timestamp or e.event_time or 0)
            if e.reason in reasons
        ]

    def unsettled(self) -> list[str]:
        """What the release's workloads still lack, per workload: a Deployment not rolled out, a
        LeaderWorkerSet group without all its pods Ready (leader and every worker), a Job whose pods are
        neither running nor done. Empty when every workload has all it asked its controller for."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        selector = f"app.kubernetes.io/instance={self.name}"
        lacking = []
        with self._api() as api:
            apps, batch = client.AppsV1Api(api), client.BatchV1Api(api)
            for d in apps.list_namespaced_deployment(self.namespace, label_selector=selector).items:
                want, status = d.spec.replicas or 0, d.status
                current = (status.observed_generation or 0) >= d.metadata.generation
                if not (current and (status.updated_replicas or 0) == (status.replicas or 0) == want):
                    lacking.append(f"Deployment/{d.metadata.name}: {status.updated_replicas or 0} of {want} updated")
                elif (status.ready_replicas or 0) < want:
                    lacking.append(f"Deployment/{d.metadata.name}: {status.ready_replicas or 0} of {want} Ready")
            for job in batch.list_namespaced_job(self.namespace, label_selector=selector).items:
                lacking += _job_lacks(job)
            try:
                groups = client.CustomObjectsApi(api).list_namespaced_custom_object(
                    LWS_GROUP, "v1", self.namespace, "leaderworkersets", label_selector=selector
                )["items"]
            except ApiException as err:
                if err.status != 404:  # 404: no LeaderWorkerSet CRD, so none of ours
                    raise
                groups = []
            core = client.CoreV1Api(api)
            for lws in groups:
                name = lws["metadata"]["name"]
                pods = core.list_namespaced_pod(self.namespace, label_selector=f"{LWS_NAME_LABEL}={name}").items
                lacking += _groups_lack(lws, [p for p in pods if not p.metadata.deletion_timestamp])
        return lacking

    def wait(self, timeout: float = 300, expect_pods: int | None = None) -> list[Placement]:
        """Until every workload has all its pods (every pod of every LeaderWorkerSet group, a Job's
        running or done) and every pod is Ready (a Job's: Succeeded); raise with what is missing and the
        controllers' and scheduler's events if not."""
        deadline = time.monotonic() + timeout
        while True:
            pods = self.placements()
            settled = [p for p in pods if p.ready or p.phase == "Succeeded"]
            enough = expect_pods is None or len(pods) >= expect_pods
            lacking = self.unsettled() if pods and len(settled) == len(pods) and enough else None
            if lacking == []:
                return pods
            if time.monotonic() > deadline:
                waiting = [f"{p.pod} ({p.phase or 'not created'})" for p in pods if p not in settled]
                lacking = self.unsettled() if lacking is None else lacking
                reasons = self.problems() or ["no events"]
                raise ClusterError(
                    f"release {self.name} is not ready after {timeout:.0f} s;"
                    f" waiting for {', '.join(waiting + lacking) or 'pods to be created'}:\n  " + "\n  ".join(reasons)
                )
            time.sleep(0.5)


LWS_GROUP = "leaderworkerset.x-k8s.io"
LWS_NAME_LABEL = "leaderworkerset.sigs.k8s.io/name"


def _groups_lack(lws: dict[str, Any], pods: list[Any]) -> list[str]:
    """Each group of a LeaderWorkerSet that has not all its size pods Ready, naming the missing ones
    (the controller names them <lws>-<group> and <lws>-<group>-<worker>)."""
    name, spec = lws["metadata"]["name"], lws["spec"]
    replicas, size = spec.get("replicas", 1), spec["leaderWorkerTemplate"].get("size", 1)
    by_name = {p.metadata.name: p for p in pods}
    lacking = []
    for group in range(replicas):
        members = [f"{name}-{group}"] + [f"{name}-{group}-{worker}" for worker in range(1, size)]
        missing = [m for m in members if m not in by_name]
        unready = [m for m in members if m in by_name and not _ready(by_name[m])]
        if missing or unready:
            parts = ([f"not created: {', '.join(missing)}"] if missing else []) + (
                [f"not Ready: {', '.join(unready)}"] if unready else []
            )
            ready = size - len(missing) - len(unready)
            lacking.append(f"LeaderWorkerSet/{name} group {group}: {ready} of {size} pods Ready ({'; '.join(parts)})")
    return lacking


def _job_lacks(job: Any) -> list[str]:
    """A Job that is neither done nor running as many pods as it may run at once."""
    conditions = {c.type: c for c in job.status.conditions or [] if c.status == "True"}
    name = f"Job/{job.metadata.name}"
    if "Failed" in conditions:
        return [f"{name}: failed: {conditions['Failed'].reason}: {conditions['Failed'].message}"]
    if "Complete" in conditions:
        return []
    completions = job.spec.completions if job.spec.completions is not None else 1
    succeeded = job.status.succeeded or 0
    want = min(job.spec.parallelism if job.spec.parallelism is not None else 1, completions - succeeded)
    if (job.status.ready or 0) < want:
        return [f"{name}: {job.status.ready or 0} of {want} pods Ready, {succeeded} of {completions} done"]
    return []


def _ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def create_namespace(
    kubeconfig: Path, name: str, pod_security: str | None = "baseline", labels: dict[str, str] | None = None
) -> None:
    """A namespace, enforcing a Pod Security level (baseline by default, like a hardened cluster), with
    extra labels (e.g. the local cluster's Autopilot mode)."""
    from kubernetes import client, config

    labels = {**(pod_security_labels(pod_security) if pod_security else {}), **(labels or {})}
    with config.new_client_from_config(config_file=str(kubeconfig)) as api:
        client.CoreV1Api(api).create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=labels))
        )


def delete_namespace(kubeconfig: Path, name: str) -> None:
    from kubernetes import client, config

    with config.new_client_from_config(config_file=str(kubeconfig)) as api:
        client.CoreV1Api(api).delete_namespace(name)
