"""Build the Beam pipeline from a Plan and run it (imports apache_beam)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.transforms import trigger, window

from vllm_serving.errors import UsageError
from vllm_serving.pipeline import transforms
from vllm_serving.pipeline.transforms import NAMESPACE, EndpointModelHandler, Serve, WorkerVLLMHandler

if TYPE_CHECKING:
    from vllm_serving.pipeline.plan import Plan

COUNTERS = ("lines", "succeeded", "failed", "malformed", "retries")
# RunInference's batching waits this long at most in streaming before it sends a partial batch.
_STREAMING_BATCH_SECONDS = 1
# Answers can come back after the watermark passed their window (RunInference's batching holds no
# watermark), and Pub/Sub can deliver late messages: the file sinks take them this long after the
# window, in a late pane (its own file, transforms.WriteWindowPanes), instead of dropping them.
_ALLOWED_LATENESS = 3600


def handler(p: Plan, streaming: bool):
    duration = _STREAMING_BATCH_SECONDS if streaming else None
    if p.args.vllm_in_worker:
        return WorkerVLLMHandler(
            p.args.model,
            p.server_kwargs,
            p.settings,
            batch_size=p.batch_size,
            max_batch_duration_secs=duration,
            hf_token_secret=p.args.hf_token_secret or "",
        )
    return EndpointModelHandler(p.settings, batch_size=p.batch_size, max_batch_duration_secs=duration)


def serve(p: Plan, streaming: bool) -> Serve:
    return Serve(handler(p, streaming), p.args.input_format, p.args.model, p.args.max_tokens)


def build_batch(pipeline: beam.Pipeline, p: Plan) -> None:
    """Files in, files out."""
    keyed = (
        pipeline | "Read" >> transforms.ReadNumberedLines(p.args.input) | "Key" >> beam.Map(transforms.file_line_key)
    )
    result = keyed | "Serve" >> serve(p, streaming=False)
    shards = p.args.num_shards
    result["output"] | "WriteOutput" >> beam.io.WriteToText(p.args.output, file_name_suffix=".jsonl", num_shards=shards)
    result["dead_letter"] | "WriteDeadLetter" >> beam.io.WriteToText(
        f"{p.args.output}.dead-letter", file_name_suffix=".jsonl", num_shards=shards
    )


def build_streaming(pipeline: beam.Pipeline, p: Plan, messages: Any = None) -> dict[str, Any]:
    """Pub/Sub in (or ``messages``, a PCollection of PubsubMessage, as tests give), Pub/Sub or files out."""
    if messages is None:
        from apache_beam.io.gcp.pubsub import ReadFromPubSub

        messages = pipeline | "ReadPubSub" >> ReadFromPubSub(
            topic=p.args.input_topic, subscription=p.args.input_subscription, with_attributes=True
        )
    # Fixed windows before RunInference: its batching sends a partial batch at the end of a window
    # by the watermark (besides after _STREAMING_BATCH_SECONDS of processing time), and the file sinks
    # write one file per window. Nothing re-windows later: a batch flushed at the window's end carries
    # the end as its timestamp, which a second FixedWindows would put in the next window.
    keyed = (
        messages
        | "Key" >> beam.Map(transforms.pubsub_message_key)
        | "Window"
        >> beam.WindowInto(
            window.FixedWindows(p.args.window_seconds),
            trigger=trigger.AfterWatermark(late=trigger.AfterCount(1)),
            allowed_lateness=_ALLOWED_LATENESS,
            accumulation_mode=trigger.AccumulationMode.DISCARDING,
        )
    )
    result = keyed | "Serve" >> serve(p, streaming=True)
    if p.args.output_topic:
        from apache_beam.io.gcp.pubsub import WriteToPubSub

        for name, topic in (("output", p.args.output_topic), ("dead_letter", p.args.dead_letter_topic)):
            (
                result[name]
                | f"{name}Message" >> beam.Map(transforms.to_pubsub_message)
                | f"{name}Publish" >> WriteToPubSub(topic, with_attributes=True)
            )
    else:
        for name, prefix in (("output", p.args.output), ("dead_letter", f"{p.args.output}.dead-letter")):
            result[name] | f"{name}Write" >> transforms.WriteWindowPanes(prefix)
    return result


def local_runner(p: Plan) -> Any:
    """The runner object for --runner DirectRunner.

    Beam's DirectRunner (SwitchingDirectRunner, runners/direct/direct_runner.py at 2.77.0) first tries
    the PrismRunner, which downloads a Prism release binary from GitHub when none is given; only after
    that fails does it use the in-process runners. No release binary is ever downloaded here, so this
    picks the in-process runner it would fall back to: the FnApiRunner for batch, the
    BundleBasedDirectRunner for streaming. `--runner PrismRunner` runs Prism built from its Go module.
    """
    if p.args.streaming:
        from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner

        return BundleBasedDirectRunner()
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    return FnApiRunner()


def run(p: Plan, flags: list[str]) -> int:
    options = PipelineOptions(flags)
    runner: Any = options.view_as(StandardOptions).runner
    if p.args.runner == "DirectRunner":
        runner = local_runner(p)
    with_counts = p.args.runner != "DataflowRunner" and not p.args.streaming
    pipeline = beam.Pipeline(runner=runner, options=options)
    try:
        if p.args.streaming:
            build_streaming(pipeline, p)
        else:
            build_batch(pipeline, p)
    except ValueError as err:  # Beam refuses a Pub/Sub topic or subscription name when it builds the read
        raise UsageError(f"pipeline run: {err}") from None
    result = pipeline.run()
    if p.args.runner == "DataflowRunner":
        print(f"submitted Dataflow job {getattr(result, 'job_id', lambda: '?')()}; follow it in the console")
        return 0
    result.wait_until_finish()
    if with_counts:
        counts = counters(result)
        print(
            f"{counts['lines']} lines read: {counts['succeeded']} succeeded, {counts['failed']} failed, "
            f"{counts['malformed']} malformed ({counts['retries']} retries); "
            f"output {p.args.output}-*.jsonl, dead letter {p.args.output}.dead-letter-*.jsonl"
        )
        if counts["failed"] or counts["malformed"]:
            print("some lines failed: see the dead-letter output", file=sys.stderr)
    return 0


def counters(result: Any) -> dict[str, int]:
    """The pipeline's own counters (committed values), by name."""
    found = {name: 0 for name in COUNTERS}
    for counter in result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]:
        if counter.key.metric.name in found:
            found[counter.key.metric.name] += counter.committed or 0
    return found
