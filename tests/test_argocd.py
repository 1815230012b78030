"""examples/argocd/applicationset.yaml: one Application per values file, each rendering unchanged."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest
import yaml

from paths import CI_FILES, REPO, VALUES_FILES
from support import argohealth
from support.manifests import one, render, render_file

APPSET = yaml.safe_load((REPO / "examples" / "argocd" / "applicationset.yaml").read_text())
TEMPLATE = APPSET["spec"]["template"]
SOURCE = TEMPLATE["spec"]["source"]


def fill(text: str, values_file: Path) -> str:
    """Argo CD's git files generator parameters for one file, applied to the few template forms used."""
    relative = values_file.relative_to(REPO)
    params = {".path.filename": relative.name, ".path.path": str(relative.parent)}
    release = relative.name.removesuffix(".yaml").replace(".", "-")
    text = re.sub(r'{{ trimSuffix "\.yaml" \.path\.filename \| replace "\." "-" }}', release, text)
    for key, value in params.items():
        text = text.replace("{{ " + key + " }}", value)
    assert "{{" not in text, f"unfilled template in {text}"
    return text


def test_generator_selects_exactly_the_values_files():
    pattern = APPSET["spec"]["generators"][0]["git"]["files"][0]["path"]
    tracked = sorted(str(p.relative_to(REPO)) for p in (REPO / "values").iterdir())
    assert sorted(p for p in tracked if fnmatch.fnmatch(p, pattern)) == [str(p.relative_to(REPO)) for p in VALUES_FILES]


def test_source_points_at_the_chart():
    assert (REPO / SOURCE["path"] / "Chart.yaml").is_file()
    assert SOURCE["repoURL"] == APPSET["spec"]["generators"][0]["git"]["repoURL"]


@pytest.mark.parametrize("values_file", VALUES_FILES, ids=lambda p: p.name)
def test_each_application_renders_its_values_file_with_the_check_as_a_post_sync_hook(values_file, tmp_path):
    """One render per Application, as Argo CD makes it: helm.valuesObject layered over the valueFiles
    (precedence: parameters > valuesObject > values > valueFiles,
    https://argo-cd.readthedocs.io/en/stable/user-guide/helm/#values). Self-heal re-creates a Job the TTL
    controller deleted (https://github.com/argoproj/argo-cd/issues/8586), so no rendered batch Job may
    carry a TTL; Argo skips `helm.sh/hook: test`, so the check must be a PostSync hook."""
    name = fill(TEMPLATE["metadata"]["name"], values_file)
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,51}[a-z0-9])?", name), f"{name} is not a valid Application name"
    value_paths = [REPO / SOURCE["path"] / fill(v, values_file) for v in SOURCE["helm"]["valueFiles"]]
    assert [p.resolve() for p in value_paths] == [values_file.resolve()]
    override = tmp_path / "values-object.yaml"
    override.write_text(yaml.safe_dump(SOURCE["helm"]["valuesObject"]))
    release = fill(SOURCE["helm"]["releaseName"], values_file)
    objects = render(values_files=[*value_paths, override], release=release)
    for obj in objects:
        assert obj["metadata"]["labels"]["app.kubernetes.io/instance"] == release
        assert "." not in obj["metadata"]["name"], obj["metadata"]["name"]
    jobs = [o for o in objects if o["kind"] == "Job"]
    assert jobs
    for job in jobs:
        annotations = job["metadata"].get("annotations", {})
        if annotations.get("helm.sh/hook") == "test":
            assert annotations["argocd.argoproj.io/hook"] == "PostSync"
        else:
            assert "ttlSecondsAfterFinished" not in job["spec"], job["metadata"]["name"]


# Argo CD's health assessment, with Argo CD's own code (hack/argohealth: gitops-engine pkg/health and
# argo-cd util/lua running the Lua health scripts in gopher-lua).

MULTINODE = next(p for p in VALUES_FILES if p.name == "llama-3.1-405b-instruct-h100-multinode.yaml")
LWS_KEY = "resource.customizations.health.leaderworkerset.x-k8s.io_LeaderWorkerSet"


def lws_with(generation: int, conditions: list[tuple[str, int]], ready: int = 0, updated: int = 0) -> dict:
    """A LeaderWorkerSet of two groups as its controller leaves it (lws v0.9.0 updateConditions/setConditions):
    (type, observedGeneration) for each condition that is True."""
    lws = one(render_file(MULTINODE), "LeaderWorkerSet")
    lws["spec"]["replicas"] = 2
    lws["metadata"]["generation"] = generation
    lws["status"] = {
        "readyReplicas": ready,
        "updatedReplicas": updated,
        "replicas": 2,
        "conditions": [{"type": t, "status": "True", "observedGeneration": g} for t, g in conditions],
    }
    return lws


@pytest.mark.argo_health
def test_argo_has_no_health_for_a_leaderworkerset_without_the_example_and_calls_the_app_healthy():
    """The defect the example fixes: with no check for the kind, Argo assesses nothing, so a sync runs its
    PostSync hook while the group is still loading."""
    reply = argohealth.assess(render_file(MULTINODE))
    assert argohealth.by_kind(reply)["LeaderWorkerSet/vllm-vllm-serving-lws"]["status"] == ""
    assert (reply["app"], reply["waiting"]) == ("Healthy", [])


@pytest.mark.argo_health
def test_the_example_argocd_cm_adds_the_check_argo_reads():
    data = argohealth.example_argocd_cm()
    assert list(data) == [LWS_KEY]
    reply = argohealth.assess(render_file(MULTINODE), data)
    assert argohealth.by_kind(reply)["LeaderWorkerSet/vllm-vllm-serving-lws"]["status"] == "Progressing"
    assert reply["waiting"] == ["leaderworkerset.x-k8s.io/LeaderWorkerSet/vllm-vllm-serving-lws"]


@pytest.mark.argo_health
@pytest.mark.parametrize(
    ("state", "status", "message"),
    [
        ((3, [("Available", 3)], 2, 2), "Healthy", "All 2 groups ready"),
        ((3, [("Progressing", 3)], 1, 2), "Progressing", "1 of 2 groups ready"),
        (
            (3, [("UpdateInProgress", 3), ("Progressing", 3)], 2, 1),
            "Progressing",
            "Rolling update: 1 of 2 groups updated, 2 ready",
        ),
        # Available from the previous spec: the controller has not judged generation 4 yet.
        (
            (4, [("Available", 3)], 2, 2),
            "Progressing",
            "Waiting for the LeaderWorkerSet controller to observe generation 4",
        ),
    ],
    ids=["available", "progressing", "rolling", "stale"],
)
def test_the_leaderworkerset_check_reads_the_controllers_conditions(state, status, message):
    (health,) = argohealth.assess([lws_with(*state)], argohealth.example_argocd_cm())["objects"]
    assert (health["status"], health["message"]) == (status, message)


@pytest.mark.argo_health
def test_every_workload_kind_the_chart_emits_has_a_health_in_argo():
    """Each kind that runs pods (from every values and ci file) gets a health from Argo's code; as rendered,
    before any controller acted, none of them reads as Healthy."""
    workloads = {}
    for path in VALUES_FILES + CI_FILES:
        for obj in render_file(path):
            spec = obj.get("spec", {})
            if "template" in spec or "leaderWorkerTemplate" in spec or obj["kind"] == "Job":
                workloads.setdefault(obj["kind"], obj)
    assert set(workloads) == {"Deployment", "LeaderWorkerSet", "Job"}
    reply = argohealth.assess(workloads.values(), argohealth.example_argocd_cm())
    assert {o["kind"]: o["status"] for o in reply["objects"]} == {
        "Deployment": "Progressing",
        "LeaderWorkerSet": "Progressing",
        "Job": "Progressing",
    }
