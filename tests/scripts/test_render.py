"""`vllm-serving render`."""

from __future__ import annotations

import yaml

from paths import VALUES_FILES
from vllm_serving.cli import main


def test_prints_the_manifests(capsys):
    assert main(["render", str(VALUES_FILES[0]), "--release", "gemma", "--namespace", "llm"]) == 0
    objects = [o for o in yaml.safe_load_all(capsys.readouterr().out) if o]
    kinds = sorted(o["kind"] for o in objects)
    assert "Deployment" in kinds and "Service" in kinds
    deployment = next(
        o
        for o in objects
        if o["kind"] == "Deployment" and o["metadata"]["labels"]["app.kubernetes.io/component"] == "server"
    )
    assert deployment["metadata"]["name"] == "gemma-vllm-serving"


def test_show_only_and_layered_values(tmp_path, capsys):
    override = tmp_path / "override.yaml"
    override.write_text("replicaCount: 3\n")
    assert main(["render", str(VALUES_FILES[0]), str(override), "--show-only", "templates/deployment.yaml"]) == 0
    (deployment,) = [o for o in yaml.safe_load_all(capsys.readouterr().out) if o]
    assert deployment["spec"]["replicas"] == 3


def test_invalid_values_exit_one_with_the_charts_message(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("parallelism: {tensor: 16}\n")
    assert main(["render", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "error: values are invalid:" in err
    assert "parallelism.tensor: 16 exceeds the 8 GPUs of the largest nvidia-l4 machine (g2-standard-96)" in err
