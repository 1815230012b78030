"""Pass-through values against the Kubernetes OpenAPI schema (kubernetes-validate's strict rendering of the
pinned oldest GKE minor): a misspelt field inside securityContext, affinity, tolerations, ... is reported by
`vllm-serving validate`, naming the value's path. Helm's schema keeps these objects open, so it cannot."""

from __future__ import annotations

import pytest

from paths import CHART, CI_FILES
from vllm_serving import passthrough
from vllm_serving.validate import check_file, main


def said(where: str, error: str, kind: str) -> str:
    return (
        f"{where}: {error} in Kubernetes 1.33's {kind}; the API server drops an unknown field and refuses a wrong type"
    )


def unknown(field: str) -> str:
    return f"Additional properties are not allowed ('{field}' was unexpected)"


SPREAD = {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule"}
SECRET = {"secretKeyRef": {"name": "hf", "key": "token", "optinal": True}}

# key -> (a value with one mistake, the message)
MISTAKES = {
    "securityContext": ({"runAsNonroot": True}, said("securityContext", unknown("runAsNonroot"), "SecurityContext")),
    "podSecurityContext": (
        {"runAsUser": "root"},
        said("podSecurityContext.runAsUser", "'root' is not of type 'integer', 'null'", "PodSecurityContext"),
    ),
    "affinity": ({"nodeAfinity": {}}, said("affinity", unknown("nodeAfinity"), "Affinity")),
    "tolerations": (
        [{"key": "cloud.google.com/gke-spot", "operator": "Exists"}, {"key": "a", "efect": "NoSchedule"}],
        said("tolerations.1", unknown("efect"), "Toleration"),
    ),
    "topologySpreadConstraints": (
        [SPREAD | {"labelSelectr": {}}],
        said("topologySpreadConstraints.0", unknown("labelSelectr"), "TopologySpreadConstraint"),
    ),
    "env": (
        [{"name": "HF_TOKEN", "valueFrom": SECRET}],
        said("env.0.valueFrom.secretKeyRef", unknown("optinal"), "EnvVar"),
    ),
}


def test_every_pass_through_key_has_a_case():
    assert set(MISTAKES) == set(passthrough.PASS_THROUGH)


@pytest.mark.parametrize("key", MISTAKES)
def test_a_mistake_is_named_by_its_path(key):
    value, message = MISTAKES[key]
    assert passthrough.problems({key: value}, {}) == [message]


def test_a_value_equal_to_the_chart_default_is_not_checked_again():
    assert passthrough.problems({"affinity": {"nodeAfinity": {}}}, {"affinity": {"nodeAfinity": {}}}) == []


def test_the_scheduling_ci_file_passes():
    path = CHART / "ci" / "scheduling-values.yaml"
    assert path in CI_FILES
    assert check_file(path, CHART).problems == []


def test_validate_reports_it(tmp_path, capsys):
    path = tmp_path / "spot.yaml"
    path.write_text(
        "tolerations:\n  - {key: cloud.google.com/gke-spot, operator: Equal, value: 'true', efect: NoSchedule}\n"
    )
    assert main([str(path)]) == 1
    out = capsys.readouterr().out
    assert f"  - {said('tolerations.0', unknown('efect'), 'Toleration')}" in out
