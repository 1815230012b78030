"""Every value in values.yaml is read by some template (cert-manager's verify-helm-values, done on the chart's
own text): a key that nothing reads is a setting users change for no effect.

A leaf counts as read when a template reaches it, or an object above it, through `.Values...` or a variable
assigned from it (`$w := .Values.weights`, then `$w.gcsfuse`), and when its own key is named in a template
(`.bucket`, `"bucket"`) or an object above it is handed on whole (`toYaml $a.behavior`, or a pass-through
object the schema leaves open or points at a Kubernetes definition). A value read by the Python tooling alone is listed
in READ_ELSEWHERE with its reader."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from paths import CHART

READ_ELSEWHERE = {
    "validation.modelFit": "vllm_serving.verdict.model_fit (whether a misfit is an error or a warning)",
}


def leaves(values: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for key, value in values.items():
        path = (*prefix, key)
        if isinstance(value, dict) and value:
            yield from leaves(value, path)
        else:
            yield path


def template_texts() -> list[str]:
    """Each template file's text: a variable's name means something within one file only."""
    return [p.read_text() for p in sorted((CHART / "templates").rglob("*")) if p.is_file()]


def aliases_of(text: str) -> dict[str, tuple[str, ...]]:
    """Template variables assigned from a value path: `$w := .Values.weights`, `$c := $gke.computeClass`."""
    aliases = {
        m.group(1): tuple(x for x in m.group(2).strip(".").split(".") if x)
        for m in re.finditer(r"\$(\w+)\s*:?=\s*\$?\.Values((?:\.\w+)*)", text)
    }
    grew = True
    while grew:  # `$c := $gke.computeClass` after `$gke := .Values.gke`
        grew = False
        for m in re.finditer(r"\$(\w+)\s*:?=\s*\$(\w+)((?:\.\w+)+)", text):
            if m.group(2) in aliases and m.group(1) not in aliases:
                aliases[m.group(1)] = aliases[m.group(2)] + tuple(m.group(3).strip(".").split("."))
                grew = True
    return aliases


def resolve(expression: str, aliases: dict[str, tuple[str, ...]]) -> tuple[str, ...] | None:
    """The value path of `.Values.a.b`, `$.Values.a.b` or `$alias.c`, else None."""
    match = re.fullmatch(r"\$?\.Values((?:\.\w+)+)", expression)
    if match:
        return tuple(match.group(1).strip(".").split("."))
    match = re.fullmatch(r"\$(\w+)((?:\.\w+)*)", expression)
    if match and match.group(1) in aliases:
        return aliases[match.group(1)] + tuple(x for x in match.group(2).strip(".").split(".") if x)
    return None


def whole(text: str) -> set[tuple[str, ...]]:
    """Value paths a template hands on whole (`toYaml $a.behavior`): every leaf below them is rendered."""
    aliases = aliases_of(text)
    found = (resolve(m.group(1), aliases) for m in re.finditer(r"toYaml\s+\(?(\$?[\w.]+)", text))
    return {path for path in found if path}


def references(text: str) -> set[tuple[str, ...]]:
    """Value paths the templates reach: `.Values.a.b`, and through variables assigned from them."""
    found = {tuple(m.group(1).strip(".").split(".")) for m in re.finditer(r"\.Values((?:\.\w+)+)", text)}
    aliases = aliases_of(text)
    for name, base in aliases.items():
        found.add(base)
        found.update(
            base + tuple(m.group(1).strip(".").split(".")) for m in re.finditer(rf"\${name}((?:\.\w+)+)", text)
        )
    return found


def free_form(schema: dict[str, Any], path: tuple[str, ...]) -> bool:
    """Whether the schema leaves an object on the path open (or hands it to a Kubernetes definition)."""
    node = schema
    for key in path[:-1]:
        node = node.get("properties", {}).get(key)
        if node is None:
            return True
        if "$ref" in node or "properties" not in node or node.get("additionalProperties", False) is not False:
            return True
    return False


def unread(values: dict[str, Any], texts: list[str], schema: dict[str, Any]) -> list[str]:
    reached = set().union(*(references(t) for t in texts))
    rendered = set().union(*(whole(t) for t in texts))
    text = "\n".join(texts)
    found = []
    for path in leaves(values):
        covered = any(path[:i] in reached for i in range(1, len(path) + 1))
        named = re.search(rf'\.{re.escape(path[-1])}\b|"{re.escape(path[-1])}"', text)
        handed_on = any(path[:i] in rendered for i in range(1, len(path)))
        if not covered or not (named or handed_on or free_form(schema, path)):
            found.append(".".join(path))
    return found


@pytest.fixture(scope="module")
def chart_parts() -> tuple[dict[str, Any], str, dict[str, Any]]:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    return values, template_texts(), json.loads((CHART / "values.schema.json").read_text())


def test_every_value_is_read(chart_parts):
    values, texts, schema = chart_parts
    assert [path for path in unread(values, texts, schema) if path not in READ_ELSEWHERE] == []


def test_a_value_nothing_reads_is_found(chart_parts):
    values, texts, schema = chart_parts
    planted = {**values, "gke": {**values["gke"], "preemptibleBoost": True}, "forgotten": {"knob": 1}}
    schema = {**schema, "properties": {**schema["properties"], "forgotten": {"type": "object", "properties": {}}}}
    assert [p for p in unread(planted, texts, schema) if p not in READ_ELSEWHERE] == [
        "gke.preemptibleBoost",
        "forgotten.knob",
    ]


def test_what_the_tooling_reads_is_read_there():
    from vllm_serving import verdict

    source = Path(verdict.__file__).read_text()
    for path in READ_ELSEWHERE:
        assert path.split(".")[-1] in source, path
