"""Bad values files: `helm template` refuses each one, `vllm-serving validate` reports Helm's verdict, and
`up` and `preflight` refuse each with the same problems before touching a cluster (one verdict).

Each file in bad-values/ states what the user must read in `# expect:` lines; both tools' messages must
contain every one of them (and validate's the `# validate:` lines). The chart is the only place a rule
lives, so every message of the rules in templates/validate/ must reach a user through `validate` exactly as Helm
wrote it.
"""

from __future__ import annotations

import json
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from paths import CHART
from vllm_serving import cli, helm
from vllm_serving import verdict as verdict_mod
from vllm_serving.commands.validate import main as validate_main
from vllm_serving.errors import InvalidValues
from vllm_serving.verdict import Verdict, chart_verdict

BAD_VALUES = sorted((Path(__file__).parent / "bad-values").glob("*.yaml"))


def expectations(path: Path, *markers: str) -> list[str]:
    """The `# expect:` lines (both tools say it), and lines of the other markers given (`# validate:`: what
    validate says in its own form, where Helm words a schema error its own way)."""
    lines = path.read_text().splitlines()
    expected = [line.split(":", 1)[1].strip() for line in lines if line.startswith(("# expect:", *markers))]
    assert expected, f"{path.name} has no '# expect:' line"
    return expected


def helm_problems(path: Path) -> list[str]:
    with pytest.raises(InvalidValues) as refused:
        helm.template(CHART, values_files=[path])
    return refused.value.problems


def test_there_are_enough_cases():
    assert len(BAD_VALUES) >= 25


@pytest.fixture(scope="module")
def verdicts() -> dict[Path, Verdict]:
    """validate's problems for each bad file (helm runs concurrently, one process per file)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(BAD_VALUES, pool.map(lambda p: chart_verdict(CHART, [p]), BAD_VALUES), strict=True))


@pytest.mark.parametrize("path", BAD_VALUES, ids=lambda p: p.stem)
class TestRefused:
    def test_by_helm_template(self, path):
        problems = "\n".join(helm_problems(path))
        for expected in expectations(path):
            assert expected in problems

    def test_by_vllm_serving_validate(self, path, verdicts):
        verdict = verdicts[path]
        assert verdict.values is None
        problems = "\n".join(verdict.problems)
        for expected in expectations(path, "# validate:"):
            assert expected in problems

    def test_by_up_and_preflight_alike(self, path, verdicts, tmp_path, capsys, monkeypatch):
        """Helm's answer for the file is asked once (the shared verdicts) and served to all three commands;
        each composes the rest of its verdict itself."""

        def helm_answer(chart, values_files=(), values=None, **where):
            asked = ([Path(p) for p in values_files], values, where)
            assert asked == ([path], None, {"release": "vllm", "namespace": "default"})
            return verdicts[path]

        monkeypatch.setattr(verdict_mod, "chart_verdict", helm_answer)
        assert_one_verdict(three_commands(path, tmp_path, capsys))


def three_commands(path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    """What validate, up and preflight say of one values file, judged as release vllm in namespace default.
    The kubeconfig names no file: a command that reached for a cluster would fail otherwise."""
    assert cli.main(["validate", str(path), "--output", "json"]) == 1
    (report,) = json.loads(capsys.readouterr().out)["files"]
    said: dict[str, object] = {"validate": report["problems"]}
    elsewhere = ["--release", "vllm", "--kubeconfig", str(tmp_path / "no-kubeconfig")]
    assert cli.main(["up", str(path), "--namespace", "default", *elsewhere]) == 1
    said["up"] = capsys.readouterr().err.removeprefix("error: ").rstrip("\n")
    assert cli.main(["preflight", str(path), "-n", "default", "--output", "json", *elsewhere]) == 1
    preflight = json.loads(capsys.readouterr().out)
    assert preflight["version"] == "1"
    checks = preflight["checks"]
    assert [(check["name"], check["status"]) for check in checks] == [("values", "fail")]
    said["preflight"] = checks[0]["message"]
    return said


def assert_one_verdict(said: dict[str, object]) -> None:
    assert said["validate"], "validate refuses the file"
    assert said["up"] == said["preflight"] == str(InvalidValues(said["validate"]))


def test_what_helm_accepts_and_the_verdict_refuses_all_three_commands_refuse(tmp_path, capsys):
    """A model its GPUs cannot hold: Helm accepts the values, the verdict refuses them (preflight used to
    pass the values and go on to the cluster)."""
    path = tmp_path / "too-large.yaml"
    path.write_text("model:\n  name: meta-llama/Llama-3.1-70B-Instruct\n")
    assert chart_verdict(CHART, [path]).problems == []
    said = three_commands(path, tmp_path, capsys)
    assert_one_verdict(said)
    assert said["validate"][0].startswith(
        "parallelism.tensor: 1 x nvidia-l4 (24 GB, 22.0 GiB to CUDA) cannot hold the 131.4 GiB"
    )


def rule_sources() -> str:
    """The text of every topic file of the chart's cross-field rules."""
    return "\n".join(p.read_text() for p in sorted((CHART / "templates" / "validate").glob("_*.tpl")))


def rule_messages() -> list[str]:
    """Every message the rules in templates/validate/ can append: the literal string or printf format."""
    source = rule_sources()
    found = re.findall(r'append \$errors \(?(?:printf )?"((?:[^"\\]|\\.)*)"', source)
    return [m.replace('\\"', '"') for m in found]


def as_pattern(message: str) -> re.Pattern[str]:
    """A printf format as a regular expression: each verb matches some text."""
    parts = re.split(r"%[dsvq]", message)
    return re.compile(".+?".join(re.escape(p.replace("%%", "%")) for p in parts))


def fail_lines(path: Path) -> list[str]:
    """The lines of the chart's `fail` in helm's own output, untouched by this project's code."""
    done = subprocess.run(
        [helm.helm_executable(), "template", "t", str(CHART), "-f", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 1
    body = done.stderr.split("):", 1)[1]
    return [line.strip() for line in body.splitlines() if line.strip()]


RULE_MESSAGES = rule_messages()


def test_the_rule_messages_are_found():
    assert len(RULE_MESSAGES) == len(re.findall(r"append \$errors", rule_sources()))
    assert (
        "weights.gcsStream.bucket: required when weights.source is gcsStream; name the bucket that holds the model"
        in (RULE_MESSAGES)
    )


@pytest.mark.parametrize("message", RULE_MESSAGES)
def test_every_rule_message_reaches_validate_unchanged(message, verdicts):
    """Some bad file makes the chart say this message, and validate prints helm's line as is."""
    pattern = as_pattern(message)
    hits = [(path, line) for path, v in verdicts.items() for line in v.problems if pattern.fullmatch(line)]
    assert hits, f"no file in bad-values/ makes the chart say: {message}"
    path, line = hits[0]
    assert line in fail_lines(path)


def test_cli_exit_status_and_message(capsys):
    path = next(p for p in BAD_VALUES if p.stem == "tensor-too-large-for-l4")
    assert validate_main([str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}: 1 problem(s)" in out
    assert "parallelism.tensor: 16 exceeds the 8 GPUs" in out
