"""One verdict on a release's values, for every command that judges them (`validate`, `preflight`, `up`).

The chart is the only place a rule lives (values.schema.json and templates/validate/): `judge` asks Helm
for its verdict with one `helm template` of templates/validate.yaml, which fails with Helm's schema errors or
the chart's own `fail` message, or prints the values Helm computed and the chart's warnings (the judgement
calls of vllm-serving.warnings, which NOTES.txt shows after `helm install`; Helm 3.17 renders NOTES.txt only
in an install, and even `helm install --dry-run=client` asks for a reachable cluster first, so the warnings
come with the values from the same render). Problems keep Helm's words; schema
messages are put in this tool's form (the value's path first, a did-you-mean for an unknown key). To Helm's
verdict `judge` adds what only Python can know: what Helm would read otherwise than written, and the model's
fit on its GPUs. (Pass-through objects are Helm's to judge: the schema holds Kubernetes' own definitions.)
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vllm_serving import chart as chart_mod
from vllm_serving.errors import UsageError, VllmServingError

# templates/validate.yaml prints Helm's computed values only when the caller announces this API.
COMPUTED_VALUES_API = "values.vllm-serving.dev/v1/ComputedValues"
VALIDATE_TEMPLATE = "templates/validate.yaml"


@dataclass
class Verdict:
    """The answer for one set of values: problems (refuse them), the chart's warnings (valid, but say so), the
    values Helm computed (None where Helm refused them) and the warnings of the model's fit."""

    problems: list[str]
    warnings: list[str] = field(default_factory=list)
    values: dict[str, Any] | None = None
    fit_warnings: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems

    @property
    def all_warnings(self) -> list[str]:
        """Every warning, as `validate` and `up` print them: the chart's, then the model's fit."""
        return self.warnings + self.fit_warnings


def chart_verdict(
    chart: Path,
    values_files: Sequence[str | Path] = (),
    values: dict[str, Any] | None = None,
    *,
    release: str = "vllm",
    namespace: str = "default",
) -> Verdict:
    """Helm's part of the verdict (`judge` gives the whole): whether the values files (layered in order, then
    `values` on stdin) pass the chart.

    A file Helm cannot open or parse raises UsageError; any other failure of helm raises VllmServingError.
    """
    from vllm_serving import helm

    args = ["template", release, str(chart), "--namespace", namespace]
    args += ["--show-only", VALIDATE_TEMPLATE, "--api-versions", COMPUTED_VALUES_API]
    for path in values_files:
        args += ["--values", str(path)]
    if values is not None:
        args += ["--values", "-"]
    stdin = json.dumps(values).encode() if values is not None else None
    done = helm.process(args, stdin)
    # What Helm reads silently otherwise than written; its verdict is on what it read.
    misread = [problem for path in values_files for problem in chart_mod.helm_reading_problems(path)]
    if done.returncode == 0:
        document = json.loads(done.stdout.decode().split("\n", 2)[2])  # after "---" and "# Source: ..."
        if misread:
            return Verdict(misread)
        return Verdict([], document["warnings"], document["values"])
    stderr = done.stderr.decode(errors="replace")
    problems = helm_problems(stderr, chart, lambda where: _user_value([*values_files, values], where))
    if problems or misread:
        return Verdict(misread + problems)
    raise _file_error(stderr) or VllmServingError(f"helm template failed:\n{stderr.strip()}")


_SCHEMA_LINE = re.compile(r"^- (\S+): (.*)$")


def helm_problems(stderr: str, chart: Path, value_at: Callable[[str], Any] = lambda where: None) -> list[str]:
    """The problems in helm's error output, in this tool's form: schema violations, or the chart's `fail`
    lines unchanged. `value_at(path)` gives the offending value, where a message should show it."""
    if "don't meet the specifications of the schema" in stderr:
        schema = chart_mod.schema(chart)
        lines = (_SCHEMA_LINE.match(line.strip()) for line in stderr.splitlines())
        return [problem for m in lines if m for problem in _schema_problem(m.group(1), m.group(2), schema, value_at)]
    from vllm_serving.helm import render_problems

    return render_problems(stderr)


def _join(where: str, key: str) -> str:
    return key if where == "(root)" else f"{where}.{key}"


def _schema_at(schema: dict[str, Any], where: str) -> dict[str, Any]:
    node = _resolved(schema, schema)
    for part in [] if where == "(root)" else where.split("."):
        if part.isdigit():
            node = node.get("items", {})
        else:
            free = node.get("additionalProperties")  # a map's values share one schema
            node = node.get("properties", {}).get(part) or (free if isinstance(free, dict) else {})
        node = _resolved(schema, node)
    return node


def _resolved(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """A schema node with the Kubernetes definitions it refers to (`$ref`, or `allOf` of `$ref`s: the
    pass-through keys) merged in, for the keys they know."""
    for part in [node, *node.get("allOf", [])]:
        ref = part.get("$ref", "")
        if ref.startswith("#/$defs/"):
            known = schema.get("$defs", {}).get(ref.removeprefix("#/$defs/"), {})
            node = {**known, **node, "properties": known.get("properties", {}) | node.get("properties", {})}
    return node


def _schema_problem(where: str, message: str, schema: dict[str, Any], value_at: Callable[[str], Any]) -> list[str]:
    """One line of Helm's schema report (gojsonschema's words, Helm 3.17) as `path: message`."""
    if message == "Must validate all the schemas (allOf)":
        return []  # the schema of its key failed: the other lines say how
    if m := re.fullmatch(r"Additional property (.+) is not allowed", message):
        key, known = m.group(1), sorted(_schema_at(schema, where).get("properties", {}))
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean {_join(where, close[0])}?" if close else f"known keys: {', '.join(known)}"
        return [f"{_join(where, key)}: unknown key; {hint}"]
    if m := re.fullmatch(r"(\S+) is required", message):
        return [f"{_join(where, m.group(1))}: required but missing"]
    if message.startswith(f"{where} must be one of"):
        return [f"{where}: {message.removeprefix(where + ' ')}"]
    if m := re.fullmatch(r'Property name of "(.+)" does not match', message):
        hint = _schema_at(schema, where).get("propertyNames", {}).get("description", "")
        return [f"{_join(where, m.group(1))}: not a name Kubernetes accepts here; {hint}".rstrip("; ")]
    if message.startswith("Does not match pattern"):
        value = value_at(where)
        if isinstance(value, dict):
            return []  # the pattern of its key names, reported by the line above
        # An array item's schema carries no description of its own: say what its list is for.
        parent = where.rsplit(".", 1)[0] if "." in where else "(root)"
        hint = _schema_at(schema, where).get("description") or _schema_at(schema, parent).get("description", "")
        shown = "" if value is None else f"{value!r} "
        return [f"{where}: {shown}does not have the expected form; {hint}".rstrip("; ")]
    return [f"{where}: {message}"]


def _user_value(sources: Sequence[str | Path | dict[str, Any] | None], where: str) -> Any:
    """The value at a dotted path as the last source that sets it gives it, or None: for messages only
    (Helm's pattern errors do not quote the value)."""
    found = None
    for source in sources:
        try:
            node = source if isinstance(source, dict) or source is None else chart_mod.load_values_file(source)
        except VllmServingError:
            continue
        for part in where.split("."):
            if isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                node = None
                break
        found = node if node is not None else found
    return found


def _file_error(stderr: str) -> UsageError | None:
    """A values file Helm could not read, in words that name the file."""
    if m := re.search(r"Error: open (.+): no such file or directory", stderr):
        return UsageError(f"{m.group(1)}: no such values file")
    if m := re.search(r"Error: failed to parse (.+?): .*cannot unmarshal (\w+) into Go value of type map", stderr):
        kind = {"array": "list", "object": "mapping"}.get(m.group(2), m.group(2))
        return UsageError(f"{m.group(1)}: a values file must be a mapping of keys, not a {kind}")
    if m := re.search(r"Error: failed to parse (.+?): (.*)", stderr):
        return UsageError(f"{m.group(1)}: not valid YAML: {m.group(2).strip()}")
    return None


def sizing_warnings(values: dict[str, Any], chart: Path) -> list[str]:
    """What only the model's size can tell, from Helm's computed values: too little GPU memory for the
    weights and KV cache (for the models in the built-in table). The values are valid; the pods may not start."""
    from vllm_serving.sizing import kv_cache_warning

    warning = kv_cache_warning(values, chart)
    return [warning] if warning else []


def model_fit(values: dict[str, Any], chart: Path) -> tuple[list[str], list[str]]:
    """(problems, warnings) of the model's fit: problems unless validation.modelFit is warn."""
    found = sizing_warnings(values, chart)
    if values["validation"]["modelFit"] == "warn":
        return [], found
    return [f"{message}; or set validation.modelFit: warn if you know better" for message in found], []


def judge(
    chart: Path,
    values_files: Sequence[str | Path] = (),
    values: dict[str, Any] | None = None,
    *,
    release: str = "vllm",
    namespace: str = "default",
) -> Verdict:
    """The verdict on one release's values (files layered in order, then `values`, as `helm -f` gets them):
    Helm's (with the chart's warnings), then the model's fit, which needs the values Helm computed. Every command
    that judges values calls this, so they all refuse, and warn of, the same values."""
    verdict = chart_verdict(chart, values_files, values, release=release, namespace=namespace)
    if verdict.values is None:
        return verdict
    misfits, fit_warnings = model_fit(verdict.values, chart)
    return Verdict(misfits, verdict.warnings, verdict.values, fit_warnings)
