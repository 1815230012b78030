"""`vllm-serving docs`: one description per key. values.yaml's `# --` comments are the source; the schema's
descriptions and the chart README's values reference are generated from them and never drift."""

from __future__ import annotations

import json
import shutil

import pytest

from paths import CHART
from vllm_serving.cli import run
from vllm_serving.docs import comment_descriptions, main

DESCRIPTIONS = comment_descriptions((CHART / "values.yaml").read_text())


def schema_descriptions(schema: dict, path: str = "") -> dict[str, str]:
    found = {}
    for key, sub in schema.get("properties", {}).items():
        where = f"{path}.{key}" if path else key
        found[where] = sub.get("description")
        found |= schema_descriptions(sub, where)
    return found


@pytest.fixture
def chart(tmp_path):
    copy = tmp_path / "chart"
    shutil.copytree(CHART, copy)
    return copy


def test_schema_and_readme_are_up_to_date(capsys):
    assert main(["--check"]) == 0, capsys.readouterr().out


def test_every_schema_description_is_its_values_yaml_comment():
    schema = schema_descriptions(json.loads((CHART / "values.schema.json").read_text()))
    readme = (CHART / "README.md").read_text()
    assert len(DESCRIPTIONS) >= 150
    for key, description in DESCRIPTIONS.items():
        assert schema[key] == description, key
    # Leaf keys are rows of the README table, with the same words ("|" escaped in a table cell).
    assert "| `parallelism.tensor` | integer | `1` | " + DESCRIPTIONS["parallelism.tensor"] + " |" in readme
    assert DESCRIPTIONS["autoscaling.gpuUtilization.exporter.selector"] in readme


def test_comments_are_read_as_helm_docs_reads_them():
    text = """# -- not this: a blank line ends a block

# an ordinary comment is no description
top:
  # -- First line
  # and its continuation.
  child: 1
  # Notes before the marker do not count.
  # -- Only from here.
  other: [a]
  undocumented: 2
"""
    assert comment_descriptions(text) == {
        "top.child": "First line and its continuation.",
        "top.other": "Only from here.",
    }


def test_check_names_schema_drift_and_docs_repairs_it(chart, capsys):
    schema_path = chart / "values.schema.json"
    schema = json.loads(schema_path.read_text())
    schema["properties"]["parallelism"]["properties"]["tensor"]["description"] = "Something else."
    schema_path.write_text(json.dumps(schema, indent=2) + "\n")
    assert main(["--chart", str(chart), "--check"]) == 1
    out = capsys.readouterr().out
    assert f"{schema_path}: descriptions differ from values.yaml (parallelism.tensor); run `vllm-serving docs`" in out
    assert main(["--chart", str(chart)]) == 0
    assert main(["--chart", str(chart), "--check"]) == 0
    assert json.loads(schema_path.read_text()) == json.loads((CHART / "values.schema.json").read_text())


def test_check_fails_on_readme_drift_and_docs_repairs_it(chart, capsys):
    readme = chart / "README.md"
    readme.write_text(readme.read_text().replace("| `model.name` |", "| `model.nam` |"))
    assert main(["--chart", str(chart), "--check"]) == 1
    assert f"{readme}: the values reference is out of date; run `vllm-serving docs`" in capsys.readouterr().out
    assert main(["--chart", str(chart)]) == 0
    assert readme.read_text() == (CHART / "README.md").read_text()


def test_a_comment_edited_in_values_yaml_reaches_both_files(chart):
    values = chart / "values.yaml"
    old = "# -- Number of serving pods (the starting point when autoscaling)."
    assert old in values.read_text()
    values.write_text(values.read_text().replace(old, "# -- How many pods serve."))
    assert main(["--chart", str(chart), "--check"]) == 1
    assert main(["--chart", str(chart)]) == 0
    schema = json.loads((chart / "values.schema.json").read_text())
    assert schema["properties"]["replicaCount"]["description"] == "How many pods serve."
    assert "| `replicaCount` | integer | `1` | How many pods serve. |" in (chart / "README.md").read_text()


def test_a_key_without_a_comment_is_refused(chart, capsys):
    values = chart / "values.yaml"
    values.write_text(
        values.read_text().replace("# -- Number of serving pods (the starting point when autoscaling).\n", "")
    )
    assert run(main, ["--chart", str(chart)]) == 2
    assert f"{values}: no `# --` comment above replicaCount; describe each key there" in capsys.readouterr().err
