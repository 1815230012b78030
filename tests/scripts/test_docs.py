"""`vllm-serving docs`: the values reference in the chart README is generated and never drifts."""

from __future__ import annotations

import shutil

from paths import CHART
from vllm_serving.docs import main


def test_readme_reference_is_up_to_date(capsys):
    assert main(["--check"]) == 0, capsys.readouterr().out


def test_every_schema_key_is_in_the_reference():
    readme = (CHART / "README.md").read_text()
    for key in ("model.name", "parallelism.tensor", "weights.huggingface.tokenSecret.name", "startup.maxSeconds"):
        assert f"| `{key}` |" in readme


def test_check_fails_on_drift_and_regeneration_fixes_it(tmp_path, capsys):
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    readme = chart / "README.md"
    readme.write_text(readme.read_text().replace("| `model.name` |", "| `model.nam` |"))
    assert main(["--chart", str(chart), "--check"]) == 1
    assert "the values reference is out of date; run `vllm-serving docs`" in capsys.readouterr().out
    assert main(["--chart", str(chart)]) == 0
    assert main(["--chart", str(chart), "--check"]) == 0
