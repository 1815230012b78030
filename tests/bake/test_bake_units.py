"""Small pieces: image references, durations, the ledger, the serial watcher, progress, hashes, clients."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from support.clock import FakeClock
from vllm_serving.bake import baker, chart
from vllm_serving.bake.build_vm import ScriptFailed, ScriptTimeout, SerialWatcher, marker_line
from vllm_serving.errors import UsageError
from vllm_serving.gcp import options
from vllm_serving.gcp.clients import Clients
from vllm_serving.gcp.ledger import Ledger, State
from vllm_serving.gcp.progress import Progress


@pytest.mark.parametrize(
    ("ref", "normalized"),
    [
        ("vllm/vllm-openai:v0.33.0", "docker.io/vllm/vllm-openai:v0.33.0"),
        ("ubuntu:24.04", "docker.io/library/ubuntu:24.04"),
        ("docker.io/vllm/vllm-openai:v0.33.0", "docker.io/vllm/vllm-openai:v0.33.0"),
        ("us-docker.pkg.dev/p/r/img:1", "us-docker.pkg.dev/p/r/img:1"),
        ("localhost:5000/img:dev", "localhost:5000/img:dev"),
        ("gcr.io/p/img@sha256:" + "a" * 64, "gcr.io/p/img@sha256:" + "a" * 64),
        ("nvcr.io/nvidia/pytorch:24.01-py3", "nvcr.io/nvidia/pytorch:24.01-py3"),
    ],
)
def test_container_image_references(ref, normalized):
    assert options.container_image(ref) == normalized


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("45m", 2700), ("1h30m", 5400), ("2h", 7200)])
def test_durations(text, seconds):
    assert options.duration("--timeout", text) == seconds


@pytest.mark.parametrize("text", ["", "0", "1d", "m", "-5m"])
def test_bad_durations(text):
    with pytest.raises(UsageError, match="--timeout"):
        options.duration("--timeout", text)


def test_rfc1035_names():
    assert options.resource_name("--x", "a") == "a"
    assert options.resource_name("--x", "a" * 63)
    for bad in ("", "A", "a_b", "-a", "a-", "1a", "a" * 64, "a.b"):
        with pytest.raises(UsageError, match="RFC 1035"):
            options.resource_name("--x", bad)


def test_zones():
    for good in ("us-central1-a", "europe-west4-b", "northamerica-northeast1-c", "me-central2-a"):
        assert options.zone("--zone", good) == good
    for bad in ("us-central1", "us-central-a", "central1-a", "us_central1_a"):
        with pytest.raises(UsageError, match="is not a zone"):
            options.zone("--zone", bad)


class TestLedger:
    def test_clean_up_order_and_what_stays(self):
        ledger = Ledger()
        disk = ledger.record("disk", "scratch", "z", temporary=True)
        vm = ledger.record("instance", "vm", "z", temporary=True)
        image = ledger.record("image", "out", None, temporary=False)
        pending = ledger.record("disk", "out-z", "z", temporary=False)
        disk.state = vm.state = image.state = State.CREATED
        assert ledger.to_clean() == [pending, vm, disk]  # newest first; the finished output stays
        vm.state = State.DELETED
        assert ledger.to_clean() == [pending, disk]


class TestSerialWatcher:
    def watcher(self, chunks, *, timeout=100.0, run="r1"):
        clock = FakeClock()
        texts = list(chunks)

        def read(start):
            text = texts.pop(0) if texts else ""
            return text, start + len(text)

        return SerialWatcher(
            read,
            run,
            clock=clock,
            interval=10,
            timeout=timeout,
            progress=Progress(io.StringIO(), clock, tty=False),
            vm="vm",
        ), clock

    def test_success_after_steps(self):
        watcher, clock = self.watcher(
            ["boot\n", marker_line("r1", "STEP", "pulling") + "\n", marker_line("r1", "SUCCESS") + "\n"]
        )
        watcher.wait()
        assert watcher.step == "pulling"
        assert clock.sleeps == [10, 10]

    def test_failure_carries_the_reason_and_context(self):
        watcher, _ = self.watcher(["boot ok\n" + marker_line("r1", "FAILURE", "disk full") + "\n"])
        with pytest.raises(ScriptFailed, match="failed: disk full") as raised:
            watcher.wait()
        assert "  boot ok" in str(raised.value)

    def test_unknown_run_failures_count(self):
        watcher, _ = self.watcher([marker_line("unknown", "FAILURE", "usage: no mode") + "\n"])
        with pytest.raises(ScriptFailed, match="usage: no mode"):
            watcher.wait()

    def test_timeout_is_exact(self):
        watcher, clock = self.watcher([], timeout=25)
        with pytest.raises(ScriptTimeout, match="within 25s"):
            watcher.wait()
        assert clock.sleeps == [10, 10, 5]

    def test_carriage_returns_and_partial_lines(self):
        line = marker_line("r1", "SUCCESS")
        watcher, _ = self.watcher([line[:5], line[5:] + "\r\n"])
        watcher.wait()


class TestProgress:
    def test_bar_on_a_terminal(self):
        stream = io.StringIO()
        progress = Progress(stream, FakeClock(), tty=True)
        progress.wait(30, 60, "pulling")
        progress.info("next")
        text = stream.getvalue()
        assert text.startswith("\r    [############............] 30s of 1m pulling")
        assert text.endswith("\nnext\n")

    def test_lines_off_a_terminal(self):
        stream = io.StringIO()
        progress = Progress(stream, FakeClock(), tty=False)
        for elapsed in (0, 10, 20, 70):
            progress.wait(elapsed, 600, "pulling")
        assert stream.getvalue().count("\n") == 2  # detail changed once, then a minute passed
        assert "\r" not in stream.getvalue()

    def test_step_reports_failure(self):
        stream = io.StringIO()
        progress = Progress(stream, FakeClock(), tty=False)
        with pytest.raises(RuntimeError), progress.step("Doing it"):
            raise RuntimeError
        assert stream.getvalue() == "[1] Doing it\n    failed after 0s\n"


def test_content_hash_is_stable_and_label_safe():
    first = baker.content_hash("image-cache", images=["a", "b"])
    assert first == baker.content_hash("image-cache", images=["a", "b"])
    assert first != baker.content_hash("image-cache", images=["a"])
    assert re.fullmatch(r"[0-9a-f]{24}", first)


def test_run_ids_make_valid_names():
    run_id = baker.new_run_id()
    options.resource_name("--x", f"vllm-bake-{run_id}-check-vm-boot")


def test_temporary_filter():
    assert baker.temporary_filter(content="abc") == (
        '(labels.vllm-serving-bake:*) (labels.vllm-serving-bake-content = "abc")'
    )
    assert baker.temporary_filter(run_id="r") == '(labels.vllm-serving-bake = "r")'


def test_default_chart_is_the_repositorys(monkeypatch):
    monkeypatch.delenv("VLLM_SERVING_CHART", raising=False)
    repo_chart = Path(__file__).resolve().parents[2] / "charts" / "vllm-serving"
    if not (repo_chart / "values.yaml").is_file():
        pytest.skip("the repository's chart has no values.yaml yet")
    assert chart.chart_dir() == repo_chart
    assert re.fullmatch(r"[a-z0-9./-]+:[\w.-]+", chart.chart_image())


def test_clients_from_environment():
    clients = Clients.from_env({"VLLM_SERVING_COMPUTE_ENDPOINT": "http://127.0.0.1:9"})
    assert clients.compute_endpoint == "http://127.0.0.1:9"
    assert clients.container_endpoint is None
    assert clients.disks._transport._host == "http://127.0.0.1:9"


def test_printed_values_are_accepted_by_the_chart():
    """What the bake commands tell users to paste is valid chart input."""
    from vllm_serving.verdict import chart_verdict

    chart_dir = chart.chart_dir()
    assert chart_verdict(chart_dir, values=chart.image_cache_values("l4-cache")).problems == []
    handles = ["projects/my-project/zones/us-central1-a/disks/w", "projects/my-project/zones/us-central1-b/disks/w"]
    assert chart_verdict(chart_dir, values=chart.weights_values(handles, 4096)).problems == []
