"""The Beam side: model handlers for RunInference and the transforms a pipeline is built from.

Importing this module imports apache_beam; only ``vllm_serving.pipeline.run`` does, after the
command line is parsed, so other commands never pay for it.

    lines (file, number, text)  --ParseLines-->  Request | Rejected
    Request  --RunInference(EndpointModelHandler | WorkerVLLMHandler)-->  Outcome
    Outcome, Rejected  --ToOutputs-->  output lines (vLLM batch format) | dead-letter lines
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath
from typing import Any

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler, RunInference

from vllm_serving.pipeline import records
from vllm_serving.pipeline.client import EndpointClient, EndpointSettings, read_secret_version
from vllm_serving.pipeline.records import Outcome, Rejected, Request

NAMESPACE = "vllm-serving"
DEAD_LETTER = "dead_letter"
REJECTED = "rejected"


class EndpointModelHandler(ModelHandler[Request, Outcome, EndpointClient]):
    """RunInference against a served release: each batch goes out through a bounded pool of requests.

    The "model" is an EndpointClient (a connection pool); loading it costs nothing, so each worker
    process has its own. Batches are large (``batch_size``) so that the pool stays full: in
    continuous mode only a batch's last ``concurrency`` requests ever wait for one another.
    """

    def __init__(self, settings: EndpointSettings, *, batch_size: int, max_batch_duration_secs: int | None = None):
        # min = max: Beam's BatchElements would otherwise start at batches of 1 and grow them, and a
        # small batch leaves the pool idle while its last requests finish.
        super().__init__(
            min_batch_size=batch_size, max_batch_size=batch_size, max_batch_duration_secs=max_batch_duration_secs
        )
        self._settings = settings

    def load_model(self) -> EndpointClient:
        return EndpointClient(self._settings)

    def run_inference(
        self, batch: Sequence[Request], model: EndpointClient, inference_args: dict[str, Any] | None = None
    ) -> Iterable[Outcome]:
        return model.run(batch)

    def get_metrics_namespace(self) -> str:
        return NAMESPACE


class _WorkerServer:
    """Beam's vLLM server in this worker, and a client to it. Holding the server keeps it running.

    Beam restarts a dead server only from ``check_connectivity`` (its ``get_server_port`` restarts
    only a server ``check_connectivity`` has already stopped), which Beam's own handler calls when a
    request fails (vllm_inference.py, Beam 2.77.0). Requests here go through EndpointClient instead,
    so its ``recover`` hook does the same: after a failure to connect or read, check the server,
    restarting it if its process died, and send the retry to the port it now has.
    """

    def __init__(self, server: Any, settings: EndpointSettings):
        self.server = server
        # The worker's own server needs no key.
        local = {"url": self._url(), "api_key_env": "", "api_key_secret": ""}
        self._client = EndpointClient(EndpointSettings(**{**vars(settings), **local}), recover=self._recover)

    def _url(self) -> str:
        return f"http://127.0.0.1:{self.server.get_server_port()}"

    def _recover(self) -> str:
        self.server.check_connectivity()  # returns once the server answers; restarts a dead one first
        return self._url()

    def run(self, batch: Sequence[Request]) -> list[Outcome]:
        return self._client.run(batch)


class WorkerVLLMHandler(ModelHandler[Request, Outcome, _WorkerServer]):
    """vLLM inside the worker: Beam's own VLLMChatModelHandler starts and watches the server.

    Beam's handler (apache_beam/ml/inference/vllm_inference.py, Beam 2.77.0) runs
    ``python -m vllm.entrypoints.openai.api_server --model MODEL --port PORT`` plus
    ``vllm_server_kwargs`` once per worker VM (``share_model_across_processes``) and restarts it
    when it stops answering. Its own ``run_inference`` sends only the chat messages of each
    element; this one sends each request's whole body (sampling parameters, max_tokens) through
    the same client as the endpoint mode, so retries, the dead-letter output and the output format
    are the same in both modes.

    Beam ends the process that holds the shared server with SIGTERM, or with os._exit when its parent
    dies, and neither stops the vLLM process Beam started: on Dataflow the worker VM goes with it, but
    a local run leaves vLLM running (tests/pipeline/test_dataflow_worker.py stops its stand-in itself).

    A gated model's Hugging Face token comes from ``hf_token_secret`` (a Secret Manager version): the
    worker reads it when it loads the model and sets ``HF_TOKEN`` in its environment, which Beam's
    ``start_process`` passes on to vLLM (huggingface_hub reads ``HF_TOKEN``). Only the secret's name is
    in the pipeline graph.
    """

    def __init__(
        self,
        model: str,
        vllm_server_kwargs: dict[str, str | None],
        settings: EndpointSettings,
        *,
        batch_size: int,
        max_batch_duration_secs: int | None = None,
        hf_token_secret: str = "",
    ):
        super().__init__(
            min_batch_size=batch_size, max_batch_size=batch_size, max_batch_duration_secs=max_batch_duration_secs
        )
        from apache_beam.ml.inference.vllm_inference import VLLMChatModelHandler

        self._beam_handler = VLLMChatModelHandler(model, vllm_server_kwargs=dict(vllm_server_kwargs))
        self._settings = settings
        self._hf_token_secret = hf_token_secret

    def load_model(self) -> _WorkerServer:
        if self._hf_token_secret:
            os.environ["HF_TOKEN"] = read_secret_version(self._hf_token_secret)
        return _WorkerServer(self._beam_handler.load_model(), self._settings)

    def run_inference(
        self, batch: Sequence[Request], model: _WorkerServer, inference_args: dict[str, Any] | None = None
    ) -> Iterable[Outcome]:
        return model.run(batch)

    def share_model_across_processes(self) -> bool:
        return self._beam_handler.share_model_across_processes()

    def get_metrics_namespace(self) -> str:
        return NAMESPACE


def numbered_lines(readable: fileio.ReadableFile) -> Iterable[tuple[str, int, str]]:
    """(path, line number from 1, text) for each line of one matched file."""
    path = readable.metadata.path
    with readable.open() as raw, io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="") as text:
        for number, line in enumerate(text, start=1):
            yield path, number, line


class ReadNumberedLines(beam.PTransform):
    """Every line of every file ``pattern`` matches, with its file and line number."""

    def __init__(self, pattern: str):
        super().__init__()
        self._pattern = pattern

    def expand(self, pbegin):
        return (
            pbegin
            | "Match" >> fileio.MatchFiles(self._pattern)
            | "Open" >> fileio.ReadMatches()
            | "Lines" >> beam.FlatMap(numbered_lines)
            # Break fusion: the match is one element (MatchFiles is a one-element Create) and a file one
            # more, so without a shuffle here every line of a file would be parsed and served by the worker
            # that read it (https://cloud.google.com/dataflow/docs/pipeline-lifecycle#fusion_optimization).
            # Streaming needs none: each worker pulls its own Pub/Sub messages.
            | "Spread" >> beam.Reshuffle()
        )


class ParseLines(beam.DoFn):
    """(source, custom-id-if-text, text) -> Request, or Rejected on the ``rejected`` output."""

    def __init__(self, input_format: str, model: str | None, max_tokens: int | None):
        self._format = input_format
        self._model = model
        self._max_tokens = max_tokens
        self._lines = Metrics.counter(NAMESPACE, "lines")
        self._malformed = Metrics.counter(NAMESPACE, "malformed")

    def process(self, element: tuple[str, str, str, str]):
        path, source, text_id, line = element
        parsed = records.parse_line(
            line,
            fmt=records.format_for(path, self._format),
            source=source,
            text_id=text_id,
            model=self._model,
            max_tokens=self._max_tokens,
        )
        if parsed is None:
            return
        self._lines.inc()
        if isinstance(parsed, Rejected):
            self._malformed.inc()
            yield beam.pvalue.TaggedOutput(REJECTED, parsed)
        else:
            yield parsed


def file_line_key(element: tuple[str, int, str]) -> tuple[str, str, str, str]:
    """(path, source, text custom_id, line) of a file line: sources are FILE:LINE, text ids STEM-LINE."""
    path, number, line = element
    return path, f"{path}:{number}", f"{PurePosixPath(path).stem}-{number}", line


class SplitOutcomes(beam.DoFn):
    """Outcome -> its output line; a failed one also to the dead-letter output."""

    def __init__(self):
        self._ok = Metrics.counter(NAMESPACE, "succeeded")
        self._failed = Metrics.counter(NAMESPACE, "failed")
        self._retries = Metrics.counter(NAMESPACE, "retries")

    def process(self, outcome: Outcome):
        self._retries.inc(outcome.attempts - 1)
        yield records.to_json(records.output_record(outcome))
        if outcome.ok:
            self._ok.inc()
        else:
            self._failed.inc()
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, records.to_json(records.dead_letter_record(outcome)))


def split_rejected(rejected: Rejected):
    """A malformed line -> the dead-letter output; with a custom_id also a 400 output line."""
    if rejected.custom_id is not None:
        yield records.to_json(records.rejected_output_record(rejected))
    yield beam.pvalue.TaggedOutput(DEAD_LETTER, records.to_json(records.dead_letter_record(rejected)))


class Serve(beam.PTransform):
    """Keyed lines (path, source, text id, line) -> {"output": lines, "dead_letter": lines}."""

    def __init__(self, handler: ModelHandler, input_format: str, model: str | None, max_tokens: int | None):
        super().__init__()
        self._handler = handler
        self._parse = ParseLines(input_format, model, max_tokens)

    def expand(self, keyed_lines):
        parsed = keyed_lines | "Parse" >> beam.ParDo(self._parse).with_outputs(REJECTED, main="requests")
        served = (
            parsed.requests
            | "RunInference" >> RunInference(self._handler)
            | "Split" >> beam.ParDo(SplitOutcomes()).with_outputs(DEAD_LETTER, main="output")
        )
        rejected = parsed[REJECTED] | "Rejected" >> beam.FlatMap(split_rejected).with_outputs(
            DEAD_LETTER, main="output"
        )
        output = (served.output, rejected.output) | "Output" >> beam.Flatten()
        dead = (served[DEAD_LETTER], rejected[DEAD_LETTER]) | "DeadLetter" >> beam.Flatten()
        return {"output": output, "dead_letter": dead}


def pubsub_message_key(message: Any) -> tuple[str, str, str, str]:
    """A Pub/Sub message (``with_attributes=True``) as a keyed line. Its format comes from the
    ``format`` attribute or the pipeline's --input-format; a text prompt's custom_id is the
    ``custom_id`` attribute or the message id."""
    attributes = dict(message.attributes or {})
    message_id = message.message_id or ""
    text_id = attributes.get("custom_id") or message_id
    name = "message.jsonl" if attributes.get("format") == "jsonl" else "message"
    return name, f"pubsub:{message_id}", text_id, message.data.decode("utf-8", errors="replace")


def to_pubsub_message(line: str) -> Any:
    """An output line as a Pub/Sub message, its custom_id in an attribute for subscribers' filters."""
    from apache_beam.io.gcp.pubsub import PubsubMessage

    custom_id = ""
    if line.startswith("{"):
        import json

        custom_id = str(json.loads(line).get("custom_id") or "")
    return PubsubMessage(line.encode("utf-8"), {"custom_id": custom_id} if custom_id else {})


class WriteWindowPanes(beam.PTransform):
    """Lines -> one file per window and firing: ``PREFIX-START-END-pane-N.jsonl``.

    Beam's WriteToFiles names a window's files by the window alone and "does not support multiple
    firings per Window" (its docstring; ``_format_shard`` leaves the pane out, apache/beam#18721,
    Beam 2.77.0), so a late firing would be renamed onto the on-time file. Here every pane of the
    window's trigger is one GroupByKey output, written under its own pane index: with discarding
    panes, every line is in exactly one file, and none is overwritten. Each file is written beside
    its name and renamed into place, so a retried bundle rewrites the same pane whole.
    """

    def __init__(self, prefix: str):
        super().__init__()
        self._prefix = prefix

    def expand(self, lines):
        return (
            lines
            | "Key" >> beam.Map(lambda line: (None, line))
            | "Panes" >> beam.GroupByKey()
            | "Write" >> beam.ParDo(_WritePane(self._prefix))
        )


class _WritePane(beam.DoFn):
    def __init__(self, prefix: str):
        self._prefix = prefix

    def process(self, keyed, window=beam.DoFn.WindowParam, pane=beam.DoFn.PaneInfoParam):
        from apache_beam.io.filesystems import FileSystems

        start = window.start.to_utc_datetime().isoformat()
        end = window.end.to_utc_datetime().isoformat()
        path = f"{self._prefix}-{start}-{end}-pane-{pane.index:05d}.jsonl"
        partial = f"{path}.partial"
        with FileSystems.create(partial) as out:
            for line in keyed[1]:
                out.write(line.encode("utf-8") + b"\n")
        if FileSystems.exists(path):
            FileSystems.delete([path])
        FileSystems.rename([partial], [path])
        yield path
