"""The chart's warnings (vllm-serving.warnings): valid values that often hurt, said with why. `helm install`
shows them at the top of its notes, and `validate` prints the same lines and still exits 0; `up` prints them
and `preflight` reports them in its values check, from the one verdict.

Each file in warning-values/ lists, in `# warn:` lines, every warning a user must read for it, word for word.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from paths import CHART
from support.manifests import notes
from vllm_serving import cli, helm
from vllm_serving import verdict as verdict_mod
from vllm_serving.commands import up
from vllm_serving.preflight import values_check
from vllm_serving.verdict import Verdict, chart_verdict, judge

WARNED = sorted((Path(__file__).parent / "warning-values").glob("*.yaml"))


def expected(path: Path) -> list[str]:
    found = [line.split(":", 1)[1].strip() for line in path.read_text().splitlines() if line.startswith("# warn:")]
    assert found, f"{path.name} has no '# warn:' line"
    return found


@pytest.fixture(scope="module")
def verdicts() -> dict[Path, Verdict]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(WARNED, pool.map(lambda p: chart_verdict(CHART, [p]), WARNED), strict=True))


@pytest.mark.parametrize("path", WARNED, ids=lambda p: p.stem)
class TestWarned:
    def test_by_helm_install_in_its_notes(self, path):
        text = notes(yaml.safe_load(path.read_text()))
        assert re.findall(r"^WARNING: (.*)$", text, re.MULTILINE) == expected(path)

    def test_by_validate_which_still_exits_0(self, path, capsys):
        assert cli.main(["validate", str(path)]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines == [f"{path}: valid, {len(expected(path))} warning(s)"] + [
            f"  warning: {w}" for w in expected(path)
        ]

    def test_by_up_and_preflight_alike(self, path, verdicts, tmp_path, capsys, monkeypatch):
        """up prints the warnings and goes on to the cluster (stopped here where it would first reach it);
        preflight passes the values with the same warnings."""

        class ReachedTheCluster(Exception):
            pass

        def reach(*args):
            raise ReachedTheCluster

        monkeypatch.setattr(verdict_mod, "chart_verdict", lambda *args, **kwargs: verdicts[path])
        monkeypatch.setattr(up, "namespace_exists", reach)
        with pytest.raises(ReachedTheCluster):
            cli.main(["up", str(path), "--release", "vllm", "--kubeconfig", str(tmp_path / "kubeconfig")])
        assert capsys.readouterr().out.splitlines() == [f"warning: {w}" for w in expected(path)]
        check = values_check(judge(CHART, [path]))
        assert (check.status, check.message.splitlines()) == (
            "warn",
            ["valid, with warnings:"] + [f"- {w}" for w in expected(path)],
        )


@pytest.mark.cluster
def test_helm_install_prints_them_first_in_its_notes(vllm_cluster):
    """The real `helm install` (a dry run: Helm 3.17 still asks the cluster for its version) puts the warnings
    at the top of the notes it prints, as support.manifests.notes renders them above."""
    path = Path(__file__).parent / "warning-values" / "spot-single-pod.yaml"
    args = ["install", "vllm", str(CHART), "--dry-run=client", "-f", str(path), "-n", "default", "-o", "json"]
    done = helm.process(args, kubeconfig=vllm_cluster.kubeconfig)
    assert done.returncode == 0, done.stderr.decode()
    text = json.loads(done.stdout)["info"]["notes"]
    assert text.splitlines()[: len(expected(path)) + 1] == [f"WARNING: {w}" for w in expected(path)] + [""]


def warning_messages() -> list[str]:
    """Every message the warnings in templates/validate/ can append: the literal string or printf format."""
    source = "\n".join(p.read_text() for p in sorted((CHART / "templates" / "validate").glob("_*.tpl")))
    found = re.findall(r'append \$warnings \(?(?:printf )?"((?:[^"\\]|\\.)*)"', source)
    assert len(found) == source.count("append $warnings")
    return found


@pytest.mark.parametrize("message", warning_messages())
def test_every_warning_is_reached_by_a_file(message, verdicts):
    pattern = re.compile(".+?".join(re.escape(p.replace("%%", "%")) for p in re.split(r"%[dsv]|%\.1f", message)))
    assert any(pattern.fullmatch(w) for v in verdicts.values() for w in v.warnings), message


# The other side of each warning's boundary: valid values that draw no warning.
QUIET = {
    "GPU target at the headroom": {
        "autoscaling": {"enabled": True, "clusterName": "prod", "metrics": [{"type": "gpu-utilization", "target": 80}]}
    },
    "gpuMemoryUtilization at the threshold": {"vllm": {"gpuMemoryUtilization": 0.95}},
    "maxModelLen at the threshold": {
        "model": {"name": "meta-llama/Llama-3.1-8B-Instruct"},
        "vllm": {"maxModelLen": 2048},
    },
    "two pods on Spot VMs": {"gke": {"spot": True}, "replicaCount": 2},
    "one pod whose ComputeClass falls back to Spot": {
        "parallelism": {"tensor": 2},
        "gke": {
            "computeClass": {
                "create": True,
                "priorities": [
                    {"machineType": "g2-standard-24", "gpu": {"type": "nvidia-l4", "count": 2}},
                    {"machineType": "g2-standard-24", "gpu": {"type": "nvidia-l4", "count": 2}, "spot": True},
                ],
            }
        },
    },
    "chart defaults": {},
}


@pytest.mark.parametrize("values", QUIET.values(), ids=QUIET.keys())
def test_no_warning_on_the_other_side(values):
    assert chart_verdict(CHART, values=values).warnings == []
