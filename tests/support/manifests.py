"""Rendered manifests as Python objects: render the chart and find what a check or a test needs."""

from __future__ import annotations

import functools
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vllm_serving import chart as chart_mod
from vllm_serving import helm

Object = dict[str, Any]


def render(
    values: dict[str, Any] | None = None,
    show_only: str | Sequence[str] = (),
    values_files: Sequence[Path] = (),
    chart: Path | None = None,
    **kwargs: Any,
) -> list[Object]:
    """Render the chart with helm and return the parsed objects (only those of show_only, if given)."""
    if isinstance(show_only, str):
        show_only = [show_only]
    manifest = helm.template(chart or chart_mod.chart_dir(), values, values_files, show_only=show_only, **kwargs)
    return helm.objects(manifest)


def render_file(path: Path) -> list[Object]:
    """The objects of one values file (release "vllm", namespace "default"). Several test modules check
    every values file; each file is rendered once per session, and every call parses a fresh copy."""
    return helm.objects(_template_file(path))


@functools.cache
def _template_file(path: Path) -> str:
    return helm.template(chart_mod.chart_dir(), values_files=[path])


def of_kind(objects: Sequence[Object], kind: str) -> list[Object]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: Sequence[Object], kind: str) -> Object:
    """The single object of a kind; an AssertionError names what was there instead."""
    found = of_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, found {[o['kind'] for o in objects]}"
    return found[0]


def serving_pod_spec(objects: Sequence[Object]) -> Object:
    """The pod spec of the serving workload."""
    return one(objects, "Deployment")["spec"]["template"]["spec"]


def vllm_container(objects: Sequence[Object]) -> Object:
    return next(c for c in serving_pod_spec(objects)["containers"] if c["name"] == "vllm")


def hooks(objects: Sequence[Object], hook: str) -> list[Object]:
    """Objects annotated as the given Helm hook (e.g. "test")."""
    return [o for o in objects if hook in o["metadata"].get("annotations", {}).get("helm.sh/hook", "").split(",")]


def notes(values: dict[str, Any] | None = None, chart: Path | None = None, **kwargs: Any) -> str:
    """NOTES.txt as `helm install` would print it, without a cluster.

    `helm template` never renders NOTES.txt, so a copy of the chart renders its text through `tpl`
    in an ordinary template.
    """
    source = chart or chart_mod.chart_dir()
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / source.name
        shutil.copytree(source, copy)
        (copy / "notes-source.txt").write_text((copy / "templates" / "NOTES.txt").read_text())
        (copy / "templates" / "NOTES.txt").unlink()
        (copy / "templates" / "notes.yaml").write_text('text: {{ tpl (.Files.Get "notes-source.txt") . | toJson }}\n')
        rendered = helm.template(copy, values, show_only=["templates/notes.yaml"], **kwargs)
    return str(helm.objects(rendered)[0]["text"])


_REFERENCE = re.compile(r"\$(\$|\(([^)]*)\))")


def kubelet_expand(text: str, env: Mapping[str, str]) -> str:
    """A container's command or arg as the kubelet runs it: `$(NAME)` becomes the container's variable
    NAME, or stays as written when there is none; `$$` becomes `$`. (Kubernetes v1.36.4,
    third_party/forked/golang/expansion/expand.go, applied by pkg/kubelet/kubelet_pods.go.)"""
    return _REFERENCE.sub(lambda m: "$" if m.group(1) == "$" else env.get(m.group(2), m.group(0)), text)


def lws_pod_env(lws: str, namespace: str, group: int, worker: int, size: int) -> dict[str, str]:
    """What the LeaderWorkerSet v0.9.0 pod webhook injects into every container of a group's pod
    (pkg/utils/pod/pod_utils.go AddLWSVariables), with the default shared subdomain: the LWS's name,
    which is also the name of the headless Service the controller creates."""
    return {
        "LWS_LEADER_ADDRESS": f"{lws}-{group}.{lws}.{namespace}",
        "LWS_GROUP_SIZE": str(size),
        "LWS_WORKER_INDEX": str(worker),
    }


def group_argvs(lws: Object, namespace: str, group: int = 0) -> list[list[str]]:
    """The `vllm` argv of each pod of one LeaderWorkerSet group, leader first, as the kubelet would run it
    with the variables the LWS webhook injects."""
    template = lws["spec"]["leaderWorkerTemplate"]
    size = int(template["size"])
    argvs = []
    for worker in range(size):
        pod = template["leaderTemplate" if worker == 0 else "workerTemplate"]
        (container,) = [c for c in pod["spec"]["containers"] if c["name"] == "vllm"]
        env = lws_pod_env(lws["metadata"]["name"], namespace, group, worker, size)
        for e in container.get("env", []):  # the webhook's variables come first and win
            if "value" in e and e["name"] not in env:
                env[e["name"]] = kubelet_expand(e["value"], env)
        argvs.append([kubelet_expand(arg, env) for arg in container["command"] + container.get("args", [])])
    return argvs
