"""values.schema.json against values.yaml, rules.yaml and Chart.yaml: one truth, written down once each. The
schema is generated (`vllm-serving docs`, tests/scripts/test_docs.py); these check what it must hold."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from paths import CHART
from vllm_serving import chart as chart_mod

SCHEMA = chart_mod.schema(CHART)
DEFAULTS = yaml.safe_load((CHART / "values.yaml").read_text())


def walk(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = []
    for key, sub in schema.get("properties", {}).items():
        where = f"{path}.{key}" if path else key
        found.append((where, sub))
        found += walk(sub, where)
    return found


KEYS = [(p, s) for p, s in walk(SCHEMA) if p != "global"]


@pytest.mark.parametrize(("path", "sub"), KEYS, ids=[p for p, _ in KEYS])
def test_every_key_has_a_description_and_a_type(path, sub):
    """`vllm-serving docs` writes both (tests/scripts/test_docs.py checks the committed schema is what it
    writes, defaults included); a key without them would be a hole in the generated contract."""
    assert sub.get("description"), f"{path} has no description"
    assert sub.get("type"), f"{path} has no type"


def test_every_values_yaml_key_is_in_the_schema():
    """Every key of values.yaml down to the chart's own objects; maps the schema leaves open (labels,
    resources, Kubernetes objects) are one key."""
    schemas = dict(KEYS)

    def paths(node: Any, path: str) -> list[str]:
        found = [path] if path else []
        if isinstance(node, dict) and (not path or "properties" in schemas.get(path, {})):
            for key, value in node.items():
                found += paths(value, f"{path}.{key}" if path else key)
        return found

    assert [p for p in paths(DEFAULTS, "") if p not in schemas] == []


def test_chart_objects_are_strict():
    loose = [
        p for p, s in [("(root)", SCHEMA), *KEYS] if "properties" in s and s.get("additionalProperties") is not False
    ]
    assert loose == []


def test_accelerator_enum_is_the_rules_table():
    enum = SCHEMA["properties"]["gke"]["properties"]["accelerator"]["enum"]
    assert enum == list(chart_mod.rules(CHART)["accelerators"])


def test_app_version_matches_image_tag():
    chart_yaml = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart_yaml["appVersion"] == DEFAULTS["image"]["tag"]


def test_if_then_requires_the_chosen_sources_block():
    weights = SCHEMA["properties"]["weights"]
    sources = weights["properties"]["source"]["enum"]
    required_blocks = {
        rule["if"]["properties"]["source"]["const"]: rule["then"]["required"] for rule in weights["allOf"]
    }
    assert required_blocks == {source: [source] for source in sources}
