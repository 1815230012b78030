"""The pod timelines behind `vllm-serving timeline RELEASE`: where each pod of a release spent its start, and what
would shorten it.

Per pod: scheduled -> image pulled (from the registry, or already on the node: the secondary boot disk's cache)
-> volumes and init containers ready (the GCSFuse sidecar, the warm-up) -> vLLM's own phases (weights, torch.compile,
KV cache profiling, CUDA graph capture, API server) -> Ready, each with its duration, the share of the
startupProbe's budget the start used, restarts by the startup probe with the phase they cut short, and a hint
naming the slowest phase and the value that speeds it.

Sources: the pod's status and events (the scheduler's and kubelet's messages, k8s.io/kubernetes@v1.36.4
pkg/kubelet/images/image_manager.go and kuberuntime/kuberuntime_manager.go), the chart's pod annotations
(weights source, checkpoint size, image cache), and the vLLM container's log with the kubelet's timestamps
(`timestamps=true`): vLLM 0.33.0's own log strings, each in VLLM_LINES with the file and line it comes from.
Without logs (a cluster whose kubelets serve none, such as kwok) the vLLM start is one step.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

Object = dict[str, Any]

CONTAINER = "vllm"  # the serving container of every vLLM pod (templates/_pod.tpl)
GCSFUSE_SIDECAR = "gke-gcsfuse-sidecar"  # the container GKE's GCSFuse webhook injects
# Annotations the chart puts on vLLM pods for this command (templates/_weights.tpl, podAnnotations).
SOURCE_ANNOTATION = "vllm-serving/weights-source"
WEIGHTS_GB_ANNOTATION = "vllm-serving/weights-gb"
IMAGE_CACHE_ANNOTATION = "vllm-serving/image-cache"


@dataclass(frozen=True)
class VllmLine:
    """One of vLLM's log messages: its format string, verbatim, and where vLLM 0.33.0 writes it."""

    key: str
    format: str
    source: str  # vllm/<path>:<line> of the format string in vllm==0.33.0

    @property
    def pattern(self) -> re.Pattern[str]:
        """The format string as a regular expression: each %-conversion a group (a final %s takes the rest)."""
        parts = [p for p in re.split(r"(%(?:\.\d+)?[sdf])", self.format) if p]
        regex = ""
        for i, part in enumerate(parts):
            if part == "%s":
                regex += "(.*)" if i == len(parts) - 1 else "(.*?)"
            elif part.startswith("%"):
                regex += r"([-\d.,]+)"
            else:
                regex += re.escape(part)
        return re.compile(regex)


# vLLM 0.33.0's start, in order (tests/scripts/test_timeline.py reads each string back from vLLM's source).
VLLM_LINES = (
    VllmLine("load_start", "Starting to load model %s...", "vllm/v1/worker/gpu_model_runner.py:4979"),
    VllmLine(
        "download",
        "Time spent downloading weights for %s: %.6f seconds",
        "vllm/model_executor/model_loader/weight_utils.py:538",
    ),
    VllmLine(
        "checkpoint",
        "Filesystem type for checkpoints: %s. Checkpoint size: %.2f GiB. Available RAM: %.2f GiB.",
        "vllm/model_executor/model_loader/weight_utils.py:1145",
    ),
    VllmLine(
        "weights_read", "Loading weights took %.2f seconds", "vllm/model_executor/model_loader/default_loader.py:507"
    ),
    VllmLine(
        "weights_loaded", "Model loading took %s GiB memory and %.6f seconds", "vllm/v1/worker/gpu_model_runner.py:5089"
    ),
    VllmLine("compile_start", "%sStarting torch.compile", "vllm/compilation/monitor.py:39"),
    VllmLine(
        "compile_cached",
        "%sDirectly load the compiled graph(s) for compile range %s from the cache, took %.3f s",
        "vllm/compilation/backends.py:311",
    ),
    VllmLine("aot_cached", "%sDirectly load AOT compilation from path %s", "vllm/compilation/decorators.py:327"),
    VllmLine(
        "compile_miss", "%sCompiling a graph for compile range %s takes %.2f s", "vllm/compilation/backends.py:418"
    ),
    VllmLine("compile_end", "%storch.compile took %.2f s in total", "vllm/compilation/monitor.py:20"),
    VllmLine("kv_memory", "Available KV cache memory: %s GiB", "vllm/v1/worker/gpu_worker.py:773"),
    VllmLine(
        "kv_size",
        "%s KV cache size: %s tokens, Maximum concurrency for %s tokens per request: %.2fx",
        "vllm/v1/core/kv_cache_utils.py:1149",
    ),
    VllmLine(
        "graphs_end", "Graph capturing finished in %.0f secs, took %.2f GiB", "vllm/v1/worker/gpu_model_runner.py:6517"
    ),
    VllmLine(
        "engine_ready",
        "init engine (profile, create kv cache, warmup model) took %.2f s",
        "vllm/v1/engine/core.py:413",
    ),
    VllmLine("api_ready", "Starting vLLM server on %s", "vllm/entrypoints/launchers/api_server/entry.py:139"),
)
_LINES = {line.key: line for line in VLLM_LINES}

# What speeds each step up: the value to change (chart README, "Weights and start-up time").
WEIGHT_HINTS = {
    "huggingface": "weights.source: a copy near the node (gcsfuse, persistentDisk or nfs), or"
    " weights.huggingface.cache.existingClaim to keep the download",
    "gcsfuse": "weights.gcsfuse.warmup.enabled and weights.gcsfuse.fileCache.medium: localSsd"
    " (or weights.gcsfuse.profile)",
    "gcsStream": "weights.gcsStream.concurrency",
    "persistentDisk": "weights.persistentDisk.readAheadKb, or a larger pd-ssd (its throughput grows with its size)",
    "nfs": "weights.nfs.readAhead.enabled",
}
HINTS = {
    "scheduling": "capacity: gke.computeClass priorities; on Autopilot (gke.mode) GKE starts compatible GPU nodes"
    " fast by itself (fast-starting nodes)",
    "image": "gke.secondaryBootDisk.enabled (bake the image with `vllm-serving bake image-cache`)",
    "volumes": "weights.gcsfuse.fileCache.medium: localSsd; a warm-up that fills the cache before vLLM starts counts"
    " here",
    "engine start": "nothing in values: vLLM's imports and process start-up",
    "torch.compile": "compileCache.enabled (a torch.compile cache shared by the release's pods)",
    "KV cache profiling": "compileCache.enabled (keeps vLLM's startup plan, which skips this profiling)",
    "CUDA graphs": "vllm.maxNumSeqs (vLLM captures a graph per batch size up to it), or vllm.extraArgs:"
    " [--enforce-eager] (no graphs: slower decoding)",
    "API server": "nothing in values: vLLM's API server start",
    "readiness": "readiness.periodSeconds",
    "vLLM start": "the vLLM log shows which phase: run with logs available",
}


@dataclass
class Step:
    name: str
    start: datetime | None
    end: datetime | None
    detail: str = ""

    @property
    def seconds(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return max(0.0, (self.end - self.start).total_seconds())

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "start": _iso(self.start),
            "end": _iso(self.end),
            "seconds": None if self.seconds is None else round(self.seconds, 1),
            "detail": self.detail,
        }


@dataclass
class Restart:
    reason: str  # "startup probe", or the container's last termination reason
    phase: str  # the vLLM phase it was in, or what is known of it
    at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "phase": self.phase, "at": _iso(self.at)}


@dataclass
class PodTimeline:
    pod: str
    node: str
    weights_source: str
    budget_seconds: int | None
    steps: list[Step]
    restarts: list[Restart] = field(default_factory=list)
    ready: bool = False
    used_seconds: float | None = None  # container start to API ready (or to now): what the startupProbe counts
    slowest: str = ""
    hint: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def budget_share(self) -> float | None:
        if self.used_seconds is None or not self.budget_seconds:
            return None
        return self.used_seconds / self.budget_seconds

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["steps"] = [s.as_dict() for s in self.steps]
        data["restarts"] = [r.as_dict() for r in self.restarts]
        data["used_seconds"] = None if self.used_seconds is None else round(self.used_seconds, 1)
        data["budget_share"] = None if self.budget_share is None else round(self.budget_share, 3)
        return data


# --- parsing -------------------------------------------------------------------------------------


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    value = value.strip()
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", value)
    if not match:
        return None
    fraction = (match.group(2) or ".0")[:7]  # microseconds at most
    zone = "+00:00" if match.group(3) == "Z" else match.group(3)
    return datetime.fromisoformat(match.group(1) + fraction + zone)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


@dataclass(frozen=True)
class LogHit:
    at: datetime
    groups: tuple[str, ...]


def parse_log(text: str) -> dict[str, list[LogHit]]:
    """vLLM's lines in a log read with the kubelet's timestamps (`<RFC 3339> <line>`), by VLLM_LINES key."""
    hits: dict[str, list[LogHit]] = {}
    for raw in text.splitlines():
        stamp, _, line = raw.partition(" ")
        at = _time(stamp)
        if at is None:
            continue
        for vllm_line in VLLM_LINES:
            match = vllm_line.pattern.search(line)
            if match:
                hits.setdefault(vllm_line.key, []).append(LogHit(at, match.groups()))
                break
    return hits


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _event_time(event: Object) -> datetime | None:
    return _time(event.get("eventTime") or event.get("firstTimestamp") or event["metadata"].get("creationTimestamp"))


def _last_event_time(event: Object) -> datetime | None:
    return _time(event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp"))


def _condition(pod: Object, kind: str) -> Object | None:
    return next((c for c in pod.get("status", {}).get("conditions") or [] if c.get("type") == kind), None)


def _status(pod: Object, name: str, init: bool = False) -> Object | None:
    key = "initContainerStatuses" if init else "containerStatuses"
    return next((s for s in pod.get("status", {}).get(key) or [] if s.get("name") == name), None)


def _container(pod: Object) -> Object:
    return next(c for c in pod["spec"]["containers"] if c["name"] == CONTAINER)


def startup_budget(pod: Object) -> int | None:
    """Seconds the startupProbe allows: initialDelaySeconds + periodSeconds x failureThreshold."""
    probe = _container(pod).get("startupProbe")
    if not probe:
        return None
    return probe.get("initialDelaySeconds", 0) + probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3)


def _image_step(pod: Object, events: list[Object], scheduled: datetime | None) -> Step | None:
    image = _container(pod)["image"]
    mine = [e for e in events if f'"{image}"' in (e.get("message") or "")]
    pulling = next((e for e in mine if e.get("reason") == "Pulling"), None)
    pulled = next((e for e in mine if e.get("reason") == "Pulled"), None)
    if pulled is None:
        return None
    message = pulled.get("message") or ""
    cached = (pod["metadata"].get("annotations") or {}).get(IMAGE_CACHE_ANNOTATION)
    if "already present on machine" in message:
        where = "secondary boot disk" if cached else "node"
        detail = f"already on the node ({'the secondary boot disk cache' if cached else 'an earlier pull'}): no pull"
        return Step("image", _event_time(pulled), _event_time(pulled), f"{detail} [{where}]")
    size = re.search(r"Image size: (\d+) bytes", message)
    took = re.search(r" in ([\dhms.µ]+) \(", message)
    detail = "pulled from the registry" + (f": {int(size.group(1)) / 1e9:.1f} GB" if size else "")
    detail += f" in {took.group(1)}" if took else ""
    if cached:
        detail += "; gke.secondaryBootDisk is on but the node lacked the image: check the disk holds image.tag"
    start = _event_time(pulling) if pulling else scheduled
    return Step("image", start, _last_event_time(pulled), detail)


def _init_detail(pod: Object) -> str:
    parts = []
    for status in pod.get("status", {}).get("initContainerStatuses") or []:
        state = status.get("state") or {}
        if "terminated" in state:
            t = state["terminated"]
            seconds = _span(t.get("startedAt"), t.get("finishedAt"))
            parts.append(f"{status['name']} {seconds:.0f} s" if seconds is not None else status["name"])
        elif "running" in state:
            parts.append(
                f"{status['name']} running" + (" (GCSFuse mounts)" if status["name"] == GCSFUSE_SIDECAR else "")
            )
    return ", ".join(parts)


def _span(start: str | None, end: str | None) -> float | None:
    a, b = _time(start), _time(end)
    return (b - a).total_seconds() if a and b else None


def _vllm_steps(hits: dict[str, list[LogHit]], started: datetime, source: str, weights_gb: float | None) -> list[Step]:
    """vLLM's phases between the container's start and its API server, from its log."""

    def first(key: str) -> LogHit | None:
        return hits.get(key, [None])[0]

    def last(key: str) -> LogHit | None:
        return hits.get(key, [None])[-1]

    steps: list[Step] = []
    cursor = started

    def add(name: str, end: LogHit | None, detail: str = "") -> None:
        nonlocal cursor
        if end is None:
            return
        steps.append(Step(name, cursor, end.at, detail))
        cursor = end.at

    load_start = first("load_start")
    add("engine start", load_start)
    loaded = last("weights_loaded")
    if loaded:
        detail = [f"from {source}"] if source else []
        read = max((_number(h.groups[0]) for h in hits.get("weights_read", [])), default=None)
        checkpoint = first("checkpoint")
        gb = _number(checkpoint.groups[1]) * 1024**3 / 1e9 if checkpoint else weights_gb
        download = first("download")
        if download:
            detail.append(f"download {_number(download.groups[1]):.0f} s")
        seconds = (loaded.at - cursor).total_seconds()
        if gb:
            detail.append(f"{gb:.1f} GB" + (f" at {gb / seconds:.2f} GB/s" if seconds > 0 else ""))
        if read is not None:
            detail.append(f"vLLM read them in {read:.0f} s")
        detail.append(f"{loaded.groups[0]} GiB on the GPU")
        add("weights", loaded, ", ".join(detail))
    compile_end = last("compile_end")
    if compile_end:
        cached = "compile_cached" in hits or "aot_cached" in hits
        missed = "compile_miss" in hits
        state = (
            "from the compile cache"
            if cached and not missed
            else "compiled in part (some graphs from the cache)"
            if cached
            else "compiled (no entry in the compile cache)"
        )
        start = first("compile_start")
        if start and start.at > cursor:
            steps.append(Step("model set-up", cursor, start.at))
            cursor = start.at
        add("torch.compile", compile_end, f"{state}, vLLM counted {_number(compile_end.groups[-1]):.0f} s")
    kv = last("kv_size")
    if kv:
        memory = first("kv_memory")
        add("KV cache profiling", kv, f"{kv.groups[1]} tokens" + (f" in {memory.groups[0]} GiB" if memory else ""))
    graphs = last("graphs_end")
    if graphs:
        add("CUDA graphs", graphs, f"vLLM counted {_number(graphs.groups[0]):.0f} s, {graphs.groups[1]} GiB")
    api = last("api_ready")
    add("API server", api, f"listening on {api.groups[0]}" if api else "")
    return steps


_PHASE_AFTER = (
    ("api_ready", "serving: its API server had started"),
    ("graphs_end", "API server start"),
    ("kv_size", "CUDA graph capture"),
    ("compile_end", "KV cache profiling"),
    ("compile_start", "torch.compile"),
    ("weights_loaded", "model set-up"),
    ("load_start", "weights"),
)


def phase_reached(hits: dict[str, list[LogHit]]) -> str:
    """The vLLM phase a start was in when its log ends."""
    if not hits:
        return "unknown: no vLLM log of that start"
    for key, phase in _PHASE_AFTER:
        if key in hits:
            return phase
    return "engine start"


def _restarts(pod: Object, events: list[Object], previous: dict[str, list[LogHit]] | None) -> list[Restart]:
    status = _status(pod, CONTAINER) or {}
    count = status.get("restartCount", 0)
    if not count:
        return []
    killed = [
        e
        for e in events
        if e.get("reason") == "Killing" and f"Container {CONTAINER} failed startup probe" in (e.get("message") or "")
    ]
    terminated = (status.get("lastState") or {}).get("terminated") or {}
    phase = phase_reached(previous or {}) if previous is not None else "unknown: the previous container's log is gone"
    found = [Restart("startup probe", phase, _last_event_time(e)) for e in killed]
    if not found:  # restarted for another reason: the container's own exit
        reason = terminated.get("reason") or "restart"
        found = [
            Restart(f"{reason} (exit code {terminated.get('exitCode')})", phase, _time(terminated.get("finishedAt")))
        ]
    if len(found) > 1:  # only the last start's log survives (previous=true)
        for restart in found[:-1]:
            restart.phase = "unknown: only the last restart's log is kept"
    return found


def build(
    pod: Object,
    events: list[Object],
    log: str | None = None,
    previous_log: str | None = None,
    now: datetime | None = None,
) -> PodTimeline:
    """The timeline of one vLLM pod from its object, its events and (when the kubelet serves them) its logs."""
    events = sorted(events, key=lambda e: _event_time(e) or datetime.min.replace(tzinfo=UTC))
    annotations = pod["metadata"].get("annotations") or {}
    source = annotations.get(SOURCE_ANNOTATION, "")
    weights_gb = float(annotations[WEIGHTS_GB_ANNOTATION]) if annotations.get(WEIGHTS_GB_ANNOTATION) else None
    created = _time(pod["metadata"].get("creationTimestamp"))
    scheduled_condition = _condition(pod, "PodScheduled")
    scheduled = _time(scheduled_condition.get("lastTransitionTime")) if scheduled_condition else None
    if scheduled_condition and scheduled_condition.get("status") != "True":
        scheduled = None
    steps = [
        Step("scheduling", created, scheduled, pod["spec"].get("nodeName", "") and f"to {pod['spec']['nodeName']}")
    ]
    image = _image_step(pod, events, scheduled)
    if image:
        steps.append(image)
    status = _status(pod, CONTAINER) or {}
    running = (status.get("state") or {}).get("running") or {}
    started = _time(running.get("startedAt"))
    notes: list[str] = []
    if started:
        before = max((s.end for s in steps if s.end), default=scheduled)
        steps.append(Step("volumes", before, started, _init_detail(pod)))
        failed_mounts = [e for e in events if e.get("reason") == "FailedMount"]
        if failed_mounts:
            steps[-1].detail += f"; {len(failed_mounts)} FailedMount event(s): {failed_mounts[-1].get('message', '')}"
    ready_condition = _condition(pod, "Ready")
    ready = bool(ready_condition and ready_condition.get("status") == "True")
    ready_at = _time(ready_condition.get("lastTransitionTime")) if ready else None
    hits = parse_log(log) if log else {}
    used = None
    if started:
        vllm_steps = _vllm_steps(hits, started, source, weights_gb) if hits else []
        api = hits.get("api_ready", [None])[-1]
        if vllm_steps:
            steps += vllm_steps
        else:
            notes.append("no vLLM log: its phases are unknown (the kubelet served no log)" if log is None else "")
            steps.append(Step("vLLM start", started, ready_at, "container start to Ready"))
        if api:
            steps.append(Step("readiness", api.at, ready_at, "the readinessProbe's next poll"))
        end = api.at if api else ready_at or (now or datetime.now(UTC))
        used = (end - started).total_seconds()
    previous = parse_log(previous_log) if previous_log is not None else None
    timeline = PodTimeline(
        pod=pod["metadata"]["name"],
        node=pod["spec"].get("nodeName", ""),
        weights_source=source,
        budget_seconds=startup_budget(pod),
        steps=steps,
        restarts=_restarts(pod, events, previous),
        ready=ready,
        used_seconds=used,
        notes=[n for n in notes if n],
    )
    timeline.slowest, timeline.hint = _hint(timeline)
    return timeline


def _hint(timeline: PodTimeline) -> tuple[str, str]:
    measured = [s for s in timeline.steps if s.seconds is not None]
    if not measured:
        return "", ""
    slowest = max(measured, key=lambda s: s.seconds or 0)
    if slowest.name == "weights":
        value = WEIGHT_HINTS.get(timeline.weights_source, "weights.source")
    elif slowest.name == "image" and "already on the node" in slowest.detail:
        value = "nothing: the image came from the node"
    else:
        value = HINTS.get(slowest.name, "")
    hint = f"slowest: {slowest.name} ({slowest.seconds:.0f} s); to shorten it: {value}"
    share = timeline.budget_share
    if share is not None and share > 0.8:
        weights = next((s for s in timeline.steps if s.name == "weights"), None)
        rate = re.search(r" at ([\d.]+ GB/s)", weights.detail) if weights else None
        measured = f"the {rate.group(1)} measured here" if rate else "the rate your storage gives"
        hint += (
            f". This start used {share:.0%} of its {timeline.budget_seconds} s startup budget: set"
            f" startup.throughputGBps.{timeline.weights_source or '<source>'} to {measured}, or startup.maxSeconds"
        )
    return slowest.name, hint


# --- the cluster ---------------------------------------------------------------------------------


def release_pods(kube: Any, release: str, namespace: str) -> list[Object]:
    """The release's vLLM pods (those with the serving container), oldest first."""
    pods = kube.list(f"/api/v1/namespaces/{namespace}/pods", labelSelector=f"app.kubernetes.io/instance={release}")
    mine = [p for p in pods if any(c["name"] == CONTAINER for c in p["spec"]["containers"])]
    return sorted(mine, key=lambda p: (p["metadata"].get("creationTimestamp") or "", p["metadata"]["name"]))


def pod_log(kube: Any, namespace: str, pod: str, previous: bool = False) -> str | None:
    """The vLLM container's log with the kubelet's timestamps; None when the kubelet serves none."""
    query = {"container": CONTAINER, "timestamps": "true"} | ({"previous": "true"} if previous else {})
    response = kube.request("GET", f"/api/v1/namespaces/{namespace}/pods/{pod}/log", query=query)
    if response.status != 200 or not isinstance(response.body, str):
        return None
    return response.body


def collect(kube: Any, release: str, namespace: str, logs: bool = True) -> list[PodTimeline]:
    events = kube.list(f"/api/v1/namespaces/{namespace}/events", fieldSelector="involvedObject.kind=Pod")
    timelines = []
    for pod in release_pods(kube, release, namespace):
        uid = pod["metadata"]["uid"]
        mine = [e for e in events if e["involvedObject"].get("uid") == uid]
        started = ((_status(pod, CONTAINER) or {}).get("state") or {}).get("running")
        restarted = (_status(pod, CONTAINER) or {}).get("restartCount", 0) > 0
        name = pod["metadata"]["name"]
        log = pod_log(kube, namespace, name) if logs and started else None
        previous = pod_log(kube, namespace, name, previous=True) if logs and restarted else None
        timelines.append(build(pod, mine, log, previous))
    return timelines


# --- output --------------------------------------------------------------------------------------


def render_text(release: str, namespace: str, timelines: list[PodTimeline]) -> str:
    if not timelines:
        return f"release {release} in namespace {namespace} has no vLLM pods"
    lines = []
    for t in timelines:
        budget = f"{t.budget_seconds} s" if t.budget_seconds else "none"
        used = f", used {t.used_seconds:.0f} s ({t.budget_share:.0%})" if t.budget_share is not None else ""
        lines.append(
            f"{t.pod} on {t.node or '-'} ({'Ready' if t.ready else 'not ready'}); startup budget {budget}{used}"
        )
        width = max(len(s.name) for s in t.steps)
        for step in t.steps:
            seconds = f"{step.seconds:7.1f} s" if step.seconds is not None else "      - "
            lines.append(f"  {step.name:<{width}}  {seconds}  {step.detail}".rstrip())
        for restart in t.restarts:
            at = f" at {_iso(restart.at)}" if restart.at else ""
            lines.append(f"  restarted by {restart.reason}{at}, during: {restart.phase}")
        lines += [f"  note: {note}" for note in t.notes]
        if t.hint:
            lines.append(f"  {t.hint}")
        lines.append("")
    return "\n".join(lines).rstrip()
