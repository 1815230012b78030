"""Every values file in values/ and charts/vllm-serving/ci/: valid, rendered, and every rendered object
accepted by the Kubernetes JSON schemas (strict) of each minor version GKE offers, and custom resources
by the schemas of their upstream CRDs."""

from __future__ import annotations

import pytest

from paths import CHART, CI_FILES, VALUES_FILES
from support import kubeschemas
from support.manifests import render, render_file
from vllm_serving import helm
from vllm_serving.chart import GKE_MINOR_VERSIONS
from vllm_serving.verdict import chart_verdict, sizing_warnings

ALL_FILES = VALUES_FILES + CI_FILES


def test_there_are_values_files():
    assert len(VALUES_FILES) >= 2
    assert len(CI_FILES) >= 5


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
class TestEveryValuesFile:
    def test_the_chart_accepts_it_and_the_model_fits_its_gpus(self, path):
        verdict = chart_verdict(CHART, [path])
        assert verdict.problems == []
        assert sizing_warnings(verdict.values, CHART) == []

    @pytest.mark.parametrize("minor", GKE_MINOR_VERSIONS)
    def test_objects_match_kubernetes_schemas(self, path, minor):
        # One render serves every version: no template reads the Kubernetes version (guarded below).
        objects = render_file(path)
        assert objects
        assert [p for obj in objects for p in kubeschemas.problems(obj, f"{minor}.0")] == []

    def test_renders_byte_identical_twice(self, path):
        """No random values, timestamps or cluster lookups: Argo CD sees no drift."""
        first = helm.template(CHART, values_files=[path])
        assert helm.template(CHART, values_files=[path]) == first


def test_no_template_reads_the_kubernetes_version():
    """Each file is rendered once and its objects checked against every GKE version's schemas; a template
    that branched on the version would need a render per version instead."""
    sources = "\n".join(p.read_text() for p in (CHART / "templates").rglob("*") if p.is_file())
    assert "KubeVersion" not in sources


@pytest.mark.parametrize("minor", GKE_MINOR_VERSIONS)
def test_chart_kube_version_admits_every_gke_minor(minor):
    """Chart.yaml's kubeVersion lets Helm render for each minor version GKE offers."""
    assert render(kube_version=f"{minor}.0")


@pytest.mark.parametrize("path", VALUES_FILES, ids=lambda p: p.name)
def test_values_file_carries_schema_modeline(path):
    assert (
        path.read_text().splitlines()[0] == "# yaml-language-server: $schema=../charts/vllm-serving/values.schema.json"
    )


def test_chart_templates_use_no_nondeterministic_functions():
    sources = "\n".join(p.read_text() for p in (CHART / "templates").rglob("*") if p.is_file())
    for function in (
        "lookup",
        "randAlphaNum",
        "randAlpha",
        "randNumeric",
        "randAscii",
        "uuidv4",
        "now",
        "genCA",
        "genPrivateKey",
    ):
        assert f"{function} " not in sources and f"({function}" not in sources, function
