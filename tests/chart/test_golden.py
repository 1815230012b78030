"""The golden default render (cert-manager's defaults snapshot): tests/chart/golden/default.yaml is `helm template`
of the chart with its default values, release "vllm" in namespace "default", byte for byte. A template or
values.yaml change that alters what a bare install creates shows up there, in the same commit, for a
reviewer to read. The default values render alone (values.yaml's model fits one L4), so no ci/ file is needed."""

from __future__ import annotations

import difflib
import os

import pytest

from paths import CHART, REPO
from vllm_serving import helm

GOLDEN = REPO / "tests" / "chart" / "golden" / "default.yaml"
UPDATE = "VLLM_SERVING_UPDATE_GOLDEN"
REGENERATE = f"{UPDATE}=1 pytest tests/chart/test_golden.py"


def test_the_default_render_is_the_golden_file():
    rendered = helm.template(CHART, release="vllm", namespace="default")
    if os.environ.get(UPDATE):
        GOLDEN.write_text(rendered)
        pytest.skip(f"{GOLDEN}: written; review and commit it")
    golden = GOLDEN.read_text()
    diff = list(difflib.unified_diff(golden.splitlines(), rendered.splitlines(), "golden", "rendered", lineterm=""))
    shown = "\n".join(diff[:80]) + (f"\n... ({len(diff) - 80} more diff lines)" if len(diff) > 80 else "")
    assert rendered == golden, (
        f"the default render differs from {GOLDEN.relative_to(REPO)}:\n{shown}\n"
        f"If the change is intended, regenerate it with `{REGENERATE}` and commit it."
    )
