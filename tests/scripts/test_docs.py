"""`vllm-serving docs`: the values contract written once. values.schema.json is generated whole from values.yaml
(keys, types, defaults, `# --` comments) and values.schema.overlay.yaml (constraints only), the chart README's
values reference from both; `docs --check` fails on any drift."""

from __future__ import annotations

import json
import shutil

import pytest

from paths import CHART
from vllm_serving.cli import run
from vllm_serving.commands.docs import main
from vllm_serving.docs import comment_descriptions

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
    """Any hand edit of the generated schema is drift: a description, a default, a constraint."""
    schema_path = chart / "values.schema.json"
    schema = json.loads(schema_path.read_text())
    tensor = schema["properties"]["parallelism"]["properties"]["tensor"]
    tensor |= {"description": "Something else.", "default": 2, "maximum": 64}
    schema_path.write_text(json.dumps(schema, indent=2) + "\n")
    assert main(["--chart", str(chart), "--check"]) == 1
    assert capsys.readouterr().out == (
        f"{schema_path}: not what values.yaml and values.schema.overlay.yaml generate at parallelism.tensor "
        "(default, description, maximum); run `vllm-serving docs`\n"
    )
    assert main(["--chart", str(chart)]) == 0
    assert main(["--chart", str(chart), "--check"]) == 0
    assert schema_path.read_text() == (CHART / "values.schema.json").read_text()


def test_a_constraint_edited_in_the_overlay_reaches_the_schema(chart, capsys):
    overlay = chart / "values.schema.overlay.yaml"
    old = "parallelism.tensor:\n  minimum: 1\n  maximum: 16\n"
    assert old in overlay.read_text()
    overlay.write_text(overlay.read_text().replace(old, "parallelism.tensor:\n  minimum: 1\n  maximum: 8\n"))
    assert main(["--chart", str(chart), "--check"]) == 1
    assert "generate at parallelism.tensor (maximum);" in capsys.readouterr().out
    assert main(["--chart", str(chart)]) == 0
    tensor = json.loads((chart / "values.schema.json").read_text())["properties"]["parallelism"]["properties"]["tensor"]
    assert tensor == {
        "type": "integer",
        "description": DESCRIPTIONS["parallelism.tensor"],
        "minimum": 1,
        "maximum": 8,
        "default": 1,
    }


def test_a_new_values_yaml_block_is_a_strict_typed_object_with_its_defaults(chart):
    """No schema edit is needed for a new key: values.yaml gives its type, default and description, and a
    mapping there is one of the chart's own objects (unknown keys refused)."""
    values = chart / "values.yaml"
    values.write_text(values.read_text() + "# -- A new block.\nnewBlock:\n  # -- Its ratio.\n  ratio: 0.5\n")
    assert main(["--chart", str(chart)]) == 0
    schema = json.loads((chart / "values.schema.json").read_text())
    assert schema["properties"]["newBlock"] == {
        "type": "object",
        "description": "A new block.",
        "additionalProperties": False,
        "properties": {"ratio": {"type": "number", "description": "Its ratio.", "default": 0.5}},
        "default": {"ratio": 0.5},
    }


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        (
            "values.schema.overlay.yaml",
            "parallelism.tensor:\n  minimum: 1\n",
            "parallelism.tensor:\n  default: 2\n  minimum: 1\n",
            "{chart}/values.schema.overlay.yaml: a default at parallelism.tensor; defaults live in values.yaml "
            "only (the schema's `default` is each key's values.yaml value)",
        ),
        (
            "values.schema.overlay.yaml",
            "parallelism.tensor:\n",
            "parallelism.tensr:\n",
            "values.schema.overlay.yaml: parallelism.tensr: no such key in values.yaml; a key only the schema has "
            "is written whole, with its type and description",
        ),
        (
            "values.schema.overlay.yaml",
            "parallelism.tensor:\n",
            "parallelism.tensor:\n  description: GPUs.\n",
            "values.schema.overlay.yaml: parallelism.tensor: its description is its `# --` comment in values.yaml, "
            "not the overlay's",
        ),
        (
            "values.yaml",
            "  tensor: 1\n",
            "  tensor: null\n",
            "values.yaml: parallelism.tensor is null; give its type in values.schema.overlay.yaml "
            "(e.g. [integer, 'null'])",
        ),
    ],
    ids=["default-in-overlay", "overlay-names-no-key", "description-in-overlay", "null-without-type"],
)
def test_what_the_generator_refuses(chart, capsys, file, old, new, message):
    path = chart / file
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new, 1))
    assert run(main, ["--chart", str(chart), "--check"]) == 2
    assert message.format(chart=chart) in capsys.readouterr().err


def test_check_fails_on_readme_drift_and_docs_repairs_it(chart, capsys):
    readme = chart / "README.md"
    readme.write_text(readme.read_text().replace("| `model.name` |", "| `model.nam` |"))
    assert main(["--chart", str(chart), "--check"]) == 1
    assert f"{readme}: the values reference is out of date; run `vllm-serving docs`" in capsys.readouterr().out
    assert main(["--chart", str(chart)]) == 0
    assert readme.read_text() == (CHART / "README.md").read_text()


def test_a_comment_and_a_default_edited_in_values_yaml_reach_both_files(chart):
    values = chart / "values.yaml"
    old = "# -- Number of serving pods (the starting point when autoscaling)."
    assert old in values.read_text()
    text = values.read_text().replace(old, "# -- How many pods serve.")
    values.write_text(text.replace("\nreplicaCount: 1\n", "\nreplicaCount: 2\n"))
    assert main(["--chart", str(chart), "--check"]) == 1
    assert main(["--chart", str(chart)]) == 0
    schema = json.loads((chart / "values.schema.json").read_text())
    assert schema["properties"]["replicaCount"] == {
        "type": "integer",
        "description": "How many pods serve.",
        "minimum": 0,
        "default": 2,
    }
    assert "| `replicaCount` | integer | `2` | How many pods serve. |" in (chart / "README.md").read_text()


def test_a_key_without_a_comment_is_refused(chart, capsys):
    values = chart / "values.yaml"
    values.write_text(
        values.read_text().replace("# -- Number of serving pods (the starting point when autoscaling).\n", "")
    )
    assert run(main, ["--chart", str(chart)]) == 2
    assert f"{values}: no `# --` comment above replicaCount; describe each key there" in capsys.readouterr().err
