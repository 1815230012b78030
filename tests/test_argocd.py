"""examples/argocd/applicationset.yaml: one Application per values file, each rendering unchanged."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest
import yaml

from paths import REPO, VALUES_FILES
from support.manifests import render

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
def test_each_application_renders_its_values_file(values_file):
    name = fill(TEMPLATE["metadata"]["name"], values_file)
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,51}[a-z0-9])?", name), f"{name} is not a valid Application name"
    value_paths = [REPO / SOURCE["path"] / fill(v, values_file) for v in SOURCE["helm"]["valueFiles"]]
    assert [p.resolve() for p in value_paths] == [values_file.resolve()]
    release = fill(SOURCE["helm"]["releaseName"], values_file)
    objects = render(values_files=value_paths, release=release)
    assert objects
    for obj in objects:
        assert obj["metadata"]["labels"]["app.kubernetes.io/instance"] == release
        assert "." not in obj["metadata"]["name"], obj["metadata"]["name"]


@pytest.mark.parametrize("values_file", VALUES_FILES, ids=lambda p: p.name)
def test_applications_run_the_check_as_a_post_sync_hook_and_keep_finished_batches(values_file, tmp_path):
    """Argo CD layers helm.valuesObject over the valueFiles (precedence: parameters > valuesObject > values >
    valueFiles, https://argo-cd.readthedocs.io/en/stable/user-guide/helm/#values); helm renders the layers.
    Self-heal re-creates a Job the TTL controller deleted (https://github.com/argoproj/argo-cd/issues/8586),
    so no rendered batch Job may carry a TTL; Argo skips `helm.sh/hook: test`, so the check must be a
    PostSync hook."""
    override = tmp_path / "values-object.yaml"
    override.write_text(yaml.safe_dump(SOURCE["helm"]["valuesObject"]))
    release = fill(SOURCE["helm"]["releaseName"], values_file)
    objects = render(values_files=[values_file, override], release=release)
    jobs = [o for o in objects if o["kind"] == "Job"]
    assert jobs
    for job in jobs:
        annotations = job["metadata"].get("annotations", {})
        if annotations.get("helm.sh/hook") == "test":
            assert annotations["argocd.argoproj.io/hook"] == "PostSync"
        else:
            assert "ttlSecondsAfterFinished" not in job["spec"], job["metadata"]["name"]
