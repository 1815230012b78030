"""`--vllm-in-worker` on the DirectRunner: Beam's own vLLM model handler starts the server, as on Dataflow.

Beam's VLLMChatModelHandler (apache_beam/ml/inference/vllm_inference.py, 2.77.0) runs
``python -m vllm.entrypoints.openai.api_server --model M --port P <vllm_server_kwargs>`` and waits for
GET /v1/models. Here a stand-in ``vllm`` package (tests/pipeline/fake_vllm) answers that command
with the OpenAI stub, so everything but vLLM itself is real: the handler's process management and
model sharing, the port it picks, and this project's requests to it. The argv it ran is checked with
vLLM's own parser in test_vllm_formats.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path

import pytest

from vllm_serving import cli

pytest.importorskip("openai")  # Beam's vLLM handler imports it (the vLLM image has it)

FAKE_VLLM = Path(__file__).with_name("fake_vllm")


@pytest.fixture
def argv_file(tmp_path):
    """Where the stand-in records each start; every server it started is stopped at the end."""
    path = tmp_path / "argv.jsonl"
    yield path
    for record in path.read_text().splitlines() if path.exists() else []:
        with contextlib.suppress(ProcessLookupError):
            os.kill(json.loads(record)["pid"], signal.SIGTERM)


def test_beam_starts_the_worker_server_and_the_requests_go_to_it(tmp_path, monkeypatch, argv_file):
    monkeypatch.setenv("FAKE_VLLM_ARGV", str(argv_file))
    # the stand-in vllm, and tests/ for the stub it serves with (tests/support)
    path = [str(FAKE_VLLM), str(FAKE_VLLM.parents[1]), os.environ.get("PYTHONPATH")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, path)))
    requests = tmp_path / "requests.jsonl"
    lines = [
        {"custom_id": f"w{i}", "method": "POST", "url": "/v1/chat/completions", "body": {"messages": []}}
        for i in range(5)
    ]
    requests.write_text("".join(json.dumps(line) + "\n" for line in lines))
    code = cli.main(
        [
            *("pipeline", "run", "--input", str(requests), "--output", str(tmp_path / "out" / "results")),
            *("--vllm-in-worker", "--model", "stub-model", "--vllm-arg", "max-model-len=8192"),
            *("--vllm-arg", "enable-prefix-caching", "--runner", "DirectRunner"),
        ]
    )
    assert code == 0
    out = [json.loads(line) for f in (tmp_path / "out").glob("results-*.jsonl") for line in f.read_text().splitlines()]
    assert sorted(line["custom_id"] for line in out) == [f"w{i}" for i in range(5)]
    assert {line["response"]["body"]["model"] for line in out} == {"stub-model"}  # --model filled the bodies
    started = [json.loads(line) for line in argv_file.read_text().splitlines()]
    assert len(started) == 1  # one server for the pipeline, shared
    argv = started[0]["argv"]
    assert argv[:2] == ["--model", "stub-model"]
    assert argv[2] == "--port" and argv[3].isdigit()
    assert argv[4:] == ["--max-model-len", "8192", "--enable-prefix-caching"]
