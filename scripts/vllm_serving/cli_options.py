"""Command-line options that every command spells the same way: --chart, --output text|json, values files; and
the one shape of every --output json: an object that names its format's version."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

CHART_HELP = "chart directory (default: $VLLM_SERVING_CHART, else the chart inside this package)"
OUTPUT_HELP = "text for people, json for programs (default: %(default)s)"
VALUES_HELP = "values file(s), later ones override earlier (as helm -f)"
# The version of every command's --output json object; a change that breaks a reader (a key renamed, removed or
# retyped) makes it "2". Adding a key does not.
JSON_VERSION = "1"


def add_chart(parser: argparse.ArgumentParser | argparse._ActionsContainer, help: str = CHART_HELP) -> None:
    """--chart; None means vllm_serving.chart.chart_dir's default."""
    parser.add_argument("--chart", help=help)


def add_output(parser: argparse.ArgumentParser, help: str = OUTPUT_HELP) -> None:
    parser.add_argument("--output", choices=("text", "json"), default="text", help=help)


def add_values(parser: argparse.ArgumentParser, help: str = VALUES_HELP) -> None:
    parser.add_argument("values", nargs="+", metavar="VALUES", help=help)


def json_report(payload: Mapping[str, Any]) -> str:
    """A command's --output json: one object, its format's version first, so that a program reading it can refuse a
    format it does not know instead of misreading it."""
    assert "version" not in payload, "the report's own key"
    return json.dumps({"version": JSON_VERSION, **payload}, indent=2)
