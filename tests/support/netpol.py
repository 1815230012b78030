"""NetworkPolicy verdicts from a real evaluator: hack/netpol, a small Go module around cyclonus's policy
matcher (github.com/mattfenwick/cyclonus/pkg/matcher, the version hack/netpol/go.mod pins; network-policy-api's
policy assistant grew from it, and the Go module proxy does not serve that one). Built once through
vllm_serving.gobuild; one run answers every flow of every case.

A peer is a pod, ``{"namespace", "namespaceLabels", "podLabels", "ip"}`` (the API server's
``kubernetes.io/metadata.name`` label is added by hack/netpol), or a host outside the cluster, ``{"ip"}``.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from vllm_serving import gobuild

TOOL = gobuild.GoTool(
    "netpol",
    "the NetworkPolicy evaluator (hack/netpol)",
    ("netpol",),
    src=Path(__file__).resolve().parents[2] / "hack" / "netpol",
)


# GKE's default Pod range: every pod has an IP, which the matcher compares with ipBlocks too.
POD_RANGE = ipaddress.ip_network("10.4.0.0/14")
_pod_ips = itertools.count(10)


def pod(namespace: str, labels: Mapping[str, str], namespace_labels: Mapping[str, str] | None = None) -> dict:
    """A pod (its own IP from POD_RANGE) in a namespace that carries ``namespace_labels``."""
    return {
        "namespace": namespace,
        "namespaceLabels": dict(namespace_labels or {}),
        "podLabels": dict(labels),
        "ip": str(POD_RANGE[next(_pod_ips)]),
    }


def host(ip: str) -> dict:
    return {"ip": ip}


@dataclass(frozen=True)
class Flow:
    """A TCP connection from ``source`` to ``destination``'s ``port``; ``allowed`` is what must happen."""

    why: str
    source: dict
    destination: dict
    port: int
    allowed: bool
    port_name: str = ""

    def request(self) -> dict:
        return {
            "source": self.source,
            "destination": self.destination,
            "port": self.port,
            "portName": self.port_name,
            "protocol": "TCP",
        }


def evaluate(cases: Sequence[tuple[Sequence[dict], Sequence[Flow]]]) -> list[list[dict]]:
    """For each (policies, flows) case, hack/netpol's verdict on each flow: ``allowed`` (ingress and
    egress both admit it), ``ingress``, ``egress``, and the policies ``allowing`` and ``denying`` it."""
    request = {"cases": [{"policies": list(p), "flows": [f.request() for f in flows]} for p, flows in cases]}
    proc = subprocess.run(
        [str(TOOL.ensure() / "netpol")], input=json.dumps(request), capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"hack/netpol failed: {proc.stderr.strip()}")
    return json.loads(proc.stdout)["results"]


if __name__ == "__main__":
    print(TOOL.ensure())
