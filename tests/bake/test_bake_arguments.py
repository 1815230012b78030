"""Bad arguments are refused with a clear message before any API call (the fake sees zero requests)."""

from __future__ import annotations

import pytest

from vllm_serving.commands import bake as bake_command
from vllm_serving.commands import nodepool

PROJECT, ZONE = "test-project", "us-central1-a"
IMAGE = ["--project", PROJECT, "--zone", ZONE]
WEIGHTS = ["--project", PROJECT, "--zone", ZONE, "--source", "gs://models/gemma"]
POOL = [
    "create",
    "gpus",
    "--project",
    PROJECT,
    "--cluster",
    "serving",
    "--location",
    "us-central1",
    "--machine-type",
    "g2-standard-24",
    "--accelerator",
    "nvidia-l4",
]


def refused(gcp, main, argv: list[str], *messages: str) -> None:
    result = gcp.run(main, argv)
    assert result.code == 2, result.err
    for message in messages:
        assert message in result.err
    assert gcp.fake.calls == []


@pytest.mark.parametrize(
    ("argv", "messages"),
    [
        (
            ["--image-name", "Vllm_Cache"],
            ["--image-name: 'Vllm_Cache' is not a valid name", "RFC 1035", "starting with a letter"],
        ),
        (["--image-name", "1cache"], ["'1cache' is not a valid name"]),
        (["--image-name", "cache-"], ["'cache-' is not a valid name", "not ending with a hyphen"]),
        (["--image-name", "a" * 64], ["is not a valid name"]),
        (["--family", "My.Family"], ["--family: 'My.Family' is not a valid name"]),
        (["--zone", "us-central1"], ["--zone: 'us-central1' is not a zone", "did you mean us-central1-a?"]),
        (["--zone", "uscentral1a"], ["--zone: 'uscentral1a' is not a zone: expected REGION-LETTER"]),
        (["--zone", "US-CENTRAL1-A"], ["is not a zone"]),
        (["vllm/vllm-openai"], ["image 'vllm/vllm-openai' has no tag: pin a tag or digest"]),
        (["vllm/vllm-openai:latest"], ["the tag 'latest' moves"]),
        (["VLLM/vllm-openai:v1"], ["path component 'VLLM' must be lowercase"]),
        (["vllm/vllm openai:v1"], ["contains whitespace"]),
        (["x/y@sha256:abc"], ["the digest must be sha256: and 64 hex digits"]),
        (["--label", "Team=ml"], ["--label: 'Team=ml' is not a label"]),
        (["--label", "vllm-serving-bake=x"], ["is set by vllm-serving itself"]),
        (["--timeout", "soon"], ["--timeout: 'soon' is not a duration"]),
        (["--disk-size-gb", "5"], ["--disk-size-gb: 5 GB is out of range"]),
        (["--machine-type", "e2 standard"], ["--machine-type: 'e2 standard' is not a machine type"]),
        (["--output", "xml"], ["invalid choice: 'xml'"]),
    ],
)
def test_image_cache_refuses(gcp, argv, messages):
    refused(gcp, bake_command.image_cache, [*IMAGE, "--chart", str(gcp.chart_dir), *argv], *messages)


def test_image_cache_needs_a_project(gcp, monkeypatch):
    monkeypatch.delenv("CLOUDSDK_CORE_PROJECT", raising=False)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    refused(
        gcp, bake_command.image_cache, ["--zone", ZONE, "--chart", str(gcp.chart_dir)], "--project: no project given"
    )


def test_image_cache_bad_project(gcp):
    refused(
        gcp,
        bake_command.image_cache,
        ["--project", "My_Project", "--zone", ZONE, "--chart", str(gcp.chart_dir)],
        "--project: 'My_Project' is not a project ID",
    )


def test_image_cache_not_a_chart(gcp, tmp_path):
    refused(gcp, bake_command.image_cache, [*IMAGE, "--chart", str(tmp_path)], f"{tmp_path} is not a Helm chart")


def test_image_cache_chart_without_values(gcp, tmp_path):
    (tmp_path / "Chart.yaml").write_text("name: x\n")
    refused(
        gcp,
        bake_command.image_cache,
        [*IMAGE, "--chart", str(tmp_path)],
        f"--chart: cannot read {tmp_path}/values.yaml",
        "pass images explicitly",
    )


def test_image_cache_chart_without_an_image(gcp, tmp_path):
    (tmp_path / "Chart.yaml").write_text("name: x\n")
    (tmp_path / "values.yaml").write_text("replicaCount: 1\n")
    refused(gcp, bake_command.image_cache, [*IMAGE, "--chart", str(tmp_path)], "sets no image.repository and image.tag")


def test_image_cache_chart_from_the_environment(gcp, monkeypatch):
    monkeypatch.setenv("VLLM_SERVING_CHART", str(gcp.chart_dir))
    result = gcp.run(bake_command.image_cache, [*IMAGE, "--image-name", "c", "--output", "json"])
    assert result.code == 0, result.err
    assert '"docker.io/vllm/vllm-openai:v0.33.0"' in result.out


@pytest.mark.parametrize(
    ("argv", "messages"),
    [
        (
            ["--disk-size-gb", "100", "--image-size-gb", "200"],
            ["--disk-size-gb: 100 GB is smaller than the image (200 GB, --image-size-gb)"],
        ),
        (["--disk-zone", "us-central1"], ["--disk-zone: 'us-central1' is not a zone"]),
        (["--disk-zone", "us-central1-a,europe"], ["--disk-zone: 'europe' is not a zone"]),
        (["--disk-name", "Gemma"], ["--disk-name: 'Gemma' is not a valid name"]),
        (["--revision", "main"], ["--revision and --hf-token-secret apply to Hugging Face sources only"]),
        (["--read-ahead-kb", "1"], ["--read-ahead-kb: 1 is out of range"]),
        (["--image-name=-x"], ["--image-name: '-x' is not a valid name"]),
    ],
)
def test_weights_disk_refuses(gcp, argv, messages):
    refused(gcp, bake_command.weights_disk, [*WEIGHTS, *argv], *messages)


@pytest.mark.parametrize("source", ["s3://bucket/model", "gs://", "gs://B/upper", "just-a-name", "a/b/c"])
def test_weights_disk_refuses_sources(gcp, source):
    refused(
        gcp,
        bake_command.weights_disk,
        ["--project", PROJECT, "--zone", ZONE, "--source", source],
        f"--source: {source!r} is",
    )


def test_weights_disk_needs_a_source(gcp):
    refused(
        gcp,
        bake_command.weights_disk,
        ["--project", PROJECT, "--zone", ZONE],
        "the following arguments are required: --source",
    )


@pytest.mark.parametrize(
    ("argv", "messages"),
    [
        (["--min-nodes", "3", "--max-nodes", "2"], ["--min-nodes/--max-nodes: 3..2 is not a valid range"]),
        (["--accelerator-count", "3"], ["--accelerator-count: 3 GPUs per node is not offered"]),
        (["--accelerator-count", "16"], ["16 nvidia-l4 GPUs per node is more than g2-standard-96 has (8)"]),
        (["--accelerator", "nvidia-tesla-k80"], ["--accelerator: 'nvidia-tesla-k80' is not a GPU the chart knows"]),
        (["--secondary-boot-disk", "cache", "--no-image-streaming"], ["needs image streaming"]),
        (["--secondary-boot-disk", "Cache_1"], ["--secondary-boot-disk: 'Cache_1' is not a valid name"]),
        (["--secondary-boot-disk", "projects/p/zones/z/disks/d"], ["is not a disk image"]),
        (["--node-locations", "europe-west4-a"], ["europe-west4-a is not in the cluster's region us-central1"]),
        (["--num-nodes", "5", "--max-nodes", "2"], ["--num-nodes: 5 is outside"]),
        (["--node-label", "bad label=x"], ["--node-label: 'bad label=x' is not a Kubernetes label"]),
        (["--timeout", "1y"], ["--timeout: '1y' is not a duration"]),
    ],
)
def test_nodepool_refuses(gcp, argv, messages):
    refused(gcp, nodepool.main, [*POOL, "--chart", str(gcp.chart_dir), *argv], *messages)


def test_nodepool_name_rules(gcp):
    argv = [*POOL, "--chart", str(gcp.chart_dir)]
    argv[1] = "a" * 41
    refused(gcp, nodepool.main, argv, "is not a valid name", "(at most 40 characters)")


def test_nodepool_location(gcp):
    argv = [*POOL, "--chart", str(gcp.chart_dir)]
    argv[argv.index("--location") + 1] = "central"
    refused(gcp, nodepool.main, argv, "--location: 'central' is not a region or zone")


def test_unknown_bake_subcommand(gcp):
    refused(gcp, bake_command.main, ["bread"], "unknown bake subcommand 'bread'")


def test_help_exits_zero(gcp, capsys):
    assert gcp.run(bake_command.image_cache, ["--help"]).code == 0
    assert gcp.fake.calls == []
