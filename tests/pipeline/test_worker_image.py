"""The Dataflow worker image's Dockerfile (no Docker here: it is read, not built) and what it relies on.

Its contract (https://cloud.google.com/dataflow/docs/guides/build-container-image): derived from the
chart's vLLM image, the launcher's Beam version, Beam's boot copied from the SDK image of the same
version and Python, boot as the entrypoint. The package goes in with --no-deps, so the modules a worker
unpickles must import with nothing but the standard library and Beam (and what Beam depends on).
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from importlib.metadata import version

import yaml

from paths import CHART, REPO

DOCKERFILE = (REPO / "scripts" / "vllm_serving" / "pipeline" / "worker.Dockerfile").read_text()


def build_arg(name: str) -> str:
    match = re.search(rf"^ARG {name}=(\S+)$", DOCKERFILE, re.M)
    assert match, f"no ARG {name}= default"
    return match.group(1)


def test_it_derives_from_the_charts_vllm_image():
    image = yaml.safe_load((CHART / "values.yaml").read_text())["image"]
    assert build_arg("VLLM_IMAGE") == f"{image['repository']}:{image['tag']}"
    assert re.search(r"^FROM \$\{VLLM_IMAGE\}$", DOCKERFILE, re.M)


def test_beam_is_the_launchers_version():
    assert build_arg("BEAM_VERSION") == version("apache-beam")
    pin = re.search(r'"apache-beam==([\d.]+)\.\*"', (REPO / "pyproject.toml").read_text())
    assert pin and version("apache-beam").startswith(pin.group(1) + ".")
    assert 'pip install --no-cache-dir "apache-beam[gcp]==${BEAM_VERSION}"' in DOCKERFILE


def test_beams_boot_is_copied_and_is_the_entrypoint():
    assert "FROM apache/beam_python${PYTHON_VERSION}_sdk:${BEAM_VERSION} AS beam" in DOCKERFILE
    assert "COPY --from=beam /opt/apache/beam /opt/apache/beam" in DOCKERFILE
    assert DOCKERFILE.rstrip().splitlines()[-1] == 'ENTRYPOINT ["/opt/apache/beam/boot"]'


def test_the_python_version_is_checked_at_build_time():
    assert build_arg("PYTHON_VERSION") == "3.12"
    check = re.search(r'^RUN python3 -c "(.+)"$', DOCKERFILE, re.M).group(1).replace("${PYTHON_VERSION}", "3.12")
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert (result.returncode == 0) == (here == "3.12")
    if here != "3.12":
        assert f"this vLLM image has Python {here}: build with --build-arg PYTHON_VERSION={here}" in result.stderr


def test_worker_modules_need_nothing_beam_does_not_bring():
    code = textwrap.dedent(
        """
        import sys
        # This package's own dependencies that Beam does not bring: absent from the worker image (--no-deps).
        for name in ("kubernetes", "google.cloud.compute", "google.cloud.container", "jsonschema", "locust"):
            sys.modules[name] = None
        import vllm_serving.pipeline.transforms, vllm_serving.pipeline.run
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
