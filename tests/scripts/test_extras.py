"""Optional extras: a command whose extra is missing says which one to install, and pyproject agrees."""

from __future__ import annotations

import importlib.util
import re
import tomllib

import pytest

from paths import REPO
from vllm_serving import cli, extras

PIPELINE = ["pipeline", "run", "--input", "x.jsonl", "--output", "o", "--endpoint", "http://127.0.0.1:1"]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def _hide(monkeypatch, prefixes: tuple[str, ...]) -> None:
    real = importlib.util.find_spec

    def find_spec(name, *args):
        if name.startswith(prefixes):
            return None
        return real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


@pytest.mark.parametrize(
    ("argv", "extra", "distributions"),
    [
        (["bake", "image-cache", "--project", "p"], "gcp", "google-cloud-compute, google-cloud-container"),
        (["bake", "--help"], "gcp", "google-cloud-compute, google-cloud-container"),
        (["nodepool", "create", "l4", "--dry-run"], "gcp", "google-cloud-compute, google-cloud-container"),
        (["loadtest", "http://127.0.0.1:1"], "loadtest", "locust"),
        (
            ["pipeline", "run", "--input", "x.jsonl", "--output", "o", "--endpoint", "http://h:1"],
            "pipeline",
            "apache-beam",
        ),
        (
            ["pipeline", "run", "--input", "x", "--output", "o", "--endpoint", "http://h:1", "--runner", "PrismRunner"],
            "pipeline",
            "apache-beam",
        ),
    ],
)
def test_missing_extra_names_the_install_command(monkeypatch, capsys, argv, extra, distributions):
    _hide(monkeypatch, ("google.cloud", "locust", "apache_beam"))
    assert cli.main(argv) == 3
    assert capsys.readouterr().err == (
        f"error: vllm-serving {argv[0]} needs the package's [{extra}] extra ({distributions}),"
        f" which is not installed: pip install 'vllm-serving[{extra}]'\n"
    )


def test_a_missing_compute_client_alone_is_reported():
    # find_spec of a dotted name whose parent is missing raises instead of returning None
    assert not extras._installed("no_such_package_here.compute_v1")


def test_core_commands_need_no_extra(monkeypatch, capsys):
    _hide(monkeypatch, ("google.cloud", "locust"))
    assert cli.main(["size", "google/gemma-2-9b-it", "--accelerator", "nvidia-l4"]) == 0
    assert "nvidia-l4" in capsys.readouterr().out


def test_extras_match_pyproject():
    declared = PYPROJECT["project"]["optional-dependencies"]
    for extra, (distributions, _) in extras.EXTRAS.items():
        names = {re.match(r"[A-Za-z0-9_.-]+(\[[a-z,]+\])?", req).group(0) for req in declared[extra]}
        assert names == set(distributions), extra
    core = " ".join(PYPROJECT["project"]["dependencies"])
    for distributions, _ in extras.EXTRAS.values():
        for name in distributions:
            assert name not in core, f"{name} is in an extra, not the core install"


def test_every_command_with_an_extra_exists():
    assert set(extras.COMMAND_EXTRAS) <= set(cli.COMMANDS)
    assert set(extras.COMMAND_EXTRAS.values()) <= set(extras.EXTRAS)


def test_tests_are_a_dependency_group_that_pulls_every_other_extra():
    # A dependency group, not an extra: a wheel's user sees no `test` extra (PEP 735).
    assert "test" not in PYPROJECT["project"]["optional-dependencies"]
    # but [dataflow]: Beam's Google Cloud clients only submit to Dataflow and read Pub/Sub, which tests stand in for
    test = PYPROJECT["dependency-groups"]["test"]
    self_ref = next(r for r in test if r.startswith("vllm-serving["))
    assert set(self_ref[len("vllm-serving[") : -1].split(",")) == set(extras.EXTRAS) - {"dataflow"}


def test_dataflow_modules_come_with_beams_gcp_extra():
    # What pip installs for apache-beam[gcp], read from the installed apache-beam's own metadata (Requires-Dist)
    from importlib.metadata import requires

    gcp = {re.match(r"[A-Za-z0-9_.-]+", r).group(0) for r in requires("apache-beam") if 'extra == "gcp"' in r}
    providers = {"apitools": "google-apitools", "google.cloud.pubsub": "google-cloud-pubsub"}
    providers["google.cloud.secretmanager"] = "google-cloud-secret-manager"
    _, modules = extras.EXTRAS["dataflow"]
    own = {"openai", "setuptools"}  # [dataflow]'s own requirements, beside Beam's gcp extra
    assert {providers[m] for m in modules if m not in own} <= gcp
