"""The README's two set-up commands, and CI running the second one verbatim."""

from __future__ import annotations

import re

from paths import REPO

README = (REPO / "README.md").read_text()
CI = (REPO / ".ci" / "run").read_text()


def setup_commands() -> list[str]:
    section = README.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section, re.S)


def test_readme_has_exactly_two_setup_commands():
    commands = setup_commands()
    assert len(commands) == 2
    assert all("\n" not in c for c in commands), "each set-up command is one line a newcomer can paste"


def test_ci_runs_the_readmes_test_command():
    test_command = setup_commands()[1]
    body = re.search(r"test_command\(\) \{\n\s*(.+?)\n\}", CI, re.S)
    assert body, ".ci/run has no test_command function"
    assert body.group(1).strip() == test_command
    assert CI.rstrip().endswith("test_command"), ".ci/run must finish by running the README's test command"


def test_ci_fails_on_any_failure():
    assert "set -euo pipefail" in CI


def test_main_job_installs_on_the_local_cluster_with_a_values_file_that_exists():
    main_job = setup_commands()[0]
    assert "vllm-serving up values/" in main_job
    for path in re.findall(r"values/[\w.-]+\.yaml", main_job):
        assert (REPO / path).is_file(), path
