"""vllm_serving.timeline: a pod's start read from its status, its events (as GKE's kubelet and scheduler write
them) and vLLM 0.33.0's own log lines, one stream per weight source."""

from __future__ import annotations

import ast
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from paths import CHART
from vllm_serving import timeline
from vllm_serving.commands import timeline as timeline_command
from vllm_serving.vllm_parser import parser_env, pinned_vllm_version

T0 = datetime(2026, 12, 5, 10, 0, 0, tzinfo=UTC)
IMAGE = "vllm/vllm-openai:v0.33.0"
LINES = {line.key: line for line in timeline.VLLM_LINES}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def stamp(seconds: float) -> str:
    return at(seconds).isoformat().replace("+00:00", "Z")


# --- vLLM's strings --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vllm_source() -> Path:
    """vLLM's package directory in the pinned release's parser environment (tests/test_vllm_parser.py builds it)."""
    env = parser_env(pinned_vllm_version(CHART))
    return next(env.glob("lib/python3*/site-packages/vllm"))


def string_constants(path: Path) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.setdefault(node.value, []).append(node.lineno)
    return found


@pytest.mark.parametrize("line", timeline.VLLM_LINES, ids=lambda line: line.key)
def test_each_log_string_is_vllms_own_at_the_cited_line(vllm_source, line):
    file, number = line.source.rsplit(":", 1)
    constants = string_constants(vllm_source.parent / file)
    assert line.format in constants, f"{line.format!r} is not a string of vllm=={pinned_vllm_version(CHART)} {file}"
    assert any(abs(n - int(number)) <= 3 for n in constants[line.format]), (line.source, constants[line.format])


# --- streams written from those strings ------------------------------------------------------------


def log_line(seconds: float, key: str, *args: object, process: str = "EngineCore pid=61") -> str:
    """One line as vLLM 0.33.0 writes it (vllm/logger.py _FORMAT, _DATE_FORMAT), behind the kubelet's timestamp."""
    file, number = LINES[key].source.rsplit(":", 1)
    when = at(seconds).strftime("%m-%d %H:%M:%S")
    return f"{stamp(seconds)} ({process}) INFO {when} [{Path(file).name}:{number}] {LINES[key].format % args}"


def vllm_log(source: str, *, compile_cached: bool = False, compile_end: float = 190, until: str | None = None) -> str:
    """A container started at 30 s: model load from 40 s, weights to 130 s, compile to compile_end (140 s from the
    cache), KV cache 10 s, CUDA graphs 15 s, API server 5 s later. Each source logs what vLLM logs for it."""
    lines = [
        f"{stamp(31)} (APIServer pid=1) INFO {at(31):%m-%d %H:%M:%S} [utils.py:300] non-default args: {{}}",
        log_line(40, "load_start", "/models", process="Worker_TP0 pid=97"),
    ]
    if source == "huggingface":
        lines.append(log_line(110, "download", "google/gemma-2-9b-it", 70.123456))
    if source in ("huggingface", "gcsfuse", "persistentDisk", "nfs"):
        fs = {"huggingface": "EXT4", "gcsfuse": "FUSE", "persistentDisk": "EXT4", "nfs": "NFS"}[source]
        lines.append(log_line(111, "checkpoint", fs, 17.21, 180.0))
    lines += [
        log_line(129, "weights_read", 18.0),
        log_line(130, "weights_loaded", "17.22", 90.0),
    ]
    if until == "weights":
        return "\n".join(lines[:-2]) + "\n"
    end = 140 if compile_cached else compile_end
    lines.append(log_line(132, "compile_start", ""))
    if compile_cached:
        lines.append(
            log_line(139, "aot_cached", "", "/root/.cache/vllm/torch_compile_cache/torch_aot_compile/ab/rank_0_0/model")
        )
    else:
        lines.append(log_line(185, "compile_miss", "", "(1, 8192)", 48.5))
    lines += [
        log_line(end, "compile_end", "", end - 132.0),
        log_line(end + 5, "kv_memory", "3.10"),
        log_line(end + 10, "kv_size", "GPU", "68,613", "8,192", 8.37),
        log_line(end + 25, "graphs_end", 15.0, 0.41),
        log_line(end + 26, "engine_ready", end - 130.0, process="EngineCore pid=61"),
        log_line(end + 30, "api_ready", "http://0.0.0.0:8000", process="APIServer pid=1"),
    ]
    return "\n".join(lines) + "\n"


def gke_pod(source: str, *, restarts: int = 0, ready_at: float | None = 230, image_cache: bool = False) -> dict:
    """A pod as GKE's API server returns it once started: the chart's annotations, the GCSFuse sidecar for gcsfuse."""
    annotations = {"vllm-serving/weights-source": source, "vllm-serving/weights-gb": "18.5"}
    if image_cache:
        annotations["vllm-serving/image-cache"] = "secondary-boot-disk"
    init_statuses = []
    if source == "gcsfuse":
        annotations["gke-gcsfuse/volumes"] = "true"
        init_statuses.append({"name": "gke-gcsfuse-sidecar", "state": {"running": {"startedAt": stamp(20)}}})
    conditions = [{"type": "PodScheduled", "status": "True", "lastTransitionTime": stamp(5)}]
    conditions.append(
        {"type": "Ready", "status": "True", "lastTransitionTime": stamp(ready_at)}
        if ready_at is not None
        else {"type": "Ready", "status": "False", "lastTransitionTime": stamp(5)}
    )
    status = {"name": "vllm", "restartCount": restarts, "state": {"running": {"startedAt": stamp(30)}}}
    if restarts:
        status["lastState"] = {"terminated": {"exitCode": 137, "reason": "Error", "finishedAt": stamp(29)}}
    return {
        "metadata": {
            "name": "vllm-vllm-serving-7d9f-abcde",
            "uid": "u1",
            "creationTimestamp": stamp(0),
            "annotations": annotations,
        },
        "spec": {
            "nodeName": "gke-l4-pool-1",
            "containers": [
                {
                    "name": "vllm",
                    "image": IMAGE,
                    "startupProbe": {"httpGet": {"path": "/health"}, "periodSeconds": 10, "failureThreshold": 68},
                }
            ],
        },
        "status": {"conditions": conditions, "containerStatuses": [status], "initContainerStatuses": init_statuses},
    }


def event(reason: str, message: str, seconds: float, *, new_api: bool = False, last: float | None = None) -> dict:
    """A core/v1 Event: the scheduler writes events.k8s.io events (eventTime only), the kubelet legacy ones."""
    times = (
        {"eventTime": stamp(seconds) + "000"}
        if new_api
        else {"firstTimestamp": stamp(seconds), "lastTimestamp": stamp(last or seconds)}
    )
    return {
        "metadata": {"creationTimestamp": stamp(seconds)},
        "involvedObject": {"kind": "Pod", "uid": "u1"},
        "reason": reason,
        "message": message,
        **times,
    }


def gke_events(*, pulled_from_registry: bool) -> list[dict]:
    """The messages of the scheduler and kubelet (k8s.io/kubernetes@v1.36.4 pkg/scheduler/schedule_one.go:1186,
    pkg/kubelet/images/image_manager.go:244, :355, :374)."""
    found = [
        event("Scheduled", "Successfully assigned ns/vllm-vllm-serving-7d9f-abcde to gke-l4-pool-1", 5, new_api=True)
    ]
    if pulled_from_registry:
        found += [
            event("Pulling", f'Pulling image "{IMAGE}"', 6),
            event(
                "Pulled",
                f'Successfully pulled image "{IMAGE}" in 18.2s (18.2s including waiting).'
                " Image size: 9876543210 bytes.",
                6,
                last=24,
            ),
        ]
    else:
        found.append(event("Pulled", f'Container image "{IMAGE}" already present on machine', 24))
    return [*found, event("Created", "Created container: vllm", 29), event("Started", "Started container vllm", 30)]


def steps(t: timeline.PodTimeline) -> dict[str, float | None]:
    return {s.name: s.seconds for s in t.steps}


class TestOneStreamPerWeightSource:
    @pytest.mark.parametrize("source", ["huggingface", "gcsfuse", "persistentDisk", "nfs", "gcsStream"])
    def test_every_phase_is_found_with_its_duration(self, source):
        t = timeline.build(gke_pod(source), gke_events(pulled_from_registry=True), vllm_log(source))
        assert steps(t) == {
            "scheduling": 5.0,
            "image": 18.0,
            "volumes": 6.0,
            "engine start": 10.0,
            "weights": 90.0,
            "model set-up": 2.0,
            "torch.compile": 58.0,
            "KV cache profiling": 10.0,
            "CUDA graphs": 15.0,
            "API server": 5.0,
            "readiness": 10.0,
        }
        assert t.budget_seconds == 680 and t.used_seconds == 190 and t.ready
        assert round(t.budget_share, 3) == 0.279
        assert t.slowest == "weights"
        assert t.hint.endswith(timeline.WEIGHT_HINTS[source])

    @pytest.mark.parametrize(
        ("source", "detail"),
        [
            (
                "huggingface",
                "from huggingface, download 70 s, 18.5 GB at 0.21 GB/s, vLLM read them in 18 s, 17.22 GiB on the GPU",
            ),
            ("nfs", "from nfs, 18.5 GB at 0.21 GB/s, vLLM read them in 18 s, 17.22 GiB on the GPU"),
            # The Run:ai streamer logs no checkpoint size: the chart's annotation gives it.
            ("gcsStream", "from gcsStream, 18.5 GB at 0.21 GB/s, vLLM read them in 18 s, 17.22 GiB on the GPU"),
        ],
    )
    def test_weights_show_bytes_and_rate(self, source, detail):
        t = timeline.build(gke_pod(source), [], vllm_log(source))
        assert next(s for s in t.steps if s.name == "weights").detail == detail

    def test_a_compile_cache_hit_is_named_and_short(self):
        t = timeline.build(gke_pod("nfs"), [], vllm_log("nfs", compile_cached=True))
        compile_step = next(s for s in t.steps if s.name == "torch.compile")
        assert compile_step.seconds == 8.0
        assert compile_step.detail == "from the compile cache, vLLM counted 8 s"

    def test_a_slow_compile_points_at_the_compile_cache(self):
        t = timeline.build(gke_pod("gcsStream", ready_at=400), [], vllm_log("gcsStream", compile_end=300))
        assert t.slowest == "torch.compile"
        assert t.hint == (
            "slowest: torch.compile (168 s); to shorten it: compileCache.enabled (a torch.compile cache shared by"
            " the release's pods)"
        )

    def test_a_start_near_its_budget_says_which_rate_to_raise(self):
        pod = gke_pod("nfs")
        pod["spec"]["containers"][0]["startupProbe"]["failureThreshold"] = 20  # 200 s; this start takes 190 s
        t = timeline.build(pod, [], vllm_log("nfs"))
        assert t.hint.endswith(
            "This start used 95% of its 200 s startup budget: set startup.throughputGBps.nfs to the 0.21 GB/s"
            " measured here, or startup.maxSeconds"
        )


class TestGkeEvents:
    def test_image_from_the_secondary_boot_disk(self):
        t = timeline.build(gke_pod("gcsfuse", image_cache=True), gke_events(pulled_from_registry=False), None)
        image = next(s for s in t.steps if s.name == "image")
        assert image.seconds == 0.0
        assert image.detail == "already on the node (the secondary boot disk cache): no pull [secondary boot disk]"

    def test_image_from_the_registry_says_so_and_how_big(self):
        t = timeline.build(gke_pod("nfs"), gke_events(pulled_from_registry=True), None)
        assert next(s for s in t.steps if s.name == "image").detail == "pulled from the registry: 9.9 GB in 18.2s"

    def test_the_gcsfuse_sidecar_is_named_in_the_volume_step(self):
        t = timeline.build(gke_pod("gcsfuse"), gke_events(pulled_from_registry=False), None)
        assert next(s for s in t.steps if s.name == "volumes").detail == "gke-gcsfuse-sidecar running (GCSFuse mounts)"

    def test_without_logs_the_vllm_start_is_one_step(self):
        t = timeline.build(gke_pod("nfs"), gke_events(pulled_from_registry=False), None)
        assert steps(t)["vLLM start"] == 200.0
        assert t.notes == ["no vLLM log: its phases are unknown (the kubelet served no log)"]


class TestStartupProbeRestarts:
    def test_a_restart_by_the_startup_probe_names_the_phase_it_cut(self):
        events = [
            *gke_events(pulled_from_registry=False),
            # k8s.io/kubernetes@v1.36.4 pkg/kubelet/prober/prober.go:123, kuberuntime/kuberuntime_manager.go:1349,1364
            event(
                "Unhealthy",
                'Startup probe failed: Get "http://10.0.0.5:8000/health": dial tcp 10.0.0.5:8000: connect:'
                " connection refused",
                25,
                last=28,
            ),
            event("Killing", "Container vllm failed startup probe, will be restarted", 28),
        ]
        previous = vllm_log("nfs", until="weights")
        t = timeline.build(gke_pod("nfs", restarts=1, ready_at=None), events, None, previous, now=at(100))
        assert [r.as_dict() for r in t.restarts] == [{"reason": "startup probe", "phase": "weights", "at": stamp(28)}]
        assert not t.ready and t.used_seconds == 70.0

    def test_without_the_previous_log_the_phase_is_unknown(self):
        events = [event("Killing", "Container vllm failed startup probe, will be restarted", 28)]
        t = timeline.build(gke_pod("nfs", restarts=1), events, None, None)
        assert t.restarts[0].phase == "unknown: the previous container's log is gone"

    def test_a_crash_is_not_blamed_on_the_probe(self):
        t = timeline.build(gke_pod("nfs", restarts=1), [], None, previous_log=vllm_log("nfs"))
        assert [r.as_dict() for r in t.restarts] == [
            {"reason": "Error (exit code 137)", "phase": "serving: its API server had started", "at": stamp(29)}
        ]


def test_json_output_of_the_command(monkeypatch, capsys):
    class FakeKube:
        def __init__(self, *args):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

    pod = gke_pod("nfs")
    pod["metadata"]["labels"] = {"app.kubernetes.io/instance": "vllm"}
    monkeypatch.setattr("vllm_serving.preflight.kube.Kube.connect", classmethod(lambda cls, *a: FakeKube()))
    monkeypatch.setattr(
        timeline,
        "collect",
        lambda kube, release, ns, logs: [timeline.build(pod, gke_events(pulled_from_registry=True), vllm_log("nfs"))],
    )
    assert timeline_command.main(["vllm", "-n", "ns", "--output", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["version"] == "1" and out["release"] == "vllm" and out["namespace"] == "ns"
    (only,) = out["pods"]
    assert only["slowest"] == "weights" and only["budget_seconds"] == 680 and only["budget_share"] == 0.279
    assert only["steps"][4] == {
        "name": "weights",
        "start": stamp(40),
        "end": stamp(130),
        "seconds": 90.0,
        "detail": "from nfs, 18.5 GB at 0.21 GB/s, vLLM read them in 18 s, 17.22 GiB on the GPU",
    }
