"""The batch files against vLLM's own models, at the release the chart pins (the vllm_parser environment).

The consumer of the pipeline's input is `vllm run-batch` (the same file must work with the batch Job),
and of its output whatever reads run-batch's output: both formats are vLLM 0.33.0's pydantic models
``BatchRequestInput`` and ``BatchRequestOutput`` (vllm/entrypoints/launchers/run_batch.py; the
openai/run_batch.py the docs name is a deprecated shim there). A child process in the cached parser
environment validates the lines with them.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from paths import CHART
from support.openai_stub import OpenAIStub
from vllm_serving.pipeline import records
from vllm_serving.pipeline.client import EndpointClient, EndpointSettings
from vllm_serving.pipeline.records import Outcome, Rejected, Request
from vllm_serving.vllm_parser import parser_env, pinned_vllm_version

CHILD = Path(__file__).with_name("_vllm_batch_child.py")
CHAT = "/v1/chat/completions"
MESSAGES = [{"role": "user", "content": "hi"}]


def line(**fields) -> str:
    return json.dumps(fields)


# (line, what run-batch does with it when vLLM's model accepts it but then answers with an error).
INPUTS = {
    "chat": line(custom_id="a", method="POST", url=CHAT, body={"model": "m", "messages": MESSAGES}),
    "chat without model": line(custom_id="b", method="POST", url=CHAT, body={"messages": MESSAGES, "max_tokens": 8}),
    "any method": line(custom_id="c", method="GET", url=CHAT, body={"messages": MESSAGES}),
    "extra field": line(custom_id="d", method="POST", url=CHAT, body={"messages": MESSAGES}, note="x"),
    "embeddings": line(custom_id="e", method="POST", url="/v1/embeddings", body={"model": "m", "input": "x"}),
    "not json": "this is not json",
    "array": "[1, 2]",
    "no custom_id": line(method="POST", url=CHAT, body={"messages": MESSAGES}),
    "numeric custom_id": line(custom_id=7, method="POST", url=CHAT, body={"messages": MESSAGES}),
    "no method": line(custom_id="f", url=CHAT, body={"messages": MESSAGES}),
    "no messages": line(custom_id="g", method="POST", url=CHAT, body={"model": "m"}),
    "body not an object": line(custom_id="h", method="POST", url=CHAT, body=[1]),
    "completions url": line(custom_id="i", method="POST", url="/v1/completions", body={"prompt": "x"}),
}
# Lines vLLM's model accepts and run-batch then answers with an error line instead of running them;
# the pipeline answers them with a 400 line without sending them.
ANSWERED_WITH_AN_ERROR = {
    "stream": line(custom_id="j", method="POST", url=CHAT, body={"messages": MESSAGES, "stream": True}),
}


def parsed(text: str):
    return records.parse_line(text, fmt="jsonl", source="in:1", text_id="in-1", model="stub-model")


def outputs() -> dict[str, str]:
    """Every kind of output line, the success from a real exchange with the OpenAI stub."""
    request = parsed(INPUTS["chat without model"])
    with OpenAIStub(tokens=3) as stub:
        client = EndpointClient(EndpointSettings(stub.url, max_retries=0))
        ok = client.send(request)
        not_found = client.send(Request("nf", CHAT, {"model": "other", "messages": MESSAGES}, "in:2", "{}"))
    assert ok.ok and not_found.status == 404
    down = Outcome(request, None, None, "POST http://x/v1/chat/completions: ConnectionRefusedError")
    bad_gateway = Outcome(request, 502, None, "HTTP 502")
    rejected = Rejected("in:3", "{}", "body.messages must be a list of chat messages", "g")
    return {
        "success": records.to_json(records.output_record(ok)),
        "openai error": records.to_json(records.output_record(not_found)),
        "plain http error": records.to_json(records.output_record(bad_gateway)),
        "no answer": records.to_json(records.output_record(down)),
        "malformed with id": records.to_json(records.rejected_output_record(rejected)),
    }


def beam_server_argv(server_kwargs: dict[str, str | None]) -> list[str]:
    """What Beam's vLLM handler runs after ``python -m vllm.entrypoints.openai.api_server``, from its own
    code: its process start is replaced by one that records the command and fails, so nothing runs."""
    pytest.importorskip("openai")
    from apache_beam.ml.inference import vllm_inference

    from vllm_serving.pipeline.transforms import WorkerVLLMHandler

    commands: list[list[str]] = []

    class Exited:
        def poll(self):
            return 1

    def record(cmd):
        commands.append([arg.replace("{{PORT}}", "8000") for arg in cmd])
        return Exited(), 8000

    handler = WorkerVLLMHandler("google/gemma-2-9b-it", server_kwargs, EndpointSettings("http://x"), batch_size=8)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(vllm_inference, "start_process", record)
        with pytest.raises(Exception, match="Failed to start vLLM server"):
            handler.load_model()
    assert commands[0][1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    return commands[0][3:]


# The worker server's kwargs from `--vllm-arg` and `--gpus-per-worker`, and one vLLM does not know.
SERVER_KWARGS = {
    "typical": {"max-model-len": "8192", "gpu-memory-utilization": "0.9", "enable-prefix-caching": None},
    "tensor parallel": {"tensor-parallel-size": "4", "max-num-seqs": "128"},
    "unknown flag": {"max-model-length": "8192"},
}


@pytest.fixture(scope="module")
def verdicts() -> dict[str, dict]:
    env = parser_env(pinned_vllm_version(CHART))
    inputs = {**INPUTS, **ANSWERED_WITH_AN_ERROR}
    produced = outputs()
    argvs = {name: beam_server_argv(kwargs) for name, kwargs in SERVER_KWARGS.items()}
    request = {"inputs": list(inputs.values()), "outputs": list(produced.values()), "argvs": list(argvs.values())}
    proc = subprocess.run(
        [str(env / "bin" / "python"), str(CHILD)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    answer = json.loads(proc.stdout)
    return {
        "inputs": dict(zip(inputs, answer["inputs"], strict=True)),
        "outputs": dict(zip(produced, answer["outputs"], strict=True)),
        "argvs": dict(zip(argvs, answer["argvs"], strict=True)),
        "argv": argvs,
    }


@pytest.mark.vllm_parser
class TestAgainstVllm:
    @pytest.mark.parametrize("name", INPUTS)
    def test_a_line_is_sent_exactly_when_run_batch_accepts_it(self, verdicts, name):
        vllm = verdicts["inputs"][name]
        ours = parsed(INPUTS[name])
        assert isinstance(ours, Request) == vllm["ok"], (ours, vllm)

    @pytest.mark.parametrize("name", ANSWERED_WITH_AN_ERROR)
    def test_lines_run_batch_answers_with_an_error_get_a_400_here(self, verdicts, name):
        assert verdicts["inputs"][name]["ok"]
        ours = parsed(ANSWERED_WITH_AN_ERROR[name])
        assert isinstance(ours, Rejected) and ours.custom_id is not None

    @pytest.mark.parametrize("name", ["success", "openai error", "plain http error", "no answer", "malformed with id"])
    def test_every_output_line_is_a_run_batch_output_line(self, verdicts, name):
        assert verdicts["outputs"][name] == {"ok": True, "error": ""}

    def test_beam_starts_the_worker_server_with_an_argv_vllm_accepts(self, verdicts):
        assert verdicts["argv"]["typical"] == [
            *("--model", "google/gemma-2-9b-it", "--port", "8000"),
            *("--max-model-len", "8192", "--gpu-memory-utilization", "0.9", "--enable-prefix-caching"),
        ]
        assert verdicts["argvs"]["typical"] == {"ok": True, "error": ""}
        assert verdicts["argvs"]["tensor parallel"] == {"ok": True, "error": ""}

    def test_a_flag_vllm_does_not_know_is_refused_by_its_parser(self, verdicts):
        refused = verdicts["argvs"]["unknown flag"]
        assert not refused["ok"] and "--max-model-length" in refused["error"]
