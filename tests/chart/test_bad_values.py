"""Bad values files: `helm template` and `vllm-serving validate` both refuse each one, naming the key.

Each file in bad-values/ states what the user must read in `# expect:` lines; both tools' messages must
contain every one of them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from paths import CHART
from vllm_serving import helm
from vllm_serving.chart import effective_values, load_values_file, schema
from vllm_serving.errors import InvalidValues
from vllm_serving.validate import main as validate_main
from vllm_serving.validate import schema_problems, validate_values

BAD_VALUES = sorted((Path(__file__).parent / "bad-values").glob("*.yaml"))


def expectations(path: Path) -> list[str]:
    expected = [line.split(":", 1)[1].strip() for line in path.read_text().splitlines() if line.startswith("# expect:")]
    assert expected, f"{path.name} has no '# expect:' line"
    return expected


def helm_problems(path: Path) -> list[str]:
    with pytest.raises(InvalidValues) as refused:
        helm.template(CHART, values_files=[path])
    return refused.value.problems


def test_there_are_enough_cases():
    assert len(BAD_VALUES) >= 25


@pytest.mark.parametrize("path", BAD_VALUES, ids=lambda p: p.stem)
class TestRefused:
    def test_by_helm_template(self, path):
        problems = "\n".join(helm_problems(path))
        for expected in expectations(path):
            assert expected in problems

    def test_by_vllm_serving_validate(self, path):
        problems = "\n".join(validate_values(load_values_file(path), CHART))
        for expected in expectations(path):
            assert expected in problems


def breaks_only_cross_field_rules(path: Path) -> bool:
    values = effective_values(CHART, load_values_file(path))
    return not schema_problems(values, schema(CHART))


RULE_CASES = [p for p in BAD_VALUES if breaks_only_cross_field_rules(p)]


@pytest.mark.parametrize("path", RULE_CASES, ids=lambda p: p.stem)
def test_cross_field_rules_give_identical_messages(path):
    """Where the chart's `fail` speaks, Python says exactly the same lines, in the same order.
    (Schema violations are worded by each tool's JSON-schema library; both name the key, as above.)"""
    assert helm_problems(path) == validate_values(load_values_file(path), CHART)


def test_rule_cases_cover_every_rule():
    assert len(RULE_CASES) >= 8


def test_cli_exit_status_and_message(capsys):
    path = next(p for p in BAD_VALUES if p.stem == "tensor-too-large-for-l4")
    assert validate_main([str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}: 1 problem(s)" in out
    assert "parallelism.tensor: 16 exceeds the 8 GPUs" in out
