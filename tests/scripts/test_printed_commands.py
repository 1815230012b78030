"""Every `vllm-serving` command that NOTES.txt and the READMEs print parses with the CLI's own argparse
parsers (a mistyped option such as `--image` would otherwise meet argparse's prefix matching, which
turns it into `--image-name`)."""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import re
import shlex
from pathlib import Path

import pytest

from paths import CHART, CI_FILES, REPO, VALUES_FILES
from support.manifests import notes
from vllm_serving import cli

READMES = [REPO / "README.md", CHART / "README.md"]


class Parsed(Exception):
    """Raised in place of running a command once its parser has accepted the argv."""


def commands_in(text: str) -> list[str]:
    """`vllm-serving ...` commands of shell lines: continuations joined, `&&` chains split, comments cut,
    `a|b` alternatives of one word (`cluster up|down`) expanded."""
    lines = re.sub(r"\\\n\s*", " ", text).splitlines()
    found = []
    for line in lines:
        for segment in line.split("&&"):
            if not re.match(r"\s*(helm |\S*/)?vllm-serving\s", segment):
                continue  # prose and other tools' commands (an apostrophe is no shell quote there)
            words = shlex.split(segment, comments=True)
            if words[:1] == ["helm"] and words[1:2] == ["vllm-serving"]:  # the Helm plugin runs the same CLI
                words = words[1:]
            if not words or Path(words[0]).name != "vllm-serving":
                continue
            alternatives = next((i for i, w in enumerate(words) if "|" in w), None)
            if alternatives is None:
                found.append(shlex.join(words[1:]))
            else:
                for choice in words[alternatives].split("|"):
                    found.append(shlex.join([*words[1:alternatives], choice, *words[alternatives + 1 :]]))
    return found


def readme_commands() -> list[str]:
    found = []
    for readme in READMES:
        for block in re.findall(r"^```(?:sh|bash|console)?\n(.*?)^```", readme.read_text(), re.S | re.M):
            found += commands_in(block)
    return found


@functools.cache
def notes_commands() -> list[str]:
    found: set[str] = set()
    for path in VALUES_FILES + CI_FILES:
        found.update(commands_in("\n".join(line for line in notes(values_files=[path]).splitlines())))
    return sorted(found)


def parse(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> str | None:
    """None if the command's parsers accept argv with every option spelled out; else what the user reads.
    A printed command must not lean on argparse's prefix matching: the next option added (`--image-name`
    beside `--image-cache`) silently changes what an abbreviation means."""
    original_init = argparse.ArgumentParser.__init__
    original_parse = argparse.ArgumentParser.parse_args

    def strict(self, *args, **kwargs):
        original_init(self, *args, **{**kwargs, "allow_abbrev": False})

    def accept(self, args=None, namespace=None):
        original_parse(self, args, namespace)
        raise Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "__init__", strict)
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", accept)
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(argv)
    except Parsed:
        return None
    except SystemExit as exit_:
        return f"exit {exit_.code}: {err.getvalue()}"
    return None if code == 0 else f"exit {code}: {err.getvalue()}"  # it parsed its own way and succeeded


README_COMMANDS = readme_commands()


def test_the_commands_are_found():
    assert "bake image-cache --project P --zone us-central1-a --image-name vllm-v0-33-0" in README_COMMANDS
    assert {"cluster up", "cluster down"} <= set(README_COMMANDS)
    assert any(c.startswith("bake image-cache us-docker.pkg.dev/") for c in notes_commands())


@pytest.mark.parametrize("command", README_COMMANDS)
def test_readme_command_parses(command, monkeypatch, tmp_path):
    # `pipeline run` parses with parse_known_args and then runs over no input: its empty result shards
    # go to a scratch directory, not the checkout.
    monkeypatch.chdir(tmp_path)
    problem = parse(shlex.split(command), monkeypatch)
    if problem and "pip install 'vllm-serving[" in problem:
        pytest.skip(f"an optional extra is not installed: {problem.strip()}")
    assert problem is None


def test_notes_commands_parse(monkeypatch):
    refused = {c: problem for c in notes_commands() if (problem := parse(shlex.split(c), monkeypatch))}
    assert refused == {}


def test_a_wrong_option_is_caught(monkeypatch):
    problem = parse(
        ["bake", "image-cache", "--image", "vllm/vllm-openai:v0.33.0", "--zone", "us-central1-a"], monkeypatch
    )
    assert problem and "unrecognized arguments: --image" in problem
