"""The `vllm-serving` entry point: dispatch, help, and errors mapped to exit codes in one place."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from vllm_serving import cli
from vllm_serving.errors import UsageError


def test_help_lists_every_command(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert f"  {name}" in out


def test_no_command_prints_usage_and_fails(capsys):
    assert cli.main([]) == 2
    assert "usage: vllm-serving COMMAND" in capsys.readouterr().out


def test_unknown_command(capsys):
    assert cli.main(["deploy"]) == 2
    assert "unknown command 'deploy'" in capsys.readouterr().err


def test_domain_error_becomes_message_and_exit_code(capsys):
    def broken(argv):
        raise UsageError("values.yaml: no such values file")

    assert cli.run(broken, []) == 2
    assert capsys.readouterr().err == "error: values.yaml: no such values file\n"


def test_every_command_has_help(capsys):
    for name in cli.COMMANDS:
        try:
            cli.main([name, "--help"])
        except SystemExit as done:
            assert done.code == 0
        assert f"vllm-serving {name}" in capsys.readouterr().out


def test_console_script_is_installed():
    script = shutil.which("vllm-serving") or shutil.which("vllm-serving", path=str(sys.executable).rsplit("/", 1)[0])
    assert script, "the vllm-serving console script is not installed"
    result = subprocess.run([script, "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert "validate" in result.stdout


def test_up_and_preflight_refuse_a_release_name_helm_refuses(capsys, tmp_path):
    values = tmp_path / "Gemma_L4.yaml"
    values.write_text("{}\n")
    for command in ("up", "preflight"):
        assert cli.main([command, str(values), "--release", "gemma_l4"]) == 2
        assert capsys.readouterr().err == "error: 'gemma_l4' is not a valid release name; pass --release\n"


def test_cluster_status_json_of_no_cluster_is_a_versioned_object(capsys, tmp_path):
    assert cli.main(["cluster", "status", "--state-dir", str(tmp_path), "--output", "json"]) == 1
    assert json.loads(capsys.readouterr().out) == {"version": "1", "state_dir": str(tmp_path), "running": False}
