"""The rendered `vllm serve` argv of every values file, checked by vLLM's own parser of the pinned release."""

from __future__ import annotations

import pytest
import yaml

from paths import CHART, CI_FILES, VALUES_FILES
from vllm_serving.manifests import of_kind, render
from vllm_serving.vllm_parser import check_argvs, pinned_vllm_version

FILES = VALUES_FILES + CI_FILES


def test_image_tag_app_version_and_parser_pin_agree():
    version = pinned_vllm_version(CHART)
    chart_yaml = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart_yaml["appVersion"] == f"v{version}"
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["image"] == {"repository": "vllm/vllm-openai", "tag": f"v{version}", "pullPolicy": "IfNotPresent"}


@pytest.mark.vllm_parser
def test_every_rendered_argv_is_accepted_by_vllm():
    argvs = {
        f"{path.name}: {deployment['metadata']['name']}": container["args"]
        for path in FILES
        for deployment in of_kind(render(values_files=[path]), "Deployment")
        for container in deployment["spec"]["template"]["spec"]["containers"]
        if container["name"] == "vllm"
    }
    results = check_argvs(pinned_vllm_version(CHART), list(argvs.values()))
    rejected = {name: r.error for name, r in zip(argvs, results, strict=True) if not r.ok}
    assert rejected == {}
    assert len(results) >= len(FILES)
