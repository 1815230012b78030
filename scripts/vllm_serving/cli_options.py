"""Command-line options that every command spells the same way: --chart, --output text|json, values files."""

from __future__ import annotations

import argparse

CHART_HELP = "chart directory (default: $VLLM_SERVING_CHART, else the chart inside this package)"
OUTPUT_HELP = "text for people, json for programs (default: %(default)s)"
VALUES_HELP = "values file(s), later ones override earlier (as helm -f)"


def add_chart(parser: argparse.ArgumentParser | argparse._ActionsContainer, help: str = CHART_HELP) -> None:
    """--chart; None means vllm_serving.chart.chart_dir's default."""
    parser.add_argument("--chart", help=help)


def add_output(parser: argparse.ArgumentParser, help: str = OUTPUT_HELP) -> None:
    parser.add_argument("--output", choices=("text", "json"), default="text", help=help)


def add_values(parser: argparse.ArgumentParser, help: str = VALUES_HELP) -> None:
    parser.add_argument("values", nargs="+", metavar="VALUES", help=help)
