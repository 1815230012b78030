"""The Dataflow worker, played locally: the SDK harness runs in its own process from a virtual environment
that holds what the worker image installs (worker_venv.py), so a graph needing anything the image lacks fails.

The runner hands the pipeline to Beam's external worker pool (``apache_beam.runners.worker.worker_pool_main``,
Beam's EXTERNAL environment), started from that environment with nothing of the launcher's on its path
but this package's modules (as ``pip install --no-deps`` puts them in the image) and the stand-in vLLM.

- On Prism (one job): vLLM in the worker (the stand-in, tests/pipeline/fake_vllm) gets the Hugging Face
  token from a Secret Manager stand-in (the real google-cloud-secret-manager client on the worker, against
  tests/support/fakegcp), crashes after a few answers, and is restarted; every request still gets its
  answer and none lands in the dead letter. The token is in no printed line and not in the graph.
- Beam's VLLMChatModelHandler (apache_beam/ml/inference/vllm_inference.py, 2.77.0) runs
  ``python -m vllm.entrypoints.openai.api_server --model M --port P <vllm_server_kwargs>``, which the
  stand-in answers with the OpenAI stub: the handler's process management, model sharing and restarts
  are Beam's own.
- Prism runs one SDK worker per environment and splits only splittable DoFns' bundles
  (sdks/go/pkg/beam/runners/prism/internal/execute.go, stage.go at v2.77.0), so parallelism is shown on
  Beam's FnApiRunner with two external workers: its ParallelBundleManager divides a stage's input between
  them, which for the serving stage is the shuffle after reading; a fused read would give it one element.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from paths import REPO
from pipeline import worker_venv
from support.fakegcp import FakeGcp
from support.openai_stub import OpenAIStub
from vllm_serving import cli

pytestmark = [pytest.mark.prism, pytest.mark.packaging]

FAKE_VLLM = Path(__file__).with_name("fake_vllm")
TOKEN = "hf_worker-test-token-5f1c"
SECRET = "projects/p/secrets/hf-token/versions/latest"


def request_line(custom_id: str) -> str:
    body = {"messages": [{"role": "user", "content": custom_id}], "max_tokens": 4}
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body})


def read_jsonl(directory: Path, pattern: str) -> list[dict]:
    return [json.loads(line) for f in sorted(directory.glob(pattern)) for line in f.read_text().splitlines()]


@pytest.fixture(scope="module")
def worker():
    return worker_venv.ensure()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def worker_pool(worker: worker_venv.WorkerVenv, **env: str):
    """Beam's external worker pool in the worker's environment; yields its address."""
    port = _free_port()
    clean = {
        "PATH": f"{worker.python.parent}{os.pathsep}/usr/bin:/bin",  # the pool starts workers as `python`
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": f"{REPO / 'scripts'}{os.pathsep}{FAKE_VLLM}",
        **env,
    }
    pool = subprocess.Popen(
        [str(worker.python), "-m", "apache_beam.runners.worker.worker_pool_main", f"--service_port={port}"],
        env=clean,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            assert pool.poll() is None and time.monotonic() < deadline, "the worker pool did not start"
            time.sleep(0.2)
        yield f"localhost:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pool.pid, signal.SIGTERM)
        pool.wait(timeout=30)


@pytest.fixture(scope="module")
def in_worker_run(worker, tmp_path_factory):
    """One Prism job: vLLM in the worker, the token from Secret Manager, a crash after 3 answers."""
    root = tmp_path_factory.mktemp("prism-worker")
    (root / "requests.jsonl").write_text("".join(request_line(f"r{i:02d}") + "\n" for i in range(16)))
    argv_file = root / "vllm-starts.jsonl"
    with FakeGcp() as gcp:
        gcp.secretmanager.add(SECRET, TOKEN)
        env = {
            "SECRET_MANAGER_ENDPOINT": gcp.endpoint,
            "FAKE_VLLM_ARGV": str(argv_file),
            "FAKE_VLLM_TESTS": str(REPO / "tests"),
            "FAKE_VLLM_CRASH_AFTER": "3",  # the first server dies after 3 answers, as on an out-of-memory kill
            "FAKE_VLLM_TOKEN_DELAY": "0.05",
        }
        with worker_pool(worker, **env) as pool:
            argv = [
                *("pipeline", "run", "--input", str(root / "requests.jsonl"), "--output", str(root / "out" / "r")),
                *("--vllm-in-worker", "--model", "stub-model", "--hf-token-secret", SECRET),
                *("--vllm-arg", "max-model-len=8192", "--vllm-arg", "enable-prefix-caching"),
                *("--concurrency", "2", "--retry-backoff", "0", "--runner", "PrismRunner"),
                *("--environment_type=EXTERNAL", f"--environment_config={pool}"),
            ]
            try:
                code = cli.main(argv)
            finally:
                starts = [json.loads(line) for line in argv_file.read_text().splitlines()] if argv_file.exists() else []
                for start in starts:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(start["pid"], signal.SIGTERM)
        secret_reads = [c for c in gcp.calls if c.name == "secretmanager.versions.access"]
    return code, root, starts, secret_reads, argv


def pickled_graph(pipeline) -> bytes:
    """The pipeline proto with every pickled DoFn opened (Beam's pickler: base64 of a bz2 or zlib stream)."""
    import base64
    import bz2
    import zlib

    from apache_beam.portability.api import beam_runner_api_pb2

    proto = pipeline.to_runner_api()
    parts = [proto.SerializeToString()]
    for transform in proto.components.transforms.values():
        if transform.spec.urn == "beam:transform:pardo:v1":
            payload = beam_runner_api_pb2.ParDoPayload.FromString(transform.spec.payload).do_fn.payload
            raw = base64.b64decode(payload)
            parts.append(bz2.decompress(raw) if raw.startswith(b"BZh") else zlib.decompress(raw))
    return b"".join(parts)


class TestPrismWorker:
    def test_every_request_is_answered_despite_the_crash(self, in_worker_run):
        code, root, starts, _, _ = in_worker_run
        assert code == 0
        out = read_jsonl(root / "out", "r-*-of-*.jsonl")
        assert sorted(line["custom_id"] for line in out) == [f"r{i:02d}" for i in range(16)]
        assert {line["response"]["status_code"] for line in out} == {200}
        assert read_jsonl(root / "out", "r.dead-letter-*.jsonl") == []
        assert len(starts) == 2  # the crashed server was started again by Beam's check_connectivity
        assert {line["response"]["body"]["model"] for line in out} == {"stub-model"}  # --model filled the bodies

    def test_beams_handler_runs_the_vllm_command(self, in_worker_run):
        """The argv Beam's handler ran (checked with vLLM's own parser in test_vllm_formats.py)."""
        _, _, starts, _, _ = in_worker_run
        for start in starts:
            argv = start["argv"]
            assert argv[:3] == ["--model", "stub-model", "--port"] and argv[3].isdigit()
            assert argv[4:] == ["--max-model-len", "8192", "--enable-prefix-caching"]

    def test_the_token_reaches_vllm_from_secret_manager(self, in_worker_run):
        _, _, starts, secret_reads, _ = in_worker_run
        assert secret_reads  # read on the worker, from the Secret Manager stand-in
        assert {s["hf_token_sha256"] for s in starts} == {hashlib.sha256(TOKEN.encode()).hexdigest()}

    def test_the_token_is_in_no_command_option_or_graph(self, in_worker_run, capfd):
        from vllm_serving.commands import pipeline as pipeline_command
        from vllm_serving.pipeline import plan as plan_mod
        from vllm_serving.pipeline import run

        _, _, _, _, argv = in_worker_run
        assert cli.main([*argv, "--dry-run"]) == 0
        printed = capfd.readouterr()
        plan = pipeline_command.plan(argv[1:])
        import apache_beam as beam

        pipeline = beam.Pipeline()
        run.build_batch(pipeline, plan)
        graph = pickled_graph(pipeline)
        assert SECRET.encode() in graph  # the graph names the secret ...
        assert TOKEN.encode() not in graph  # ... never the token
        assert TOKEN not in printed.out + printed.err + " ".join(plan_mod.beam_options(plan))


def test_elements_of_one_file_go_to_both_workers_and_the_worker_has_only_the_image(worker, tmp_path):
    """Two external workers: the serving stage's input (after the shuffle) is split between them. Then, on the
    same workers, a DoFn from a module the image lacks (tests/support) cannot be loaded: the job fails."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner
    from apache_beam.transforms import environments

    from support import openai_stub
    from vllm_serving.commands import pipeline as pipeline_command
    from vllm_serving.pipeline import run

    (tmp_path / "requests.jsonl").write_text("".join(request_line(f"p{i:02d}") + "\n" for i in range(40)))
    with OpenAIStub() as stub, worker_pool(worker) as pool:
        plan = pipeline_command.plan(
            [
                *("run", "--input", str(tmp_path / "requests.jsonl"), "--output", str(tmp_path / "out" / "r")),
                *("--endpoint", stub.url, "--model", "stub-model", "--concurrency", "2", "--batch-size", "4"),
            ]
        )
        runner = FnApiRunner(default_environment=environments.ExternalEnvironment(pool))
        with beam.Pipeline(runner=runner, options=PipelineOptions(direct_num_workers=2)) as p:
            run.build_batch(p, plan)
        agents = {r.headers.get("User-Agent") for r in stub.chat_requests}

        lacking = beam.Pipeline(runner=FnApiRunner(default_environment=environments.ExternalEnvironment(pool)))
        _ = lacking | beam.Create([1]) | beam.Map(openai_stub.Failure)
        with pytest.raises(Exception, match="No module named 'support'"):
            lacking.run().wait_until_finish()
    assert len(read_jsonl(tmp_path / "out", "r-*-of-*.jsonl")) == 40
    assert len(agents) >= 2, agents  # one per worker process: "vllm-serving-pipeline/V (HOST; pid N)"
    assert all(a.startswith("vllm-serving-pipeline/") for a in agents)


def test_the_images_resolution_keeps_every_vllm_requirement(worker):
    """pip's resolver (the report the image's `pip install -r worker-requirements.txt` computes, vllm pinned in
    it): every requirement of vLLM holds at the resolved versions, so nothing under vLLM is downgraded."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    resolved = worker.resolution()
    vllm = resolved["vllm"]
    assert vllm["version"] == worker_venv.dockerfile_arg("VLLM_IMAGE").rsplit(":v", 1)[1]
    checked = 0
    for text in vllm["requires_dist"]:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        assert req.specifier.contains(resolved[canonicalize_name(req.name)]["version"], prereleases=True), text
        checked += 1
    assert checked > 50
    assert resolved["pillow"]["version"].startswith("13.")  # vLLM's pillow, not Beam's pillow<13


def test_pip_check_through_the_dockerfiles_filter(worker):
    """The Dockerfile's `pip check` step, run as written on the worker's `pip check` output: only the accepted
    pillow conflict, which it lets through; any other broken requirement fails the build."""
    dockerfile = worker_venv.DOCKERFILE.read_text()
    step = dockerfile[dockerfile.index('RUN broken="$(python3 -m pip check') + 4 :].split("\n# ", 1)[0]
    step = step.replace("\\\n", "\n")
    env = {"PATH": "/usr/bin:/bin", "BEAM_VERSION": worker_venv.dockerfile_arg("BEAM_VERSION")}
    found = worker.pip_check()
    assert found == "apache-beam 2.77.0 has requirement pillow<13,>=12.1.1, but you have pillow 13.0.0.\n"
    other = "grpcio 1.85.3 has requirement protobuf<7, but you have protobuf 7.1.\n"
    for output, expected in ((found, (0, "")), (found + other, (1, other))):
        check = f"printf %s {shlex.quote(output)}"
        result = subprocess.run(
            ["bash", "-c", step.replace("python3 -m pip check", check)], env=env, capture_output=True, text=True
        )
        assert (result.returncode, result.stdout) == expected
