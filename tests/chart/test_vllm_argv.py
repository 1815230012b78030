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


def vllm_containers(objects: list[dict], kind: str) -> list[tuple[str, dict]]:
    """(name, container) of the vllm containers that take vLLM arguments, in objects of one kind."""
    found = []
    for obj in of_kind(objects, kind):
        if kind == "LeaderWorkerSet":
            pod = obj["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"]
        else:
            pod = obj["spec"]["template"]["spec"]
        found += [(obj["metadata"]["name"], c) for c in pod["containers"] if c["name"] == "vllm"]
    return found


def argvs_of(command: str) -> dict[str, list[str]]:
    """Every rendered argv for `vllm serve` (Deployments, LeaderWorkerSet leaders) or `vllm run-batch`."""
    kinds = ("Job",) if command == "run-batch" else ("Deployment", "LeaderWorkerSet")
    argvs = {}
    for path in FILES:
        objects = render(values_files=[path])
        for kind in kinds:
            for name, container in vllm_containers(objects, kind):
                # run-batch gets -i/-o from the Job's script; the rest is the container's args.
                prefix = ["-i", "/batch/requests.jsonl", "-o", "/batch/results.jsonl"] if command == "run-batch" else []
                argvs[f"{path.name}: {kind}/{name}"] = prefix + container["args"]
    return argvs


@pytest.mark.vllm_parser
@pytest.mark.parametrize("command", ["serve", "run-batch"])
def test_every_rendered_argv_is_accepted_by_vllm(command):
    argvs = argvs_of(command)
    assert argvs, f"no values file renders a `vllm {command}`"
    results = check_argvs(pinned_vllm_version(CHART), list(argvs.values()), command=command)
    rejected = {name: r.error for name, r in zip(argvs, results, strict=True) if not r.ok}
    assert rejected == {}


@pytest.mark.vllm_parser
def test_the_parser_still_refuses_what_it_must():
    """A parser gone permissive would pass every file above; these must keep failing."""
    version = pinned_vllm_version(CHART)
    refused = check_argvs(version, [["m", "--no-such-flag"], ["m", "--tensor-parallel", "2"]])
    assert [r.ok for r in refused] == [False, False]
    (batch,) = check_argvs(version, [["--model", "m"]], command="run-batch")
    assert not batch.ok
    assert "-i" in batch.error or "input" in batch.error
