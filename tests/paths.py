"""Paths of the repository's chart and values files, for the tests (tests/ is on pytest's pythonpath)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "charts" / "vllm-serving"
VALUES_FILES = sorted((REPO / "values").glob("*.yaml"))
CI_FILES = sorted((CHART / "ci").glob("*.yaml"))
