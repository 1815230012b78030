"""Check endpoint-picker (EPP) argument lists with the EPP's own flag set, at the pinned release.

``hack/epp`` is a small Go module that requires ``sigs.k8s.io/gateway-api-inference-extension`` at the
version the chart pins and runs the EPP's ``Options`` (``pkg/epp/server``): ``AddFlags``, parse,
``Complete`` and ``Validate``, as ``cmd/epp``'s runner does before it starts, and loads EndpointPickerConfig
texts through the EPP's config loader (``pkg/epp/config/loader``), and plays the EPP's request path for one
request at a pool with no pod, one joining later if asked (``hold``), and runs the EPP itself against an API
server as its ServiceAccount (``serve``: cmd/epp's runner setup). It pins v1.5.0, the last Gateway API
Inference Extension release with the full picker: its successor, ``github.com/llm-d/llm-d-router``, is not
served by the Go module proxy (403 for every version). It is built once
(``vllm_serving.gobuild``), like the cluster binaries.
"""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vllm_serving import gobuild
from vllm_serving.errors import ToolMissing

SOURCE = Path(__file__).resolve().parents[2] / "hack" / "epp"
TOOL = gobuild.GoTool("eppflags", "the EPP flag checker (hack/epp)", ("eppflags",), src=SOURCE)


@dataclass(frozen=True)
class EppVerdict:
    argv: list[str]
    ok: bool
    error: str
    flags: dict[str, str]


def pinned_release(src: Path = SOURCE) -> str:
    """The Gateway API Inference Extension version hack/epp/go.mod requires."""
    for line in (src / "go.mod").read_text().splitlines():
        parts = line.split()
        if parts[:2] == ["require", "sigs.k8s.io/gateway-api-inference-extension"]:
            return parts[2]
        if parts[:1] == ["sigs.k8s.io/gateway-api-inference-extension"]:
            return parts[1]
    raise ToolMissing(f"{src / 'go.mod'} requires no sigs.k8s.io/gateway-api-inference-extension")


def _ask(mode: list[str], request: list | dict, timeout: float = 120) -> list | dict:
    return _run(mode, request, timeout)[0]


def _run(mode: list[str], request: list | dict, timeout: float) -> tuple[list | dict, str]:
    """The checker's answer and its log (stderr)."""
    done = subprocess.run(
        [str(TOOL.ensure() / "eppflags"), *mode],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise ToolMissing(f"the EPP checker failed (exit {done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout), done.stderr


def check(argvs: Sequence[Sequence[str]]) -> list[EppVerdict]:
    """The EPP's verdict on each argv (its container args)."""
    answers = _ask([], [list(a) for a in argvs])
    return [EppVerdict(list(a), v["ok"], v["error"], v.get("flags") or {}) for a, v in zip(argvs, answers, strict=True)]


@dataclass(frozen=True)
class ConfigVerdict:
    ok: bool
    error: str
    feature_gates: list[str]


def check_configs(texts: Sequence[str]) -> list[ConfigVerdict]:
    """The EPP's config loader's verdict on each EndpointPickerConfig text (its --config-file): strict
    decoding, known feature gates, plugins and scheduling profiles instantiated; and the gates it enables."""
    answers = _ask(["config"], list(texts))
    return [ConfigVerdict(v["ok"], v["error"], v.get("featureGates") or []) for v in answers]


@dataclass(frozen=True)
class HoldVerdict:
    held_ms: int
    code: str
    message: str
    endpoint: str
    while_held: list[dict]


def hold(
    config: str,
    args: Sequence[str],
    model: str,
    *,
    wait_ms: int = 1000,
    peek_ms: int = 300,
    pod_after_ms: int = 0,
    empty_subset: bool = False,
) -> HoldVerdict:
    """One request for `model` through the EPP's own request path, wired as cmd/epp's runner wires it from
    the picker's argv (`args`: its --pool-name, --disable-endpoint-subset-filter) and config text (the
    admission control its feature gates choose, its scheduler and parser), at a pool with no pod; the
    gateway gives up after wait_ms. With pod_after_ms a serving pod joins the pool then (as the picker's
    pod reconciler and first scrape of an idle vLLM would add it); with empty_subset the request carries
    the gateway's endpoint-subset hint as it is while the pool has no endpoint (an empty list). Returns
    how long the picker kept the request, its error code and message (empty if it routed the request), the
    endpoint it chose, and the picker's gauges and counters (PromQL series) at peek_ms if it still held the
    request then."""
    request = {
        "config": config,
        "args": list(args),
        "model": model,
        "waitMs": wait_ms,
        "peekMs": peek_ms,
        "podAfterMs": pod_after_ms,
        "emptySubset": empty_subset,
    }
    answer = _ask(["hold"], request)
    if answer["error"]:
        raise ToolMissing(f"the EPP could not be set up from the config: {answer['error']}")
    return HoldVerdict(
        answer["heldMs"], answer["code"], answer["message"], answer["endpoint"], answer["whileHeld"] or []
    )


@dataclass(frozen=True)
class ServeVerdict:  # what the running picker held
    error: str
    pool_synced: bool
    endpoints: list[str]
    objectives: dict[str, int]
    health: str
    metrics: int  # the HTTP status of /metrics to a scraper without a token


def serve(
    kubeconfig: Path,
    service_account: str,
    namespace: str,
    args: Sequence[str],
    config: str,
    *,
    objectives: Sequence[str] = (),
    pods: int = 1,
    wait_ms: int = 20000,
) -> ServeVerdict:
    """Run the EPP itself (cmd/epp's runner setup: its flags, config loader, controller manager, reconcilers,
    datastore, ext-proc and health servers) from the chart's argv and config, against the cluster of
    `kubeconfig` as the picker's ServiceAccount (impersonated, so only the chart's RBAC applies), on free
    local ports, until it has synced its InferencePool and holds `pods` serving pods and the named
    InferenceObjectives, or wait_ms passes. Returns what it holds, its gRPC health answer and what its
    /metrics answers a scraper without a token."""
    request = {
        "kubeconfig": str(kubeconfig),
        "as": f"system:serviceaccount:{namespace}:{service_account}",
        "args": list(args),
        "config": config,
        "ports": _free_ports(3),
        "objectives": list(objectives),
        "pods": pods,
        "waitMs": wait_ms,
    }
    answer, log = _run(["serve"], request, timeout=wait_ms / 1000 + 60)
    # On failure the picker's own log says why (a forbidden list or watch, a CRD it did not find).
    error = f"{answer['error']}; the picker's log ends: {log[-3000:]}" if answer["error"] else ""
    return ServeVerdict(
        error,
        answer["poolSynced"],
        answer["endpoints"] or [],
        answer["objectives"] or {},
        answer["health"],
        answer["metrics"],
    )


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
