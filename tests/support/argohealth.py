"""Argo CD's health assessment, run with Argo CD's own code (hack/argohealth: gitops-engine's health package
and argo-cd's util/lua, whose Lua health scripts run in gopher-lua), built once through vllm_serving.gobuild.

``assess(objects, argocd_cm)`` -> the reply of hack/argohealth/main.go: each object's health as Argo CD
reports it, the application's (hooks left out, the worst status wins) and the objects a sync waits for
before its PostSync hooks run.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml

from vllm_serving import gobuild

REPO = Path(__file__).resolve().parents[2]
TOOL = gobuild.GoTool(
    "argohealth", "Argo CD's health assessment (hack/argohealth)", ("argohealth",), src=REPO / "hack" / "argohealth"
)
ARGOCD_CM = REPO / "examples" / "argocd" / "argocd-cm.yaml"


def example_argocd_cm() -> dict[str, str]:
    """The data of the argocd-cm ConfigMap that examples/argocd ships."""
    return yaml.safe_load(ARGOCD_CM.read_text())["data"]


def assess(objects: Iterable[Mapping], argocd_cm: Mapping[str, str] | None = None) -> dict:
    request = {"argocd_cm": dict(argocd_cm or {}), "objects": list(objects)}
    proc = subprocess.run(
        [str(TOOL.ensure() / "argohealth")], input=json.dumps(request), capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"hack/argohealth failed: {proc.stderr.strip()}")
    reply = json.loads(proc.stdout)
    assert reply["errors"] == [], reply["errors"]
    return reply


def by_kind(reply: dict) -> dict[str, dict]:
    """Each object's health keyed by "Kind/name"."""
    return {f"{o['kind']}/{o['name']}": o for o in reply["objects"]}
