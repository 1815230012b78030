"""`vllm-serving values new`: every file it writes is valid for the chart, sized as `size` says."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from paths import CHART, VALUES_FILES
from vllm_serving import chart as chart_mod
from vllm_serving import helm, sizing, values_new
from vllm_serving.cli import run
from vllm_serving.commands import values as values_command
from vllm_serving.verdict import Verdict, chart_verdict

ACCELERATORS = list(chart_mod.rules(CHART)["accelerators"])
MODELS = list(sizing.builtin_models())
SOURCE_OPTIONS = {
    "huggingface": ["--hf-token-secret", "hf-token"],
    "gcsfuse": ["--bucket", "my-models"],
    "gcsStream": ["--bucket", "my-models"],
    "persistentDisk": ["--disk", "projects/my-project/zones/us-central1-a/disks/weights"],
    "nfs": ["--nfs-server", "10.0.0.2", "--nfs-share", "/vol1"],
}


def new(argv: list[str]) -> int:
    """`vllm-serving values new ARGV` through the CLI's error mapping."""
    return run(values_command.main, ["new", *argv])


def schema_of(path):
    """Where the file's yaml-language-server modeline points, resolved from the file's directory as the editor does."""
    first = path.read_text().splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    return (path.parent / first.split("$schema=", 1)[1]).resolve()


@pytest.mark.parametrize("where", ["values", "deep/er/dir", "../outside"])
def test_the_modeline_resolves_from_wherever_the_file_is_written(tmp_path, where):
    directory = tmp_path / "checkout" / where
    directory.mkdir(parents=True)
    path = directory / "v.yaml"
    assert new(["--model", "Qwen/Qwen2.5-1.5B-Instruct", "--accelerator", "nvidia-l4", "-o", str(path)]) == 0
    assert schema_of(path) == (CHART / "values.schema.json").resolve()


def test_in_the_repositorys_values_directory_the_modeline_matches_the_values_files():
    assert values_new.modeline(CHART, CHART.parents[1] / "values") == (
        "# yaml-language-server: $schema=../charts/vllm-serving/values.schema.json"
    )
    assert all(p.read_text().startswith(values_new.modeline(CHART, p.parent) + "\n") for p in VALUES_FILES)


def write(tmp_path, model, accelerator, source="huggingface", *extra):
    path = tmp_path / "values.yaml"
    argv = ["--model", model, "--accelerator", accelerator, "--source", source, *SOURCE_OPTIONS[source], *extra]
    assert new([*argv, "-o", str(path), "--force"]) == 0
    return path


# Shapes of written files that Helm has judged in this session (see below).
JUDGED: set[tuple] = set()


@pytest.mark.parametrize("source", list(SOURCE_OPTIONS))
@pytest.mark.parametrize("accelerator", ACCELERATORS)
@pytest.mark.parametrize("model", MODELS)
def test_every_written_file_is_valid(tmp_path, model, accelerator, source, capsys, monkeypatch):
    asked = []
    monkeypatch.setattr(values_new, "chart_verdict", lambda chart, values: asked.append(values) or Verdict([]))
    path = write(tmp_path, model, accelerator, source)
    assert len(asked) == 1, "values new asks the chart before it writes"
    text = path.read_text()
    assert text.splitlines()[1] == "#"
    assert schema_of(path) == CHART / "values.schema.json"
    values = chart_mod.load_values_file(path)
    # Helm's verdict once per shape the chart's rules look at (GPUs per pod and nodes on an accelerator,
    # the weight source and the parallelism strategy), not for all 440 files: each costs a helm process.
    p = values["parallelism"]
    shapes = {(accelerator, p["tensor"], p.get("pipeline", 1)), (source, p["tensor"] > 1, p.get("pipeline", 1) > 1)}
    if not shapes <= JUDGED:
        assert chart_verdict(CHART, [path]).problems == []
        JUDGED.update(shapes)
    plan = sizing.plan(
        sizing.builtin_model(model), sizing.accelerator(accelerator, chart_mod.rules(CHART)), sizing.Budget(), 8192
    )
    assert values["parallelism"]["tensor"] == plan.choice.tensor
    assert values["parallelism"].get("pipeline", 1) == plan.choice.pipeline
    assert values["weights"]["source"] == source
    assert ("sharedMemory" in values) == (plan.choice.tensor > 1)
    assert capsys.readouterr().err.startswith(
        f"wrote {path}: {model} on {accelerator} with parallelism.tensor: {plan.choice.tensor}"
    )


@pytest.mark.parametrize(
    ("model", "accelerator", "source", "kind"),
    [
        ("google/gemma-2-9b-it", "nvidia-l4", "huggingface", "Deployment"),
        ("meta-llama/Llama-3.1-70B-Instruct", "nvidia-h100-80gb", "gcsStream", "Deployment"),
        ("google/gemma-7b-it", "nvidia-l4", "persistentDisk", "Deployment"),
        ("Qwen/Qwen2.5-7B-Instruct", "nvidia-tesla-t4", "nfs", "Deployment"),
        ("meta-llama/Llama-3.1-405B-Instruct", "nvidia-h100-80gb", "gcsfuse", "LeaderWorkerSet"),
    ],
)
def test_helm_renders_written_files(tmp_path, model, accelerator, source, kind):
    path = write(tmp_path, model, accelerator, source)
    kinds = {o["kind"] for o in helm.objects(helm.template(CHART, values_files=[path]))}
    assert kind in kinds


def test_gemma_2_9b_on_l4_is_the_gke_guides_two_gpu_set_up(tmp_path):
    # --concurrency defaults to 1, and one L4's 1.0 GiB of KV cache hold no 8192-token sequence (2.6 GiB: its
    # sliding-window layers keep 4095 + 2 x 2048 in flight of the 8192 tokens; test_sizing's GEMMA_ON_L4): two L4s.
    values = chart_mod.load_values_file(write(tmp_path, "google/gemma-2-9b-it", "nvidia-l4"))
    assert values == {
        "model": {"name": "google/gemma-2-9b-it", "servedName": "gemma-2-9b-it"},
        "parallelism": {"tensor": 2},
        "gke": {"accelerator": "nvidia-l4"},
        "vllm": {"maxModelLen": 8192, "gpuMemoryUtilization": 0.92},
        "weights": {
            "source": "huggingface",
            "huggingface": {"tokenSecret": {"name": "hf-token", "key": "token"}, "cache": {"sizeLimit": "21Gi"}},
        },
        # g2-standard-24 (24 vCPUs, 96 GiB, 2 L4s): 75% for the pod; the cache on the node's disk
        "resources": {
            "requests": {"cpu": "18", "memory": "72Gi", "ephemeral-storage": "31Gi"},
            "limits": {"memory": "72Gi"},
        },
        "sharedMemory": {"sizeLimit": "16Gi"},
    }


def test_the_header_explains_the_sizing(tmp_path):
    # test_sizing's GEMMA_ON_L4: 19.2 GiB over two L4s hold 7 sequences of 2,818,400,256 B; one L4's 1.0 GiB none.
    lines = write(tmp_path, "google/gemma-2-9b-it", "nvidia-l4").read_text().splitlines()
    assert lines[1:15] == [
        "#",
        "# google/gemma-2-9b-it on 2 x nvidia-l4 (one g2-standard-24).",
        "# Written by `vllm-serving values new`. Sizing (for every tensor size, run",
        "#   vllm-serving size google/gemma-2-9b-it --accelerator nvidia-l4 --context 8192):",
        "#   weights   17.2 GiB in bfloat16 (9.24B parameters), 8.6 GiB per GPU",
        "#   usable    18.2 GiB per GPU (22.0 GiB x 0.92 - 2 GiB overhead)",
        "#   KV cache  19.2 GiB over 2 GPUs: 336 KiB per token (bfloat16), 2.6 GiB per 8,192-token sequence"
        " (21 sliding-window layers keep only its last 8,191 tokens: window 4,096 - 1 + 4,096 scheduled tokens in"
        " flight)",
        "#   vllm.maxModelLen 8192 (the model maximum): 7 full-length sequences at once",
        "# parallelism.tensor 1 would leave 1.0 GiB of KV cache, less than one 8,192-token sequence needs (2.6 GiB).",
        "# The model is gated: accept its licence on Hugging Face with the account whose token is used.",
        "# The weights (21 GiB with room to spare) download to the node's disk at every start.",
        "# Create the token Secret: kubectl create secret generic hf-token --from-literal=token=hf_...",
        "# Cold start from huggingface: about 520 s for the 18.5 GB checkpoint at 0.05 GB/s; startupProbe budget"
        " 1,040 s (`vllm-serving size` compares sources).",
        "model:",
    ]


def test_concurrent_sequences_each_keep_their_own_window(tmp_path):
    # Gemma 3 27B on one H100: 81079 MiB (as CUDA reports it) x 0.92 - 2048 MiB = 72544.68 MiB
    # = 76,068,610,375 B usable, less 54,018,660,864 B of weights leaves 22,049,949,511 B; an 8192-token
    # sequence takes 62 layers x 8 KiB x 8192 = 3.9 GiB, so five fit and one H100 serves the four asked for.
    # Its 52 sliding-window layers keep at most 1024 - 1 + 2 x 8192 (an H100's max_num_batched_tokens, two
    # batches in flight) = 17,407 tokens of each sequence. Four sequences get 5,512,487,377 B each:
    # 5,512,487,377 / (62 x 8192) = 10,853 tokens, all within 17,407, so 10 x 1024. (The longest one sequence
    # divided by four, counting the sliding layers once: (22,049,949,511 - 52 x 8192 x 17,407) / (10 x 8192) / 4
    # = 44,662 tokens, 44,032 in steps of 1024, and four sequences of those would need 4 x 10.3 GiB.)
    path = write(tmp_path, "google/gemma-3-27b-it", "nvidia-h100-80gb", "huggingface", "--concurrency", "4")
    values = chart_mod.load_values_file(path)
    assert values["vllm"]["maxModelLen"] == 10240
    assert values["parallelism"] == {"tensor": 1}
    assert "#   vllm.maxModelLen 10240: 4 full-length sequences at once\n" in path.read_text()


def test_without_context_the_longest_that_fits(tmp_path):
    # One L4 holds 26,816 tokens of Llama 3.1 8B (test_sizing's TestKvCacheWarning): 26 x 1024.
    values = chart_mod.load_values_file(write(tmp_path, "meta-llama/Llama-3.1-8B-Instruct", "nvidia-l4"))
    assert values["vllm"]["maxModelLen"] == 26624
    assert values["parallelism"] == {"tensor": 1}


def test_context_and_concurrency_choose_the_tensor_size(tmp_path):
    path = write(
        tmp_path,
        "meta-llama/Llama-3.1-8B-Instruct",
        "nvidia-l4",
        "huggingface",
        "--context",
        "32768",
        "--concurrency",
        "4",
    )
    values = chart_mod.load_values_file(path)
    assert values["vllm"]["maxModelLen"] == 32768
    assert values["parallelism"] == {"tensor": 2}  # 4 x 32768 x 128 KiB = 16 GiB; one L4 holds 3.3


def test_a_context_beyond_the_model_is_capped(tmp_path, capsys):
    path = write(tmp_path, "google/gemma-2-9b-it", "nvidia-tesla-a100", "huggingface", "--context", "100000")
    assert chart_mod.load_values_file(path)["vllm"]["maxModelLen"] == 8192
    assert "note: --context 100,000 exceeds the 8,192 positions of google/gemma-2-9b-it" in capsys.readouterr().err


def test_beyond_one_node_it_writes_pipeline_parallel_values(tmp_path):
    path = write(tmp_path, "meta-llama/Llama-3.1-405B-Instruct", "nvidia-h100-80gb", "gcsfuse")
    values = chart_mod.load_values_file(path)
    assert values["parallelism"] == {"tensor": 8, "pipeline": 2}
    # a3-highgpu-8g: 208 vCPUs, 1872 GiB, 75% each
    assert values["resources"]["requests"]["cpu"] == "156"
    assert values["resources"]["limits"] == {"memory": "1404Gi"}
    assert values["sharedMemory"] == {"sizeLimit": "64Gi"}
    text = path.read_text()
    assert "# meta-llama/Llama-3.1-405B-Instruct on 2 nodes of 8 x nvidia-h100-80gb (a3-highgpu-8g," in text
    assert "# One node (parallelism.tensor: 8) cannot hold the weights.\n" in text
    assert "# The node's ephemeral storage must hold 834 GiB of weights" in text


def test_served_name_service_account_and_paths(tmp_path):
    path = write(
        tmp_path,
        "Qwen/Qwen2.5-7B-Instruct",
        "nvidia-l4",
        "gcsStream",
        "--served-name",
        "qwen",
        "--path",
        "/models/qwen/",
        "--gcp-service-account",
        "vllm@my-project.iam.gserviceaccount.com",
    )
    values = chart_mod.load_values_file(path)
    assert values["model"]["servedName"] == "qwen"
    assert values["weights"]["gcsStream"] == {"bucket": "my-models", "path": "models/qwen"}
    assert values["serviceAccount"] == {"gcpServiceAccount": "vllm@my-project.iam.gserviceaccount.com"}


def test_a_gs_url_is_taken_as_the_bucket(tmp_path):
    path = tmp_path / "v.yaml"
    argv = ["--model", "Qwen/Qwen2.5-1.5B-Instruct", "--accelerator", "nvidia-l4", "--source", "gcsfuse"]
    assert new([*argv, "--bucket", "gs://my-models/", "-o", str(path)]) == 0
    assert chart_mod.load_values_file(path)["weights"]["gcsfuse"]["bucket"] == "my-models"


def test_an_ungated_model_needs_no_token(tmp_path):
    path = tmp_path / "v.yaml"
    assert new(["--model", "Qwen/Qwen2.5-1.5B-Instruct", "--accelerator", "nvidia-l4", "-o", str(path)]) == 0
    assert "tokenSecret" not in chart_mod.load_values_file(path)["weights"]["huggingface"]


def test_the_charts_warnings_on_the_written_values_are_shown(tmp_path, capsys):
    path = tmp_path / "v.yaml"
    argv = ["--model", "Qwen/Qwen2.5-1.5B-Instruct", "--accelerator", "nvidia-l4", "-o", str(path)]
    assert new([*argv, "--gpu-memory-utilization", "0.97"]) == 0
    # 22518 MiB (an L4 as CUDA reports it) = 21.99 GiB x 0.97 = 21.33, leaving 0.66
    assert capsys.readouterr().err.splitlines()[0] == (
        "warning: vllm.gpuMemoryUtilization: 0.97 makes vLLM take 21.3 of the 22.0 GiB that CUDA reports on each"
        " nvidia-l4 at start-up, and stop if less is free, leaving 0.7 GiB for the CUDA context and anything else on"
        " the GPU; vLLM's default is 0.92: use at most 0.95 unless this GPU has been seen to start with it"
    )
    assert new([*argv, "--force"]) == 0
    assert "warning:" not in capsys.readouterr().err


def test_without_output_it_prints(capsys):
    assert new(["--model", "Qwen/Qwen2.5-1.5B-Instruct", "--accelerator", "nvidia-l4"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"# yaml-language-server: $schema={os.path.relpath(CHART / 'values.schema.json')}\n")
    assert yaml.safe_load(text)["model"]["name"] == "Qwen/Qwen2.5-1.5B-Instruct"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--model", "google/gemma-2-9b-it"],
            "google/gemma-2-9b-it is gated on Hugging Face: pass --hf-token-secret NAME, a Secret whose key token"
            " (--hf-token-key) holds a token of an account that accepted the model's licence",
        ),
        (
            ["--model", "Qwen/Qwen2.5-1.5B-Instruct", "--source", "gcsfuse"],
            "--source gcsfuse needs --bucket: the Cloud Storage bucket that holds the model",
        ),
        (
            ["--model", "Qwen/Qwen2.5-1.5B-Instruct", "--source", "gcsStream"],
            "--source gcsStream needs --bucket: the Cloud Storage bucket that holds the model",
        ),
        (
            ["--model", "Qwen/Qwen2.5-1.5B-Instruct", "--source", "persistentDisk"],
            "--source persistentDisk needs --disk projects/PROJECT/zones/ZONE/disks/DISK, once per zone, naming"
            " disks that hold the model (bake one with `vllm-serving bake weights-disk`)",
        ),
        (
            ["--model", "Qwen/Qwen2.5-1.5B-Instruct", "--source", "persistentDisk", "--disk", "my-disk"],
            "--disk my-disk: give it as projects/PROJECT/zones/ZONE/disks/DISK",
        ),
        (
            ["--model", "Qwen/Qwen2.5-1.5B-Instruct", "--source", "nfs", "--nfs-server", "10.0.0.2"],
            "--source nfs needs --nfs-server and --nfs-share: the Filestore instance's IP address and its file"
            " share, e.g. --nfs-server 10.0.0.2 --nfs-share /vol1",
        ),
    ],
)
def test_missing_source_options(argv, message, capsys):
    assert new([*argv, "--accelerator", "nvidia-l4"]) == 2
    assert capsys.readouterr().err == f"error: {message}\n"


def test_an_option_the_schema_refuses_is_reported_in_the_charts_words(tmp_path, capsys):
    argv = ["--model", "Qwen/Qwen2.5-1.5B-Instruct", "--accelerator", "nvidia-l4", "--source", "nfs"]
    assert new([*argv, "--nfs-server", "10.0.0.2", "--nfs-share", "vol1", "-o", str(tmp_path / "v.yaml")]) == 1
    assert capsys.readouterr().err.startswith(
        "error: values are invalid:\n  - weights.nfs.share: 'vol1' does not have the expected form;"
    )
    assert not (tmp_path / "v.yaml").exists()


def test_options_of_another_source_are_refused(capsys):
    argv = ["--model", "Qwen/Qwen2.5-1.5B-Instruct", "--accelerator", "nvidia-l4", "--bucket", "my-models"]
    assert new(argv) == 2
    assert capsys.readouterr().err == (
        "error: --bucket is read with --source gcsfuse or gcsStream, not --source huggingface\n"
    )


def test_a_config_json_sizes_a_model_outside_the_table(tmp_path):
    config = {k: v for k, v in sizing.builtin_models()["Qwen/Qwen2.5-7B-Instruct"].items() if k != "parameters"}
    (tmp_path / "config.json").write_text(json.dumps(config | {"gated": False}))
    path = tmp_path / "v.yaml"
    argv = ["--model", "acme/qwen-tuned", "--config", str(tmp_path / "config.json"), "--accelerator", "nvidia-l4"]
    assert new([*argv, "--context", "32768", "-o", str(path)]) == 0
    values = chart_mod.load_values_file(path)
    # Outside the chart's table, the model states its checkpoint size, which sizes the startup budget.
    assert values["model"] == {"name": "acme/qwen-tuned", "servedName": "qwen-tuned", "weightsGB": 15.2}
    assert chart_verdict(CHART, [path]).problems == []
    assert f"--context 32768 --config {tmp_path / 'config.json'}):" in path.read_text()


def test_a_request_no_deployable_set_up_serves_is_refused_with_what_would(capsys):
    argv = ["--model", "meta-llama/Llama-3.1-405B-Instruct", "--accelerator", "nvidia-tesla-t4"]
    # 756 GiB of weights + 64 x 131072 tokens x 504 KiB = 4032 GiB of KV cache: 4788 GiB. Eight L4s hold
    # 8 x 18.2 = 145.8 GiB, so 33 nodes, more than 32; eight H100s 566.8 GiB, 9 nodes; sixteen A100 40GB keep a
    # KV head copy each (8 KV heads), 8064 GiB of KV cache, (756 + 8064) / (16 x 34.2) = 16.1: 17 nodes.
    assert new([*argv, "--context", "131072", "--concurrency", "64", *SOURCE_OPTIONS["nfs"]]) == 1
    assert capsys.readouterr().err == (
        "error: meta-llama/Llama-3.1-405B-Instruct: 64 sequences of 131,072 tokens need more than 32 nodes of"
        " 4 x nvidia-tesla-t4; these serve it:"
        " nvidia-tesla-a100 (parallelism.tensor: 16, parallelism.pipeline: 17), nvidia-a100-80gb"
        " (parallelism.tensor: 8, parallelism.pipeline: 9), nvidia-h100-80gb (parallelism.tensor: 8,"
        " parallelism.pipeline: 9), nvidia-h100-mega-80gb (parallelism.tensor: 8, parallelism.pipeline: 9),"
        " nvidia-h200-141gb (parallelism.tensor: 8, parallelism.pipeline: 5), nvidia-b200 (parallelism.tensor: 8,"
        " parallelism.pipeline: 4)\n"
    )


def test_an_existing_file_is_kept_without_force(tmp_path, capsys):
    path = tmp_path / "v.yaml"
    path.write_text("keep: me\n")
    assert new(["--model", "Qwen/Qwen2.5-1.5B-Instruct", "--accelerator", "nvidia-l4", "-o", str(path)]) == 2
    assert capsys.readouterr().err == f"error: -o {path}: the file exists; pass --force to overwrite it\n"
    assert path.read_text() == "keep: me\n"


def test_a_sub_command_is_required():
    with pytest.raises(SystemExit) as exit_:
        values_command.main([])
    assert exit_.value.code == 2


@pytest.mark.parametrize("accelerator", ACCELERATORS)
def test_resources_fit_the_machine(accelerator):
    largest = sizing.machines(accelerator)[-1]["gpus"]
    for tensor in (n for n in sizing.TENSOR_SIZES if n <= largest):
        resources, machine = values_new.resources(accelerator, tensor, 10)
        assert machine["gpus"] >= tensor
        share = tensor / machine["gpus"]
        memory = int(resources["requests"]["memory"].removesuffix("Gi"))
        assert memory <= machine["memoryGiB"] * share * 0.75
        assert int(resources["requests"]["cpu"]) <= machine["vcpus"] * share * 0.75
        assert resources["limits"]["memory"] == resources["requests"]["memory"]
        if tensor > 1:
            assert min(8 * tensor, 64) < memory  # /dev/shm counts against the pod's memory
