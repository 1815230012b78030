"""`vllm-serving pipeline run`: its command line, the missing extra, and the Dataflow submission it prints.

The Dataflow options are checked by Beam's own PipelineOptions parser (the consumer of every flag
--dry-run prints), at the pinned apache-beam; GPU option formats follow
https://cloud.google.com/dataflow/docs/gpu/use-gpus and .../gpu/use-l4-gpus.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import textwrap

import pytest

from vllm_serving import cli
from vllm_serving.commands import pipeline as pipeline_command
from vllm_serving.pipeline import dataflow
from vllm_serving.pipeline import plan as plan_mod

BATCH = ["run", "--input", "in/*.jsonl", "--output", "out/results"]
HF = "projects/p/secrets/hf-token/versions/latest"
WORKER = [*BATCH, "--vllm-in-worker", "--model", "google/gemma-2-9b-it", "--hf-token-secret", HF]
DATAFLOW = ["--runner", "DataflowRunner", "--project=p", "--region=us-central1", "--temp_location=gs://b/tmp"]
IMAGE = "us-docker.pkg.dev/p/r/vllm-beam-worker:v0.33.0"


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)


class TestMissingExtra:
    def test_a_missing_apache_beam_names_the_extra(self):
        # apache_beam made unimportable in a child process, as on an install without [pipeline].
        proc = python(
            """
            import sys
            sys.modules["apache_beam"] = None
            import importlib.util
            real = importlib.util.find_spec
            importlib.util.find_spec = lambda name, *a: None if name.split(".")[0] == "apache_beam" else real(name, *a)
            from vllm_serving.cli import main
            sys.exit(main(["pipeline", "run", "--input", "x.jsonl", "--output", "o", "--endpoint", "http://127.0.0.1:1"]))
            """
        )
        assert proc.returncode == 3, proc.stderr
        assert proc.stderr == (
            "error: vllm-serving pipeline needs the package's [pipeline] extra (apache-beam), which is not installed:"
            " pip install 'vllm-serving[pipeline]'\n"
        )

    def test_dataflow_without_beam_gcp_names_the_dataflow_extra(self, monkeypatch, capsys):
        import importlib.util

        real = importlib.util.find_spec
        monkeypatch.setattr(
            importlib.util, "find_spec", lambda name, *a: None if name == "apitools" else real(name, *a)
        )
        code = cli.main(["pipeline", *BATCH, "--endpoint", "http://10.0.0.1:8000", *DATAFLOW])
        assert code == 3
        assert capsys.readouterr().err == (
            "error: vllm-serving pipeline --runner DataflowRunner needs the package's [dataflow] extra"
            " (apache-beam[gcp], openai, setuptools), which is not installed: pip install 'vllm-serving[dataflow]'\n"
        )

    def test_other_commands_and_the_dry_run_never_import_beam(self):
        proc = python(
            f"""
            import sys
            from vllm_serving.cli import main
            main(["pipeline", *{WORKER!r}, *{DATAFLOW!r}, "--worker-image", "{IMAGE}", "--dry-run"])
            assert "apache_beam" not in sys.modules, "apache_beam imported"
            """
        )
        assert proc.returncode == 0, proc.stderr


class TestUsage:
    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (["run", "--endpoint", "http://h:1"], "--input is required: a file pattern such as 'requests*.jsonl'"),
            (["run", "--input", "x", "--endpoint", "http://h:1"], "--output is required: an output prefix"),
            ([*BATCH, "--vllm-in-worker"], "--vllm-in-worker needs --model"),
            ([*WORKER, *DATAFLOW], "--worker-image is required with --vllm-in-worker on DataflowRunner"),
            (
                [*BATCH, "--vllm-in-worker", "--model", "google/gemma-2-9b-it", *DATAFLOW, "--worker-image", IMAGE],
                "--model google/gemma-2-9b-it is gated on Hugging Face: give --hf-token-secret "
                "projects/P/secrets/S/versions/latest (a read token of an account that accepted its license)",
            ),
            (
                [*BATCH, "--endpoint", "http://h:1", "--hf-token-secret", HF],
                "--hf-token-secret is for the worker's vLLM server: it needs --vllm-in-worker",
            ),
            (
                [*WORKER, "--hf-token-secret", "hf"],
                "--hf-token-secret: 'hf' is not a secret version; use projects/PROJECT/secrets/NAME/versions/",
            ),
            ([*WORKER, "--vllm-arg", "port=9000"], "--vllm-arg port: set by Beam's handler; remove it"),
            ([*WORKER, "--vllm-arg", "tensor-parallel-size=2"], "set by --gpus-per-worker"),
            ([*BATCH, "--endpoint", "http://h:1", "--vllm-arg", "x=1"], "--vllm-arg configures the worker's vLLM"),
            ([*BATCH, "--endpoint", "h:1"], "'h:1' is not an http:// or https:// URL"),
            ([*BATCH, "--endpoint", "http://h:1", "stray"], "unexpected argument(s) stray"),
            ([*BATCH, "--endpoint", "http://h:1", "--streaming"], "--input reads files; with --streaming use"),
            (["run", "--streaming", "--endpoint", "http://h:1"], "give one of --input-subscription or --input-topic"),
            ([*BATCH, "--endpoint", "http://h:1", "--output-topic", "t"], "--output-topic needs --streaming"),
            (
                ["run", "--streaming", "--input-topic", "t", "--endpoint", "http://h:1", "--output-topic", "o"],
                "--output-topic needs --dead-letter-topic: where failed requests and malformed messages go",
            ),
            ([*BATCH, "--endpoint", "http://h:1", "--concurrency", "0"], "'0' must be 1 or more"),
            (BATCH, "one of the arguments --endpoint --vllm-in-worker is required"),
            (
                [*BATCH, "--endpoint", "http://h:1", "--api-key-secret", "vllm-key"],
                "--api-key-secret: 'vllm-key' is not a secret version; use projects/PROJECT/secrets/NAME/versions/",
            ),
        ],
    )
    def test_bad_command_lines_say_what_to_fix(self, argv, message, capsys):
        assert cli.main(["pipeline", *argv]) == 2
        assert message in capsys.readouterr().err


def dry_run(argv, capsys) -> str:
    assert cli.main(["pipeline", *argv, "--dry-run"]) == 0
    return capsys.readouterr().out


def beam_options(flags):
    from apache_beam.options.pipeline_options import (
        DebugOptions,
        GoogleCloudOptions,
        PipelineOptions,
        StandardOptions,
        WorkerOptions,
    )

    options = PipelineOptions(flags)
    return (
        options.view_as(StandardOptions),
        options.view_as(GoogleCloudOptions),
        options.view_as(WorkerOptions),
        options.view_as(DebugOptions),
    )


def submitted_options(out: str):
    """Beam's own reading of the printed submission command (what `pipeline run` passes to Beam)."""
    from apache_beam.options.pipeline_options import PipelineOptions, SetupOptions

    argv = shlex.split(out.splitlines()[1])
    assert argv[:3] == ["vllm-serving", "pipeline", "run"]
    flags = plan_mod.beam_options(pipeline_command.plan(argv[2:]))
    return (*beam_options(flags), PipelineOptions(flags).view_as(SetupOptions))


class TestDataflowDryRun:
    def test_gpu_workers_as_beam_reads_them(self, capsys):
        out = dry_run([*WORKER, *DATAFLOW, "--worker-image", IMAGE, "--vllm-arg", "max-model-len=8192"], capsys)
        command = out.splitlines()[1]
        argv = shlex.split(command)
        assert argv[:3] == ["vllm-serving", "pipeline", "run"]
        assert "--dry-run" not in argv
        # The printed command is what this CLI parses again: the same plan, no dry run.
        plan = pipeline_command.plan(argv[2:])
        standard, gcp, worker, debug = beam_options(plan_mod.beam_options(plan))
        assert standard.runner == "DataflowRunner"
        assert (gcp.project, gcp.region, gcp.temp_location) == ("p", "us-central1", "gs://b/tmp")
        assert gcp.dataflow_service_options == ["worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver"]
        assert worker.machine_type == "g2-standard-8"
        assert worker.sdk_container_image == IMAGE
        assert "use_runner_v2" in debug.experiments
        # 41.6 GB of image + 10 GB of system + 18.5 GB of bfloat16 weights, x1.2, to the next 10 GB;
        # Dataflow's default is 25 GB (batch) or 30 GB (Streaming Engine).
        assert worker.disk_size_gb == 90
        assert "# vLLM server in each worker: google/gemma-2-9b-it --max-model-len 8192" in out
        # The token's secret is named on the command line; the token itself is read on the workers.
        assert f"--hf-token-secret {HF}" in command

    def test_t4_workers_get_the_5xx_driver(self, capsys):
        out = dry_run([*WORKER, *DATAFLOW, "--worker-image", IMAGE, "--accelerator", "nvidia-tesla-t4"], capsys)
        _, gcp, worker, _, _ = submitted_options(out)
        assert gcp.dataflow_service_options == [
            "worker_accelerator=type:nvidia-tesla-t4;count:1;install-nvidia-driver:5xx"
        ]
        assert worker.machine_type == "n1-standard-8"

    def test_a_disk_size_given_by_hand_wins_and_an_unknown_model_needs_one(self, capsys):
        unknown = [*BATCH, "--vllm-in-worker", "--model", "org/custom-7b", *DATAFLOW, "--worker-image", IMAGE]
        assert cli.main(["pipeline", *unknown, "--dry-run"]) == 2
        assert (
            "--model org/custom-7b: not in the built-in model table, so the workers' boot disk cannot be sized; "
            "give --disk_size_gb=N: 41.6 GB of image, 10 GB of system and the weights' size, times 1.2"
        ) in capsys.readouterr().err
        out = dry_run([*unknown, "--disk_size_gb=150"], capsys)
        assert submitted_options(out)[2].disk_size_gb == 150
        assert out.count("--disk_size_gb") == 2  # once in the command, once in the options

    def test_streaming_says_streaming_once(self, capsys):
        argv = ["run", "--streaming", "--input-topic", "projects/p/topics/t", "--output", "gs://b/out/r"]
        out = dry_run([*argv, "--endpoint", "http://10.0.0.5:8000", *DATAFLOW], capsys)
        assert shlex.split(out.splitlines()[1]).count("--streaming") == 1
        standard, *_ = submitted_options(out)
        assert standard.streaming is True

    def test_an_endpoint_pipeline_ships_this_package(self, capsys):
        """Without a worker image, Beam builds this package's sdist from --setup_file and every worker installs it
        (the workers unpickle vllm_serving's transforms); with one, the image has it."""
        from paths import REPO

        out = dry_run([*BATCH, "--endpoint", "http://10.0.0.5:8000", *DATAFLOW], capsys)
        *_, setup = submitted_options(out)
        assert setup.setup_file == str(REPO / "setup.py")
        out = dry_run([*BATCH, "--endpoint", "http://10.0.0.5:8000", *DATAFLOW, "--worker-image", IMAGE], capsys)
        _, _, worker, debug, setup = submitted_options(out)
        assert (worker.sdk_container_image, setup.setup_file) == (IMAGE, None)
        assert worker.disk_size_gb == 70  # the image alone: 41.6 + 10 GB, x1.2
        assert "use_runner_v2" in debug.experiments

    def test_the_launcher_must_have_the_images_beam(self, monkeypatch, capsys):
        monkeypatch.setattr(dataflow, "version", lambda name: "2.77.1")
        assert cli.main(["pipeline", *WORKER, *DATAFLOW, "--worker-image", IMAGE, "--dry-run"]) == 2
        assert (
            "--worker-image: the worker image carries apache-beam 2.77.0 (worker.Dockerfile) but this launcher has "
            "2.77.1; Dataflow needs the same version: pip install 'vllm-serving[dataflow]' (it pins 2.77.0)"
        ) in capsys.readouterr().err

    def test_more_gpus_pick_the_machine_and_the_tensor_size(self, capsys):
        out = dry_run([*WORKER, *DATAFLOW, "--worker-image", IMAGE, "--gpus-per-worker", "4"], capsys)
        assert "--machine_type=g2-standard-48" in out
        assert "worker_accelerator=type:nvidia-l4;count:4;install-nvidia-driver" in out
        assert "--tensor-parallel-size 4" in out

    def test_a100(self, capsys):
        argv = [
            *WORKER,
            *DATAFLOW,
            "--worker-image",
            IMAGE,
            "--accelerator",
            "nvidia-a100-80gb",
            "--gpus-per-worker",
            "2",
        ]
        out = dry_run(argv, capsys)
        assert "--machine_type=a2-ultragpu-2g" in out

    @pytest.mark.parametrize(
        ("extra", "message"),
        [
            (["--accelerator", "nvidia-tesla-k80"], "--accelerator: 'nvidia-tesla-k80' is not a Dataflow GPU"),
            (["--gpus-per-worker", "3"], "--gpus-per-worker: nvidia-l4 comes 1, 2, 4, 8 per machine, not 3"),
            (["--machine-type", "n1-standard-8"], "--machine-type: n1-standard-8 cannot carry nvidia-l4 GPUs"),
        ],
    )
    def test_impossible_gpu_workers_are_refused(self, extra, message, capsys):
        assert cli.main(["pipeline", *WORKER, *DATAFLOW, "--worker-image", IMAGE, *extra, "--dry-run"]) == 2
        assert message in capsys.readouterr().err

    def test_the_python_version_must_match_the_image(self, monkeypatch):
        here = f"{sys.version_info.major}.{sys.version_info.minor}"
        assert dataflow.python_version_note(here) is None
        assert "Dataflow needs the same minor version" in dataflow.python_version_note("2.7")

    def test_an_endpoint_pipeline_on_dataflow_gets_no_gpus(self, capsys):
        out = dry_run([*BATCH, "--endpoint", "http://10.0.0.5:8000", *DATAFLOW], capsys)
        assert "worker_accelerator" not in out and "--runner=DataflowRunner" in out
        assert "--disk_size_gb" not in out  # Beam's default container fits the default disk

    def test_a_beam_option_given_by_hand_wins(self, capsys):
        out = dry_run([*WORKER, *DATAFLOW, "--worker-image", IMAGE, "--machine_type=g2-standard-12"], capsys)
        assert "--machine_type=g2-standard-12" in out and "g2-standard-8" not in out


def readme_pipeline_commands() -> list[list[str]]:
    from paths import REPO

    text = (REPO / "README.md").read_text().replace("\\\n", " ")
    return [shlex.split(line)[1:] for line in text.splitlines() if line.startswith("vllm-serving pipeline run ")]


def test_the_readme_commands_parse(capsys):
    """The README's commands: the local one parses; each Dataflow one (batch with vLLM in the workers, streaming,
    an endpoint) dry-runs, and Beam reads from its submission command what that mode needs."""
    local, in_worker, streaming, endpoint = readme_pipeline_commands()
    assert pipeline_command.plan(local[1:]).args.runner == "DirectRunner"
    outs = []
    for command in (in_worker, streaming, endpoint):
        assert command[-1] == "--dry-run"
        assert cli.main(command) == 0
        outs.append(capsys.readouterr().out)
    _, _, worker, _, _ = submitted_options(outs[0])
    assert worker.sdk_container_image and worker.disk_size_gb == 90
    assert "--dataflow_service_options=worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver" in outs[0]
    standard, _, worker, _, _ = submitted_options(outs[1])
    assert standard.streaming and worker.sdk_container_image and worker.disk_size_gb
    *_, setup = submitted_options(outs[2])
    assert setup.setup_file.endswith("setup.py")


def test_beams_stager_builds_the_setup_file_into_a_package_with_the_pipeline(tmp_path, capsys):
    """What Dataflow stages for an --endpoint job: Beam's own Stager runs the printed --setup_file (building the
    sdist in this environment: `python -m build --no-isolation`, else `setup.py sdist`), and the sdist the
    workers pip-install holds the modules the graph references."""
    import tarfile

    from apache_beam.options.pipeline_options import PipelineOptions, SetupOptions
    from apache_beam.runners.portability.stager import Stager

    out = dry_run([*BATCH, "--endpoint", "http://10.0.0.5:8000", *DATAFLOW], capsys)
    flags = [f.strip() for f in out.split("# Beam pipeline options:\n", 1)[1].splitlines()]
    setup_file = PipelineOptions(flags).view_as(SetupOptions).setup_file
    Stager.create_job_resources(PipelineOptions([f"--setup_file={setup_file}"]), str(tmp_path))
    (sdist,) = tmp_path.rglob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for module in ("transforms.py", "client.py", "records.py"):
        assert f"scripts/vllm_serving/pipeline/{module}" in names
    assert "scripts/vllm_serving/endpoint.py" in names  # Target, which the client uses
