"""Security contexts of every container the chart renders, across every values and ci file."""

from __future__ import annotations

import pytest

from paths import CI_FILES, VALUES_FILES
from support.manifests import render_file
from vllm_serving import chart as chart_mod

FILES = VALUES_FILES + CI_FILES
# The only container allowed privileges: the opt-in NFS read-ahead tuning (sysfs is writable only there).
PRIVILEGED_OPT_IN = "tune-read-ahead"


def pod_specs(objects: list[dict]) -> list[tuple[str, dict]]:
    """(object, pod spec) of every workload, the LeaderWorkerSet's leader and worker and the hooks."""
    found = []
    for obj in objects:
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        if obj["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
            found.append((name, obj["spec"]["template"]["spec"]))
        elif obj["kind"] == "LeaderWorkerSet":
            template = obj["spec"]["leaderWorkerTemplate"]
            found += [(f"{name} leader", template["leaderTemplate"]["spec"])]
            found += [(f"{name} worker", template["workerTemplate"]["spec"])]
    return found


@pytest.fixture(scope="module", params=FILES, ids=lambda p: p.name)
def rendered(request):
    """The file's objects, without the containers the user wrote (extraContainers, extraInitContainers)."""
    values = chart_mod.load_values_file(request.param)
    theirs = {c["name"] for key in ("extraContainers", "extraInitContainers") for c in values.get(key) or []}
    objects = render_file(request.param)
    for _, spec in pod_specs(objects):
        for key in ("containers", "initContainers"):
            if key in spec:
                spec[key] = [c for c in spec[key] if c["name"] not in theirs]
    return objects


def test_every_container_drops_all_capabilities_and_never_escalates(rendered):
    weak = []
    for where, spec in pod_specs(rendered):
        for container in spec.get("initContainers", []) + spec["containers"]:
            context = container.get("securityContext") or {}
            if container["name"] == PRIVILEGED_OPT_IN:
                assert context == {"privileged": True}, where
                continue
            if "ALL" not in (context.get("capabilities") or {}).get("drop", []):
                weak.append(f"{where} {container['name']}: capabilities.drop lacks ALL")
            if context.get("allowPrivilegeEscalation") is not False:
                weak.append(f"{where} {container['name']}: allowPrivilegeEscalation is not false")
            if context.get("privileged"):
                weak.append(f"{where} {container['name']}: privileged")
    assert weak == []


def test_every_pod_uses_the_runtime_default_seccomp_profile(rendered):
    for where, spec in pod_specs(rendered):
        pod_level = (spec.get("securityContext") or {}).get("seccompProfile")
        for container in spec.get("initContainers", []) + spec["containers"]:
            if container["name"] == PRIVILEGED_OPT_IN:
                continue
            profile = (container.get("securityContext") or {}).get("seccompProfile") or pod_level
            assert profile == {"type": "RuntimeDefault"}, f"{where} {container['name']}"


def test_the_chat_ui_and_the_test_pod_run_as_non_root(rendered):
    """They need no root; vLLM's image has no other user (a documented exception)."""
    for where, spec in pod_specs(rendered):
        if where.endswith(("-chat-ui", "-test")):
            assert spec["securityContext"]["runAsNonRoot"] is True, where
            assert spec["securityContext"]["runAsUser"] > 0, where


def test_every_container_declares_requests_and_limits(rendered):
    """A namespace with a compute ResourceQuota refuses pods whose containers lack them."""
    for where, spec in pod_specs(rendered):
        for container in spec.get("initContainers", []) + spec["containers"]:
            resources = container.get("resources") or {}
            assert resources.get("requests", {}).get("memory"), f"{where} {container['name']}"
            assert resources.get("limits", {}).get("memory"), f"{where} {container['name']}"
