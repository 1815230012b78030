"""`--streaming`: Pub/Sub messages through the same serving transforms, fed by Beam's TestStream (no network).

The messages are what ReadFromPubSub(with_attributes=True) emits (PubsubMessage with data, attributes
and message_id); they arrive in two bursts with the watermark between them, and the pipeline runs
on Beam's streaming-capable BundleBasedDirectRunner against the OpenAI stub, writing windowed files
as `--output` asks. What goes to Pub/Sub is checked as the messages WriteToPubSub would publish.
"""

from __future__ import annotations

import json

import pytest

from support.openai_stub import Failure, OpenAIStub
from vllm_serving.commands import pipeline as pipeline_command

beam = pytest.importorskip("apache_beam")

from apache_beam.io.gcp.pubsub import PubsubMessage  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions  # noqa: E402
from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner  # noqa: E402
from apache_beam.testing.test_stream import TestStream as Stream  # noqa: E402 (not a test class)
from apache_beam.testing.util import assert_that, equal_to  # noqa: E402
from apache_beam.transforms.window import TimestampedValue  # noqa: E402

from vllm_serving.pipeline import run, transforms  # noqa: E402


def request(custom_id: str) -> bytes:
    body = {"model": "stub-model", "messages": [{"role": "user", "content": custom_id}], "max_tokens": 3}
    line = {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}
    return json.dumps(line).encode()


def message(data: bytes, message_id: str, **attributes) -> PubsubMessage:
    return PubsubMessage(data, attributes, message_id=message_id)


def custom_ids(lines):
    return sorted(json.loads(line)["custom_id"] for line in lines)


def test_pubsub_messages_in_two_bursts(tmp_path):
    stream = (
        Stream()
        .add_elements([TimestampedValue(message(request(f"a{i}"), f"m{i}", format="jsonl"), 1) for i in range(4)])
        .add_elements([TimestampedValue(message(b"What is GKE?", "m10", custom_id="prompt-1"), 2)])
        .add_elements([TimestampedValue(message(b"Why vLLM?", "m11"), 3)])
        .advance_processing_time(5)
        .advance_watermark_to(70)
        # Late: the first window's on-time pane has fired; these come in its late pane.
        .add_elements([TimestampedValue(message(request(f"late{i}"), f"m3{i}", format="jsonl"), 30) for i in range(2)])
        .advance_processing_time(5)
        .advance_watermark_to(75)
        .add_elements([TimestampedValue(message(request("b0"), "m20", format="jsonl"), 71)])
        .add_elements([TimestampedValue(message(b"{not json", "m21", format="jsonl"), 72)])
        .advance_processing_time(5)
        # Past the second window's end: its partial batch is flushed by the window timer before the
        # watermark reaches the end of time (TestStream's processing time does not drive Beam's
        # wall-clock buffering timer, so here windows end the batches).
        .advance_watermark_to(130)
        .advance_watermark_to_infinity()
    )
    with OpenAIStub(failure=Failure("status", every=3)) as stub:
        plan = pipeline_command.plan(
            [
                *("run", "--streaming", "--input-subscription", "projects/p/subscriptions/requests"),
                *("--output", str(tmp_path / "out" / "results"), "--endpoint", stub.url, "--model", "stub-model"),
                *("--retry-backoff", "0", "--window-seconds", "60"),
            ]
        )
        options = PipelineOptions(streaming=True)
        assert options.view_as(StandardOptions).streaming
        with beam.Pipeline(runner=BundleBasedDirectRunner(), options=options) as p:
            result = run.build_streaming(p, plan, messages=p | stream)
            expected = ["a0", "a1", "a2", "a3", "b0", "late0", "late1", "m11", "prompt-1"]
            assert_that(result["output"] | beam.Map(lambda line: json.loads(line)["custom_id"]), equal_to(expected))
            dead_sources = result["dead_letter"] | "Src" >> beam.Map(lambda line: json.loads(line)["source"])
            assert_that(dead_sources, equal_to(["pubsub:m21"]), label="DeadLetter")
    # One file per window and pane (transforms.WriteWindowPanes): the late pane has its own file, and
    # every answer is in exactly one file (Beam's WriteToFiles renamed the late pane onto the on-time one).
    files = {
        f.name.removeprefix("results-"): custom_ids(f.read_text().splitlines())
        for f in (tmp_path / "out").glob("results-1970-*.jsonl")
    }
    assert files == {
        "1970-01-01T00:00:00-1970-01-01T00:01:00-pane-00000.jsonl": ["a0", "a1", "a2", "a3", "m11", "prompt-1"],
        "1970-01-01T00:00:00-1970-01-01T00:01:00-pane-00001.jsonl": ["late0", "late1"],
        "1970-01-01T00:01:00-1970-01-01T00:02:00-pane-00000.jsonl": ["b0"],
    }
    windows = {name: (tmp_path / "out" / f"results-{name}").read_text().splitlines() for name in files}
    lines = [line for window_lines in windows.values() for line in window_lines]
    assert all(json.loads(line)["response"]["status_code"] == 200 for line in lines)  # the 500s were retried
    dead = sorted((tmp_path / "out").glob("results.dead-letter-*.jsonl"))
    assert [json.loads(line)["source"] for f in dead for line in f.read_text().splitlines()] == ["pubsub:m21"]


def test_output_messages_carry_the_custom_id():
    line = json.dumps({"id": "vllm-1", "custom_id": "a0", "response": None, "error": "x"})
    published = transforms.to_pubsub_message(line)
    assert published.data == line.encode()
    assert published.attributes == {"custom_id": "a0"}
    # A dead-letter record of a line without an id publishes with no attribute.
    assert transforms.to_pubsub_message(json.dumps({"custom_id": None})).attributes == {}


def test_message_keys():
    path, source, text_id, line = transforms.pubsub_message_key(message(b"hello", "42"))
    assert (path, source, text_id, line) == ("message", "pubsub:42", "42", "hello")
    assert transforms.pubsub_message_key(message(b"{}", "43", format="jsonl"))[0] == "message.jsonl"


def streaming_plan(subscription: str):
    return pipeline_command.plan(
        [
            *("run", "--streaming", "--input-subscription", subscription, "--endpoint", "http://10.0.0.5:8000"),
            *("--output-topic", "projects/my-project/topics/results"),
            *("--dead-letter-topic", "projects/my-project/topics/results-dead-letter"),
        ]
    )


def test_the_pubsub_transforms_take_the_names():
    """Beam's own ReadFromPubSub/WriteToPubSub parse the names when the graph is built (no network)."""
    with_pubsub = beam.Pipeline()
    result = run.build_streaming(with_pubsub, streaming_plan("projects/my-project/subscriptions/requests"))
    assert set(result) == {"output", "dead_letter"}
    labels = [t.full_label for t in with_pubsub.transforms_stack[0].parts]
    assert labels[0] == "ReadPubSub"
    assert {"outputPublish", "dead_letterPublish"} <= {label.split("/")[0] for label in labels}


def test_a_subscription_name_beam_refuses():
    with pytest.raises(ValueError, match='PubSub subscription must be in the form "projects/<project>/subscriptions/'):
        run.build_streaming(beam.Pipeline(), streaming_plan("requests"))
