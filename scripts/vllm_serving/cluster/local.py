"""A real Kubernetes control plane run as plain local processes, with kwok for kubelets.

``LocalCluster`` starts etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok on free loopback ports, creates the fake GKE nodes of
``nodepools.yaml`` and the chart's CRDs, plays GKE's admission where GKE is closed
(Autopilot's Warden, ``autopilot.py``; the Gateway controller's refusals of HTTPRoutes,
``gke_gateway.py``), runs the LeaderWorkerSet controller with its admission webhooks
(``lws.py``), and writes an admin kubeconfig::

    with LocalCluster() as cluster:
        client = kubernetes.config.new_client_from_config(str(cluster.kubeconfig))

Everything lives in a state directory: certificates, etcd's data, one log per
component, the kubeconfig, and ``state.json`` with the PIDs it started, so that
``stop`` (or ``vllm-serving cluster down`` from another process) ends exactly
those processes. Unless started ``detach=True``, children also get SIGKILL if
this Python process dies without stopping them (a parent-death signal the
binary arms itself), so no process outlives it.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from vllm_serving import gobuild
from vllm_serving.cluster import autopilot, build, computeclass, crds, gke_gateway, lws, nodes, pki
from vllm_serving.cluster.rest import ApiError, Rest
from vllm_serving.errors import ClusterError

SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"  # first address: the kubernetes Service, a SAN of the serving cert
POD_CIDR = "10.4.0.0/14"  # kwok hands out pod IPs from here (a GKE-like pod range)
ISSUER = "https://kubernetes.default.svc.cluster.local"
CONTEXT = "vllm-serving-local"
# Order of start; stop goes the other way (etcd last).
ORDER = ("etcd", "kube-apiserver", "kube-scheduler", "kwok", "kube-controller-manager", lws.COMPONENT)
# Files and directories of a state directory that `start` replaces (nothing else is touched).
_STATE_ENTRIES = ("etcd", "logs", "pki", "kubeconfigs", "kwok.yaml", "lws.yaml", "kubeconfig", "state.json")
# kwok's upstream "fast" stages: nodes become Ready with a lease heartbeat; pods go Running and Ready.
KWOK_STAGES = (
    "kustomize/stage/node/fast/node-initialize.yaml",
    "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "kustomize/stage/pod/fast/pod-ready.yaml",
    "kustomize/stage/pod/fast/pod-complete.yaml",
    "kustomize/stage/pod/fast/pod-delete.yaml",
)

Progress = Callable[[str], None]


def default_state_dir(name: str = "local") -> Path:
    return gobuild.cache_root() / "clusters" / name


def _free_ports(count: int) -> list[int]:
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _proc_start_time(pid: int) -> int | None:
    """Start time of a live (non-zombie) process, in clock ticks since boot; None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def process_alive(record: dict[str, Any]) -> bool:
    """Whether the process a state record names is still the same live process (not a reused PID)."""
    return _proc_start_time(record["pid"]) == record.get("start_time")


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


class LocalCluster:
    """A local control plane with fake GKE nodes; see the module docstring.

    Args:
        state_dir: where state, logs and the kubeconfig go; default
            ``<cache>/clusters/<name>``. ``start`` replaces its previous contents.
        name: names the default state directory.
        node_pools: a node-pool spec file (default: the packaged ``nodepools.yaml``);
            ``create_nodes=False`` starts without nodes.
        install_crds: create the chart's CRDs (``crds.yaml``) and wait until Established.
        lws: run the LeaderWorkerSet controller and its webhooks (needs ``install_crds``;
            without the CRDs it is skipped).
        autopilot: create GKE Autopilot's admission constraints as ValidatingAdmissionPolicies,
            enforced in namespaces labelled ``autopilot.NAMESPACE_LABELS`` (``autopilot.py``), and GKE's
            admission of Pods that select a ComputeClass, in every namespace (``computeclass.py``).
        detach: children survive this process (for ``vllm-serving cluster up``);
            stop them with ``stop`` / ``vllm-serving cluster down``.
        progress: called with one line per step (default: stderr); ``None`` is quiet.
        timeout: seconds each readiness wait may take.
        hpa_sync_period: seconds between the HPA controller's passes over each HorizontalPodAutoscaler
            (kube-controller-manager's default is 15).
    """

    def __init__(
        self,
        state_dir: Path | str | None = None,
        *,
        name: str = "local",
        node_pools: Path | str | None = None,
        create_nodes: bool = True,
        install_crds: bool = True,
        lws: bool = True,
        autopilot: bool = True,
        detach: bool = False,
        progress: Progress | None = gobuild.stderr,
        timeout: float = 120,
        hpa_sync_period: float = 15,
    ):
        self.state_dir = Path(state_dir) if state_dir else default_state_dir(name)
        self.node_pools = Path(node_pools) if node_pools else None
        self.create_nodes = create_nodes
        self.install_crds = install_crds
        self.lws = lws
        self.autopilot = autopilot
        self.detach = detach
        self.timeout = timeout
        self.hpa_sync_period = hpa_sync_period
        self._progress = progress
        self._t0 = time.monotonic()
        self._procs: dict[str, subprocess.Popen] = {}
        self._state: dict[str, Any] = {}
        self._atexit = False

    # ----------------------------------------------------------------- accessors
    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def runs_lws(self) -> bool:
        """Whether ``start`` runs the LeaderWorkerSet controller (it needs the CRDs)."""
        return self.lws and self.install_crds

    @property
    def server(self) -> str:
        return self._state.get("server", "")

    @property
    def pids(self) -> dict[str, int]:
        return {name: rec["pid"] for name, rec in self._state.get("processes", {}).items()}

    @property
    def state(self) -> dict[str, Any]:
        """A copy of ``state.json``: server, ports, processes, versions, timings."""
        return json.loads(json.dumps(self._state))

    def log_path(self, component: str) -> Path:
        return self.state_dir / "logs" / f"{component}.log"

    def rest(self) -> Rest:
        p = pki.Pki(self.state_dir / "pki")
        return Rest(self.server, ca=str(p.ca), cert=str(p.cert("admin")), key=str(p.key("admin")))

    def api_client(self):  # -> kubernetes.client.ApiClient (imported lazily: it is slow to import)
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))

    @classmethod
    def from_state(
        cls, state_dir: Path | str | None = None, *, name: str = "local", progress: Progress | None = None
    ) -> LocalCluster:
        """The cluster recorded in a state directory (e.g. one started detached by another process)."""
        cluster = cls(state_dir, name=name, progress=progress, detach=True)
        path = cluster.state_dir / "state.json"
        try:
            cluster._state = json.loads(path.read_text())
        except FileNotFoundError:
            raise ClusterError(f"no local cluster recorded in {cluster.state_dir} (no state.json)") from None
        except ValueError as err:
            raise ClusterError(f"{path} is not valid JSON: {err}") from err
        return cluster

    def processes(self) -> dict[str, bool]:
        """Component -> whether its recorded process is still running."""
        return {name: process_alive(rec) for name, rec in self._state.get("processes", {}).items()}

    def ready(self) -> bool:
        """Whether the API server answers /readyz."""
        if not self.server:
            return False
        rest = self.rest()
        try:
            status, _ = rest.request("GET", "/readyz")
            return status == 200
        except (OSError, ssl.SSLError):
            return False
        finally:
            rest.close()

    # ----------------------------------------------------------------- lifecycle
    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _say(self, message: str) -> None:
        if self._progress:
            self._progress(f"[{time.monotonic() - self._t0:5.1f}s] {message}")

    def start(self) -> LocalCluster:
        """Start everything and wait until the cluster is usable; on failure stop what was started."""
        self._t0 = time.monotonic()
        # a first start builds the binaries for minutes: that goes where builds report (past pytest's capture)
        bins = build.ensure_built(gobuild.build_progress if self._progress else (lambda _m: None))
        self._prepare_state_dir()
        try:
            self._start(bins)
        except BaseException:
            self.stop()
            raise
        return self

    def _prepare_state_dir(self) -> None:
        path = self.state_dir / "state.json"
        if path.exists():
            with contextlib.suppress(ValueError, OSError):
                old = json.loads(path.read_text())
                alive = [n for n, rec in old.get("processes", {}).items() if process_alive(rec)]
                if alive:
                    raise ClusterError(
                        f"a local cluster is already running from {self.state_dir} ({', '.join(alive)}); "
                        f"stop it first: vllm-serving cluster down --state-dir {self.state_dir}"
                    )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for entry in _STATE_ENTRIES:
            target = self.state_dir / entry
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)
        (self.state_dir / "logs").mkdir()
        (self.state_dir / "kubeconfigs").mkdir()

    def _start(self, bins: gobuild.GoTool) -> None:
        sd = self.state_dir
        run_lws = self.runs_lws
        etcd_client, etcd_peer, api, kcm, sched, kwok, *lws_ports = _free_ports(9 if run_lws else 6)
        server = f"https://127.0.0.1:{api}"
        versions = build.pinned_versions()
        lws_version = lws.pinned_version() if run_lws else None  # fails fast if go.mod and crds.yaml disagree
        self._state = {
            "server": server,
            "kubeconfig": str(self.kubeconfig),
            "state_dir": str(sd),
            "binaries": str(bins.bin_dir),
            "versions": versions,
            "ports": {
                "etcd": etcd_client,
                "etcd-peer": etcd_peer,
                "kube-apiserver": api,
                "kube-controller-manager": kcm,
                "kube-scheduler": sched,
                "kwok": kwok,
                **dict(zip(("lws-webhook", "lws-metrics", "lws-health"), lws_ports, strict=False)),
            },
            "detached": self.detach,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "processes": {},
        }
        p = pki.generate(sd / "pki", service_ip=SERVICE_IP)
        self._write_kubeconfigs(p, server)
        self._say(f"certificates and kubeconfig written to {sd}")

        # Upstream YAML (kwok stages, CRDs) from the Go module cache, read while the processes start.
        kwok_version = versions.get("sigs.k8s.io/kwok")
        if not kwok_version:
            raise ClusterError("hack/cluster/go.mod does not require sigs.k8s.io/kwok")
        fetched: dict[str, Any] = {}

        def fetch() -> None:
            try:
                kwok_dir = build.go_mod_download([("sigs.k8s.io/kwok", kwok_version)])["sigs.k8s.io/kwok"]
                fetched["stages"] = "\n---\n".join((kwok_dir / rel).read_text() for rel in KWOK_STAGES)
                if self.install_crds:
                    fetched["crds"] = crds.load()
                if lws_version:
                    fetched["lws"] = lws.load(lws_version)
            except BaseException as err:  # re-raised in the main thread
                fetched["error"] = err

        loader = threading.Thread(target=fetch, name="cluster-yaml", daemon=True)
        loader.start()

        self._spawn(
            bins,
            "etcd",
            [
                "--name=local",
                f"--data-dir={sd / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{etcd_client}",
                f"--advertise-client-urls=http://127.0.0.1:{etcd_client}",
                f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-cluster=local=http://127.0.0.1:{etcd_peer}",
                "--unsafe-no-fsync",  # a throwaway test store: no fsync, much faster writes
                "--log-level=warn",
            ],
        )
        self._spawn(
            bins,
            "kube-apiserver",
            [
                f"--etcd-servers=http://127.0.0.1:{etcd_client}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                "--endpoint-reconciler-type=none",  # the kubernetes Service gets no loopback endpoints
                f"--secure-port={api}",
                f"--cert-dir={sd / 'pki' / 'apiserver'}",
                f"--tls-cert-file={p.cert('apiserver')}",
                f"--tls-private-key-file={p.key('apiserver')}",
                f"--client-ca-file={p.ca}",
                f"--service-account-issuer={ISSUER}",
                f"--service-account-key-file={p.sa_pub}",
                f"--service-account-signing-key-file={p.sa_key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=Node,RBAC",
                # On top of the default plugins (NamespaceLifecycle, LimitRanger, ServiceAccount,
                # PodSecurity, Priority, DefaultTolerationSeconds, ResourceQuota, the webhooks, ...).
                "--enable-admission-plugins=NodeRestriction",
                "--allow-privileged=true",
                "--profiling=false",
            ],
        )
        self._spawn(
            bins,
            "kube-scheduler",
            [
                f"--kubeconfig={sd / 'kubeconfigs' / 'kube-scheduler.kubeconfig'}",
                "--bind-address=127.0.0.1",
                f"--secure-port={sched}",
                f"--cert-dir={sd / 'pki' / 'kube-scheduler'}",
                "--leader-elect=false",
            ],
        )
        self._wait_for_kwok_config(fetched, loader)
        self._spawn(
            bins,
            "kwok",
            [
                f"--kubeconfig={sd / 'kubeconfigs' / 'kwok.kubeconfig'}",
                f"--config={sd / 'kwok.yaml'}",
                f"--manage-nodes-with-annotation-selector={nodes.KWOK_SELECTOR}",
                f"--server-address=127.0.0.1:{kwok}",
                f"--cidr={POD_CIDR}",
                # Node leases, renewed every quarter of their duration as the kubelet does (40 s, its
                # default). Without them kwok leaves leases alone, the node lifecycle controller finds every
                # node's heartbeat stale after its grace period, and marks the pods on them NotReady, which
                # kwok's pod stages never undo.
                "--node-lease-duration-seconds=40",
            ],
        )

        rest = self.rest()
        try:
            self._wait("kube-apiserver /readyz", lambda: rest.request("GET", "/readyz")[0] == 200, "kube-apiserver")
            self._say(f"kube-apiserver ready at {server}")
            self._spawn(
                bins,
                "kube-controller-manager",
                [
                    f"--kubeconfig={sd / 'kubeconfigs' / 'kube-controller-manager.kubeconfig'}",
                    "--use-service-account-credentials=true",
                    f"--service-account-private-key-file={p.sa_key}",
                    f"--root-ca-file={p.ca}",
                    f"--cluster-signing-cert-file={p.ca}",
                    f"--cluster-signing-key-file={p.key('ca')}",
                    "--bind-address=127.0.0.1",
                    f"--secure-port={kcm}",
                    f"--cert-dir={sd / 'pki' / 'kube-controller-manager'}",
                    "--leader-elect=false",
                    "--kube-api-qps=100",
                    "--kube-api-burst=200",
                    f"--horizontal-pod-autoscaler-sync-period={self.hpa_sync_period:g}s",
                ],
            )

            node_names: list[str] = []
            if self.create_nodes:
                kubelet_version = versions.get("k8s.io/kubernetes", "v0.0.0")
                specs = nodes.nodes(nodes.load_spec(self.node_pools))
                for spec in specs:
                    rest.create("/api/v1/nodes", nodes.node_manifest(spec, kubelet_version=kubelet_version))
                node_names = [s.name for s in specs]
                self._say(f"{len(node_names)} fake nodes created")

            crd_names: list[str] = []
            if self.install_crds:
                loader.join(self.timeout)
                if "error" in fetched:
                    raise fetched["error"]
                crd_names = crds.apply(rest, fetched["crds"])
                self._say(f"CRDs created: {', '.join(crd_names)}")

            if self.autopilot:
                policies = autopilot.apply(rest, self.timeout)
                self._say(f"Autopilot admission: {len(policies)} policies for namespaces {autopilot.LABEL}=autopilot")
                policies = computeclass.apply(rest, self.timeout)
                self._say(f"ComputeClass admission: {len(policies)} policies for every namespace")
            if node_names:
                self._wait("nodes Ready (kwok)", lambda: self._nodes_ready(rest, node_names), "kwok")
                self._say("nodes Ready")
            if crd_names:
                crds.wait_established(rest, crd_names, self.timeout)
                self._say("CRDs Established")
                policies = gke_gateway.apply(rest, self.timeout)
                self._say(f"GKE Gateway controller admission: {len(policies)} policies on every HTTPRoute")
            if run_lws:
                self._start_lws(bins, rest, fetched["lws"], p, lws_ports)
            self._wait("kube-scheduler /healthz", lambda: self._healthz(sched), "kube-scheduler")
            self._wait("kube-controller-manager /healthz", lambda: self._healthz(kcm), "kube-controller-manager")
            # The serviceaccount controller has run: pods can be created in "default".
            self._wait(
                "ServiceAccount default/default",
                lambda: self._exists(rest, "/api/v1/namespaces/default/serviceaccounts/default"),
                "kube-controller-manager",
            )
            if run_lws:
                # Until the API server calls the webhooks, an LWS or its pods would be admitted
                # without the labels and env the webhooks add: wait for a dry run to come back mutated.
                self._wait(f"{lws.COMPONENT} /readyz", lambda: self._readyz(lws_ports[2]), lws.COMPONENT)
                self._wait("the LeaderWorkerSet webhooks", lambda: lws.webhooks_answer(rest), lws.COMPONENT)
                self._say(f"{lws.COMPONENT} ready, webhooks at https://127.0.0.1:{lws_ports[0]}")
        finally:
            rest.close()
        self._state["start_seconds"] = round(time.monotonic() - self._t0, 1)
        self._write_state()
        self._say(f"cluster ready in {self._state['start_seconds']:.1f} s; KUBECONFIG={self.kubeconfig}")

    def _start_lws(
        self, bins: gobuild.GoTool, rest: Rest, upstream: lws.Upstream, p: pki.Pki, ports: list[int]
    ) -> None:
        """Spawn the LeaderWorkerSet controller and point its webhook configurations at it."""
        webhook, metrics, health = ports
        config = lws.config_file(
            self.state_dir / "lws.yaml",
            webhook_port=webhook,
            cert_dir=p.webhook_dir,
            metrics_port=metrics,
            health_port=health,
        )
        kubeconfig = self.state_dir / "kubeconfigs" / f"{lws.COMPONENT}.kubeconfig"
        self._spawn(bins, lws.COMPONENT, lws.args(kubeconfig=kubeconfig, config=config))
        names = lws.apply_webhook_configurations(
            rest, lws.webhook_configurations(upstream, port=webhook, ca=p.ca.read_bytes())
        )
        self._say(f"{lws.COMPONENT} {upstream.version} started; webhook configurations: {', '.join(names)}")

    def _wait_for_kwok_config(self, fetched: dict[str, Any], loader: threading.Thread) -> None:
        deadline = time.monotonic() + self.timeout
        while "stages" not in fetched and "error" not in fetched:
            if time.monotonic() > deadline:
                raise ClusterError("timed out reading kwok's stages from the Go module cache")
            loader.join(0.05)
        if "stages" not in fetched:
            raise fetched["error"]
        (self.state_dir / "kwok.yaml").write_text(fetched["stages"])

    # ----------------------------------------------------------------- helpers
    def _write_kubeconfigs(self, p: pki.Pki, server: str) -> None:
        def config(user: str, cert: Path, key: Path, embed: bool) -> dict[str, Any]:
            if embed:
                cluster = {"server": server, "certificate-authority-data": base64.b64encode(p.ca.read_bytes()).decode()}
                creds = {
                    "client-certificate-data": base64.b64encode(cert.read_bytes()).decode(),
                    "client-key-data": base64.b64encode(key.read_bytes()).decode(),
                }
            else:
                cluster = {"server": server, "certificate-authority": str(p.ca)}
                creds = {"client-certificate": str(cert), "client-key": str(key)}
            return {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": CONTEXT, "cluster": cluster}],
                "users": [{"name": user, "user": creds}],
                "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": user, "namespace": "default"}}],
                "current-context": CONTEXT,
            }

        def write(path: Path, data: dict[str, Any]) -> None:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                yaml.safe_dump(data, handle, sort_keys=False)

        write(self.kubeconfig, config(f"{CONTEXT}-admin", p.cert("admin"), p.key("admin"), embed=True))
        for name in ("kube-controller-manager", "kube-scheduler", "kwok", lws.COMPONENT):
            write(
                self.state_dir / "kubeconfigs" / f"{name}.kubeconfig",
                config(name, p.cert(name), p.key(name), embed=False),
            )

    def _spawn(self, bins: gobuild.GoTool, component: str, args: list[str]) -> None:
        cmd = [str(bins.path(component)), *args]
        env = None
        if not self.detach:
            # localkube arms a parent-death signal (hack/cluster/parent.go): if this Python dies
            # without stopping the cluster, its processes are killed too.
            env = {**os.environ, "LOCALKUBE_PARENT_PID": str(os.getpid())}
        log = self.log_path(component).open("ab")
        try:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.state_dir,
                start_new_session=True,  # Ctrl-C in the terminal reaches us, not them: we stop them in order
                env=env,
            )
        finally:
            log.close()
        self._procs[component] = proc
        start_time = None
        start_time = _proc_start_time(proc.pid)
        self._state["processes"][component] = {
            "pid": proc.pid,
            "start_time": start_time,
            "log": str(self.log_path(component)),
        }
        self._write_state()
        if not self.detach and not self._atexit:
            atexit.register(self.stop)
            self._atexit = True

    def _write_state(self) -> None:
        path = self.state_dir / "state.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._state, indent=2) + "\n")
        tmp.replace(path)

    def _check_alive(self) -> None:
        for name, rec in self._state.get("processes", {}).items():
            proc = self._procs.get(name)
            dead = proc.poll() is not None if proc else not process_alive(rec)
            if dead:
                raise ClusterError(
                    f"{name} exited during start-up; last lines of {self.log_path(name)}:\n{_tail(self.log_path(name))}"
                )

    def _wait(self, what: str, check: Callable[[], bool], component: str) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            self._check_alive()
            with contextlib.suppress(OSError, ssl.SSLError, http.client.HTTPException, ApiError, ValueError, KeyError):
                if check():
                    return
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"timed out after {self.timeout:.0f} s waiting for {what}; last lines of "
                    f"{self.log_path(component)}:\n{_tail(self.log_path(component))}"
                )
            time.sleep(0.1)

    @staticmethod
    def _readyz(port: int) -> bool:
        """controller-runtime's plain-HTTP probe endpoint (no proxy: it is loopback)."""
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", "/readyz")
            return conn.getresponse().status == 200
        finally:
            conn.close()

    @staticmethod
    def _healthz(port: int) -> bool:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # the component's self-signed serving cert, loopback only
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", context=ctx, timeout=2) as resp:
            return resp.status == 200

    @staticmethod
    def _exists(rest: Rest, path: str) -> bool:
        return rest.request("GET", path)[0] == 200

    @staticmethod
    def _nodes_ready(rest: Rest, names: list[str]) -> bool:
        items = rest.get(f"/api/v1/nodes?labelSelector={nodes.NODEPOOL_LABEL}")["items"]
        ready = {
            n["metadata"]["name"]
            for n in items
            for c in (n.get("status") or {}).get("conditions") or []
            if c["type"] == "Ready" and c["status"] == "True"
        }
        return set(names) <= ready

    def stop(self, timeout: float = 15) -> dict[str, int]:
        """Stop every process this cluster recorded (SIGTERM, then SIGKILL after ``timeout``).

        Clients first, etcd last. Returns component -> PID of what was signalled.
        Safe to call twice and on a cluster that never started.
        """
        if self._atexit:
            atexit.unregister(self.stop)
            self._atexit = False
        records = self._state.get("processes", {})
        if not records:
            return {}
        t0 = time.monotonic()
        signalled: dict[str, int] = {}
        clients = [n for n in reversed(ORDER) if n in records and n != "etcd"]
        for group in (clients, ["etcd"] if "etcd" in records else []):
            live = []
            for name in group:
                rec = records[name]
                if process_alive(rec):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(rec["pid"], signal.SIGTERM)
                        signalled[name] = rec["pid"]
                        live.append(name)
            deadline = time.monotonic() + timeout
            while live and time.monotonic() < deadline:
                self._reap()
                live = [n for n in live if process_alive(records[n])]
                if live:
                    time.sleep(0.05)
            for name in live:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(records[name]["pid"], signal.SIGKILL)
            while live:
                self._reap()
                live = [n for n in live if process_alive(records[n])]
                if live:
                    time.sleep(0.02)
        self._reap()
        # etcd preallocates 64 MB WAL segments; the data is useless once stopped (start makes a new store).
        if not any(process_alive(rec) for rec in records.values()):
            shutil.rmtree(self.state_dir / "etcd", ignore_errors=True)
        self._state["stop_seconds"] = round(time.monotonic() - t0, 1)
        self._state["stopped"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with contextlib.suppress(OSError):
            if self.state_dir.is_dir():
                self._write_state()
        if signalled:
            stopped = ", ".join(f"{n} ({pid})" for n, pid in signalled.items())
            self._say(f"stopped {stopped} in {self._state['stop_seconds']:.1f} s")
        return signalled

    def _reap(self) -> None:
        for proc in self._procs.values():
            proc.poll()
        # A detached cluster started by this same process (e.g. `cluster up` called in-process):
        # its exited children are ours to reap, or they linger as zombies until we exit.
        for rec in self._state.get("processes", {}).values():
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(rec["pid"], os.WNOHANG)
