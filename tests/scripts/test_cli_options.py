"""--chart, --output and values files are defined once (vllm_serving.cli_options) and read alike everywhere."""

from __future__ import annotations

import re

import pytest

from paths import REPO
from vllm_serving import cli, cli_options

WITH_CHART = [
    ["render"],
    ["validate"],
    ["preflight"],
    ["up"],
    ["docs"],
    ["size"],
    ["check-args"],
    ["values", "new"],
    ["bake", "image-cache"],
    ["nodepool", "create"],
]
WITH_OUTPUT = [
    ["validate"],
    ["preflight"],
    ["size"],
    ["check-args"],
    ["loadtest"],
    ["cluster", "status"],
    ["bake", "image-cache"],
    ["bake", "weights-disk"],
    ["bake", "cleanup"],
    ["nodepool", "create"],
]


def help_text(argv: list[str], capsys) -> str:
    try:
        status = cli.main([*argv, "--help"])
    except SystemExit as done:  # argparse's own --help; bake and nodepool return the status instead
        status = done.code
    assert status == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps help lines


@pytest.mark.parametrize("argv", WITH_CHART, ids=" ".join)
def test_chart_option_says_where_the_default_chart_is(argv, capsys):
    text = help_text(argv, capsys)
    assert "--chart CHART" in text
    assert " ".join(cli_options.CHART_HELP.split()) in text


@pytest.mark.parametrize("argv", WITH_OUTPUT, ids=" ".join)
def test_output_is_text_or_json(argv, capsys):
    assert "--output {text,json}" in help_text(argv, capsys)


def test_no_command_defines_them_again():
    # --output as a report format (text|json); an --output that names a file or prefix is another option
    pattern = re.compile(r"add_argument\(\s*\"--chart\"|add_argument\(\s*\"--output\",\s*choices")
    offenders = [
        str(path.relative_to(REPO))
        for path in sorted((REPO / "scripts" / "vllm_serving").rglob("*.py"))
        if path.name != "cli_options.py" and pattern.search(path.read_text())
    ]
    assert offenders == []
