"""`vllm-serving validate`: the chart's schema and cross-field rules, without helm or a cluster.

The rules here mirror templates/_validate.tpl message for message; both read rules.yaml.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from vllm_serving import chart as chart_mod

_POWERS_OF_TWO = (1, 2, 4, 8, 16, 32, 64)


@dataclass
class Report:
    """The verdict on one values file."""

    file: str
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems


def _path(parts: Sequence[Any]) -> str:
    return ".".join(str(p) for p in parts) or "(root)"


def _schema_at(schema: dict[str, Any], parts: Sequence[Any]) -> dict[str, Any]:
    for part in parts:
        schema = schema.get("items", {}) if isinstance(part, int) else schema.get("properties", {}).get(part, {})
    return schema


def _describe(error: jsonschema.ValidationError, schema: dict[str, Any]) -> list[str]:
    """Messages that name the offending key's full path, with a suggestion where one helps."""
    where = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = sorted(_schema_at(schema, where).get("properties", {}))
        messages = []
        for key in sorted(set(error.instance) - set(known)):
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {_path([*where, close[0]])}?" if close else f"known keys: {', '.join(known)}"
            messages.append(f"{_path([*where, key])}: unknown key; {hint}")
        return messages
    if error.validator == "required":
        missing = re.match(r"'([^']+)'", error.message)
        key = missing.group(1) if missing else "?"
        return [f"{_path([*where, key])}: required but missing"]
    if error.validator == "enum":
        choices = ", ".join(repr(c) for c in error.validator_value)
        return [f"{_path(where)}: {error.instance!r} is not one of {choices}"]
    if error.validator == "pattern":
        # An array item's schema carries no description of its own: say what its list is for.
        hint = error.schema.get("description") or _schema_at(schema, where[:-1]).get("description", "")
        return [f"{_path(where)}: {error.instance!r} does not have the expected form; {hint}"]
    return [f"{_path(where)}: {error.message}"]


def schema_problems(values: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(values), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    return [message for error in errors for message in _describe(error, schema)]


def _choices_text(limit: int) -> str:
    choices = [str(n) for n in _POWERS_OF_TWO if n <= limit]
    return f"{', '.join(choices[:-1])} or {choices[-1]}"


def rule_problems(values: dict[str, Any], rules: dict[str, Any]) -> list[str]:
    """The cross-field rules of _validate.tpl, in its order and with its words."""
    problems: list[str] = []

    tensor = values["parallelism"]["tensor"]
    accelerator = values["gke"]["accelerator"]
    spec = rules["accelerators"][accelerator]
    choices = _choices_text(spec["maxPerNode"])
    if tensor not in _POWERS_OF_TWO:
        problems.append(f"parallelism.tensor: {tensor} is not a power of two; use {choices}")
    elif tensor > spec["maxPerNode"]:
        problems.append(
            f"parallelism.tensor: {tensor} exceeds the {spec['maxPerNode']} GPUs of the largest {accelerator} machine"
            f" ({spec['largestMachine']}); use {choices}, or choose gke.accelerator with larger machines"
        )

    for arg in values["vllm"].get("extraArgs", []):
        flag = arg.split("=", 1)[0]
        if flag in rules["ownedFlags"]:
            problems.append(
                f"vllm.extraArgs: {flag} is set by the chart from {rules['ownedFlags'][flag]}; set that value instead"
            )

    for section in ("requests", "limits"):
        if "nvidia.com/gpu" in (values.get("resources", {}).get(section) or {}):
            problems.append(
                f"resources.{section}.nvidia.com/gpu: the GPU count comes from parallelism.tensor;"
                " remove it and set parallelism.tensor"
            )

    for env in values.get("env", []):
        if env.get("name") in rules["tokenEnvNames"] and "value" in env:
            problems.append(
                f"env: {env['name']} has a literal value; store the token in a Secret and set"
                " weights.huggingface.tokenSecret.name"
            )

    startup = values["startup"]
    budget = startup_budget(values)
    if budget < startup["periodSeconds"]:
        problems.append(
            f"startup.maxSeconds: {budget} is shorter than startup.periodSeconds"
            f" ({startup['periodSeconds']}); raise startup.maxSeconds to the time the first load takes"
        )
    grace, pause = values["terminationGracePeriodSeconds"], values["preStopSleepSeconds"]
    if grace <= pause:
        problems.append(
            f"terminationGracePeriodSeconds: {grace} must exceed preStopSleepSeconds ({pause}), or in-flight"
            " requests are cut off; raise it or shorten the pause"
        )
    rollout = values["rollout"]
    if rollout["strategy"] == "RollingUpdate" and all(
        str(rollout[k]).removesuffix("%") == "0" for k in ("maxUnavailable", "maxSurge")
    ):
        problems.append(
            "rollout.maxUnavailable: 0 together with rollout.maxSurge 0 can never replace a pod;"
            " set rollout.maxUnavailable to 1"
        )
    problems += _weights_problems(values, rules)
    problems += _image_pull_problems(values)
    problems += _autoscaling_problems(values)
    problems += _batch_problems(values)
    problems += _monitoring_problems(values)
    return problems


def startup_budget(values: dict[str, Any]) -> int:
    """startup.maxSeconds, or the weight source's default (vllm-serving.startupBudget)."""
    startup = values["startup"]
    return startup.get("maxSeconds") or startup["maxSecondsBySource"][values["weights"]["source"]]


def disk_zone(handle: str) -> str:
    """projects/P/zones/Z/disks/D -> Z."""
    return handle.split("/")[3]


def _weights_problems(values: dict[str, Any], rules: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    weights = values["weights"]
    source = weights["source"]
    # Go templates range over a map in sorted key order; so does this, to keep the messages in step.
    for other, markers in sorted(rules["sourceMarkers"].items()):
        if other == source:
            continue
        for marker in markers:
            if weights[other].get(marker):
                problems.append(
                    f"weights.{other}.{marker} is set but weights.source is {source}; only one source is read:"
                    f" remove weights.{other}, or set weights.source: {other}"
                )
    gcsfuse = weights["gcsfuse"]
    if source == "gcsfuse" and not gcsfuse["bucket"]:
        problems.append(
            "weights.gcsfuse.bucket: required when weights.source is gcsfuse; name the bucket that holds the model"
        )
    if source == "gcsfuse" and gcsfuse["warmup"]["enabled"] and not gcsfuse["fileCache"]["enabled"]:
        problems.append(
            "weights.gcsfuse.warmup.enabled: the warm-up fills the file cache;"
            " set weights.gcsfuse.fileCache.enabled too"
        )
    if source == "gcsfuse" and values["gke"]["mode"] == "autopilot":
        for key in ("cpuLimit", "memoryLimit", "ephemeralStorageLimit"):
            if str(gcsfuse["sidecar"][key]) == "0":
                problems.append(
                    f'weights.gcsfuse.sidecar.{key}: "0" (no limit) is refused on Autopilot; give a quantity'
                )
    if source == "gcsStream" and not weights["gcsStream"]["bucket"]:
        problems.append(
            "weights.gcsStream.bucket: required when weights.source is gcsStream; name the bucket that holds the model"
        )
    if source == "persistentDisk":
        disks, claim = weights["persistentDisk"]["disks"], weights["persistentDisk"]["existingClaim"]
        if not disks and not claim:
            problems.append(
                "weights.persistentDisk.disks: required when weights.source is persistentDisk; list the baked disk"
                " (projects/P/zones/Z/disks/D), or set weights.persistentDisk.existingClaim"
            )
        elif disks and claim:
            problems.append(
                "weights.persistentDisk.existingClaim: set together with weights.persistentDisk.disks; use one of them"
            )
        zones: list[str] = []
        for handle in disks:
            zone = disk_zone(handle)
            if zone in zones:
                problems.append(f"weights.persistentDisk.disks: two disks in zone {zone}; give one disk per zone")
            zones.append(zone)
        for key in ("topology.kubernetes.io/zone", "topology.gke.io/zone"):
            pinned = values.get("nodeSelector", {}).get(key)
            if pinned and zones and pinned not in zones:
                problems.append(
                    f"nodeSelector.{key}: {pinned} has no disk in weights.persistentDisk.disks"
                    f" (zones: {', '.join(zones)}); add a disk in that zone or drop the selector"
                )
    nfs = weights["nfs"]
    if source == "nfs" and not nfs["existingClaim"] and not (nfs["server"] and nfs["share"]):
        problems.append(
            "weights.nfs.server: server and share are required when weights.source is nfs (the Filestore IP and"
            " file share, e.g. /vol1), or set weights.nfs.existingClaim"
        )
    return problems


def _image_pull_problems(values: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    gke, image = values["gke"], values["image"]
    boot = gke["secondaryBootDisk"]
    if boot["enabled"]:
        if gke["mode"] == "standard" and not gke["nodePool"]:
            problems.append(
                "gke.secondaryBootDisk.enabled: on Standard clusters set gke.nodePool to the node pool created"
                " with --secondary-boot-disk"
            )
        if gke["mode"] == "autopilot" and not (boot["diskImage"] and boot["project"]):
            problems.append(
                "gke.secondaryBootDisk.diskImage: on Autopilot name the disk image and its project"
                " (gke.secondaryBootDisk.diskImage, gke.secondaryBootDisk.project)"
            )
        if image["pullPolicy"] == "Always":
            problems.append(
                "image.pullPolicy: Always asks the registry on every start, bypassing the image cached on the"
                " secondary boot disk; use IfNotPresent"
            )
    if (
        gke["imageStreaming"]
        and not boot["enabled"]
        and not re.match(r"^[a-z0-9-]+-docker\.pkg\.dev/", image["repository"])
    ):
        problems.append(
            f"image.repository: {image['repository']} is not in Artifact Registry, and GKE streams only Artifact"
            " Registry images; mirror it to LOCATION-docker.pkg.dev or set gke.imageStreaming: false"
        )
    return problems


def _autoscaling_problems(values: dict[str, Any]) -> list[str]:
    scaling = values["autoscaling"]
    if not scaling["enabled"]:
        return []
    problems: list[str] = []
    provider, low, high = scaling["provider"], scaling["minReplicas"], scaling["maxReplicas"]
    if low > high:
        problems.append(f"autoscaling.minReplicas: {low} is above autoscaling.maxReplicas ({high})")
    if provider == "hpa" and low == 0:
        problems.append(
            "autoscaling.minReplicas: 0 (scale to zero) needs autoscaling.provider: keda;"
            " the HPA keeps at least one pod"
        )
    seen: list[str] = []
    for i, metric in enumerate(scaling["metrics"]):
        where, kind = f"autoscaling.metrics[{i}]", metric["type"]
        if kind in seen:
            problems.append(f"{where}.type: {kind} is listed twice; give each signal once")
        seen.append(kind)
        if kind == "gpu-utilization" and metric["target"] > 100:
            problems.append(
                f"{where}.target: {metric['target']} is not a percentage; GPU utilization targets lie between 0 and 100"
            )
        if provider != "hpa":
            continue
        if kind == "concurrency":
            problems.append(
                f"{where}.type: concurrency adds two metrics in one query, which only autoscaling.provider: keda can do"
            )
        elif kind != "gpu-utilization" and not values["monitoring"]["podMonitoring"]["enabled"]:
            problems.append(
                f"{where}.type: {kind} reaches the HPA through Google Managed Prometheus;"
                " set monitoring.podMonitoring.enabled"
            )
        elif kind == "gpu-utilization" and not scaling["gpuUtilization"]["selector"]:
            problems.append(
                f"autoscaling.gpuUtilization.selector: required for {where}.type gpu-utilization with the HPA,"
                " or the metric adds up every GPU the project reports"
            )
    keda = scaling["keda"]
    if provider == "keda" and not keda["serverAddress"]:
        problems.append(
            "autoscaling.keda.serverAddress: required with autoscaling.provider keda; the Prometheus endpoint"
            " KEDA queries (Google Managed Prometheus or a Prometheus server)"
        )
    if provider == "hpa" and (keda["serverAddress"] or keda["gcpWorkloadIdentity"]):
        problems.append(
            "autoscaling.keda is set but autoscaling.provider is hpa; set autoscaling.provider: keda,"
            " or remove autoscaling.keda"
        )
    return problems


def _batch_problems(values: dict[str, Any]) -> list[str]:
    batch = values["batch"]
    problems: list[str] = []
    if batch["enabled"]:
        if not batch["bucket"] and not batch["existingClaim"]:
            problems.append(
                "batch.bucket: a batch Job needs somewhere to read requests and write results;"
                " name a bucket or set batch.existingClaim"
            )
        elif batch["bucket"] and batch["existingClaim"]:
            problems.append("batch.existingClaim: set together with batch.bucket; use one of them")
        if not batch["input"]:
            problems.append(
                "batch.input: required when batch.enabled; the JSONL file of requests, relative to batch.directory"
            )
        if values["parallelism"]["pipeline"] > 1:
            problems.append(
                "parallelism.pipeline: a batch Job runs one pod per shard; multi-node (pipeline > 1) serves only,"
                " so set parallelism.pipeline: 1 or batch.enabled: false"
            )
        if values["autoscaling"]["enabled"]:
            problems.append(
                "autoscaling.enabled: a batch Job is not autoscaled; use batch.parallelism, or batch.enabled: false"
            )
        if batch["parallelism"] > batch["shards"]:
            problems.append(
                f"batch.parallelism: {batch['parallelism']} is more than batch.shards ({batch['shards']});"
                " the extra pods would have no shard"
            )
    if values["chatUI"]["enabled"] and batch["enabled"]:
        problems.append(
            "chatUI.enabled: the chat UI talks to the serving Service, which a batch release does not have;"
            " deploy it with a serving release"
        )
    return problems


_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_seconds(duration: str) -> float:
    """A Prometheus duration (500ms, 15s, 1m, 2h) in seconds (vllm-serving.seconds)."""
    number = re.match(r"^[0-9]+", duration)
    assert number, duration
    return float(number.group()) * _DURATION_UNITS[duration[number.end() :]]


def _monitoring_problems(values: dict[str, Any]) -> list[str]:
    monitoring = values["monitoring"]
    if duration_seconds(monitoring["timeout"]) > duration_seconds(monitoring["interval"]):
        return [
            f"monitoring.timeout: {monitoring['timeout']} is longer than monitoring.interval"
            f" ({monitoring['interval']}); a scrape must end before the next begins"
        ]
    return []


def validate_values(user_values: dict[str, Any], chart: Path) -> list[str]:
    """Every problem with one values file: schema first (as Helm does), then the rules."""
    values = chart_mod.effective_values(chart, user_values)
    problems = schema_problems(values, chart_mod.schema(chart))
    if problems:
        return problems
    return rule_problems(values, chart_mod.rules(chart))


def sizing_warnings(user_values: dict[str, Any], chart: Path) -> list[str]:
    """What only the model's size can tell: too little GPU memory for the weights and KV cache
    (for the models in the built-in table). Warnings: the values are valid, the pods may not start."""
    from vllm_serving.sizing import kv_cache_warning

    warning = kv_cache_warning(chart_mod.effective_values(chart, user_values), chart)
    return [warning] if warning else []


def validate_files(paths: Sequence[str | Path], chart: Path) -> list[Report]:
    reports = []
    for path in paths:
        values = chart_mod.load_values_file(path)
        problems = validate_values(values, chart)
        reports.append(Report(str(path), problems, [] if problems else sizing_warnings(values, chart)))
    return reports


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="vllm-serving validate",
        description="Check values files against the chart's values.schema.json and its cross-field rules "
        "(the same checks `helm install` makes), each file on its own, and warns when a known model leaves "
        "too little GPU memory for its KV cache. Exit status 1 if any file is invalid.",
    )
    parser.add_argument("values", nargs="+", metavar="VALUES", help="values file(s) to check")
    parser.add_argument("--chart", help="chart directory (default: the repository's charts/vllm-serving)")
    parser.add_argument("--output", choices=["text", "json"], default="text", help="report format")
    args = parser.parse_args(argv)

    reports = validate_files(args.values, chart_mod.chart_dir(args.chart))
    if args.output == "json":
        print(json.dumps([asdict(r) | {"valid": r.valid} for r in reports], indent=2))
    else:
        for report in reports:
            if report.valid:
                print(f"{report.file}: valid")
            else:
                print(f"{report.file}: {len(report.problems)} problem(s)")
                for problem in report.problems:
                    print(f"  - {problem}")
            for warning in report.warnings:
                print(f"  warning: {warning}")
    return 0 if all(r.valid for r in reports) else 1
