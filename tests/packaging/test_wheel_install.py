"""The wheel installed into a fresh venv outside the checkout: every command finds the chart and the cluster's
Go module inside the installed package, and a core install names the extra that bake needs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from paths import VALUES_FILES
from vllm_serving.cluster.local import default_state_dir

pytestmark = pytest.mark.cluster

L4 = next(p for p in VALUES_FILES if p.name == "gemma-2-9b-it-l4.yaml")
# what would point a command back at the checkout, or at a cluster we did not start
SCRUB = ("VLLM_SERVING_CHART", "VLLM_SERVING_CLUSTER_SRC", "PYTHONPATH", "KUBECONFIG", "VIRTUAL_ENV")


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wheel-venv")
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True)
    pip = subprocess.run(
        # --no-compile: byte-compiling the Kubernetes client's thousands of modules is most of the install
        [str(root / "venv" / "bin" / "pip"), "install", "--quiet", "--no-compile", str(wheel)],
        env=env_of(root / "venv"),
        capture_output=True,
        text=True,
    )
    assert pip.returncode == 0, pip.stderr[-3000:]
    return root / "venv"


def env_of(venv: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUB}
    env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH", "")])
    return env


def run(venv: Path, cwd: Path, *argv: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "vllm-serving"), *argv], cwd=cwd, env=env_of(venv), capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def test_commands_run_from_the_installed_wheel(venv, tmp_path):
    work = tmp_path / "elsewhere"
    work.mkdir()
    values = shutil.copy(L4, work / "gemma.yaml")
    site = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import vllm_serving.chart as c; print(c.chart_dir())"],
        cwd=work,
        env=env_of(venv),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert site.startswith(str(venv)) and site.endswith("vllm_serving/_bundled/charts/vllm-serving"), site

    validate = run(venv, work, "validate", str(values))
    assert validate.returncode == 0, validate.stderr
    render = run(venv, work, "render", str(values), "--show-only", "templates/deployment.yaml")
    assert render.returncode == 0, render.stderr
    assert "kind: Deployment" in render.stdout and "cloud.google.com/gke-accelerator: nvidia-l4" in render.stdout
    size = run(venv, work, "size", "google/gemma-2-9b-it", "--accelerator", "nvidia-l4")
    assert size.returncode == 0, size.stderr

    # a core install has no Google Cloud clients: bake says which extra to install
    bake = run(venv, work, "bake", "image-cache", "--project", "p", "--zone", "us-central1-a")
    assert (bake.returncode, bake.stderr) == (
        3,
        "error: vllm-serving bake needs the package's [gcp] extra (google-cloud-compute, google-cloud-container),"
        " which is not installed: pip install 'vllm-serving[gcp]'\n",
    )

    name = f"wheel-{uuid.uuid4().hex[:6]}"
    try:
        up = run(venv, work, "cluster", "up", "--name", name)
        assert up.returncode == 0, up.stderr[-3000:]
        install = run(venv, work, "up", str(values), "--cluster-name", name, "--namespace", "wheel")
        assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
        assert f"local cluster '{name}' is running" in install.stdout
        assert "release gemma revision 1 installed in wheel" in install.stdout
    finally:
        down = run(venv, work, "cluster", "down", "--name", name)
        shutil.rmtree(default_state_dir(name), ignore_errors=True)
    assert down.returncode == 0, down.stderr
