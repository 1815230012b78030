"""The Dataflow worker image's Dockerfile (no Docker here: it is read, not built) and what it relies on.

Its contract (https://cloud.google.com/dataflow/docs/guides/build-container-image): derived from the
chart's vLLM image, the launcher's Beam version, Beam's boot copied from the SDK image of the same
version and Python, boot as the entrypoint. Beam's dependencies come from worker-requirements.txt, resolved with
vLLM; Beam and the package go in with --no-deps, so the modules a worker unpickles must import with
nothing but the standard library and Beam (and what Beam depends on). test_dataflow_worker.py runs the
pipeline on a worker built from the same lines.
"""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import version

import yaml

from paths import CHART, REPO
from pipeline import worker_venv
from vllm_serving.pipeline import dataflow

DOCKERFILE = (REPO / "scripts" / "vllm_serving" / "pipeline" / "worker.Dockerfile").read_text()


def build_arg(name: str) -> str:
    match = re.search(rf"^ARG {name}=(\S+)$", DOCKERFILE, re.M)
    assert match, f"no ARG {name}= default"
    return match.group(1)


def test_it_derives_from_the_charts_vllm_image():
    image = yaml.safe_load((CHART / "values.yaml").read_text())["image"]
    assert build_arg("VLLM_IMAGE") == f"{image['repository']}:{image['tag']}"
    assert re.search(r"^FROM \$\{VLLM_IMAGE\}$", DOCKERFILE, re.M)


def test_one_beam_pin_for_the_extras_the_image_and_the_launcher():
    """Custom containers must carry the launcher's Beam (boot.go; Dataflow's custom-container guide): the
    extras pin exactly the image's BEAM_VERSION, and `pipeline run` refuses another launcher version."""
    image = build_arg("BEAM_VERSION")
    pyproject = (REPO / "pyproject.toml").read_text()
    assert re.findall(r'"apache-beam(?:\[gcp\])?==([^"]+)"', pyproject) == [image, image]
    assert version("apache-beam") == image == dataflow.worker_beam_version()
    assert dataflow.launcher_beam_problem() is None


def test_beam_goes_in_without_its_deps_after_the_resolved_requirement_lines():
    """pip resolves worker-requirements.txt together with the image's vLLM (so nothing vLLM needs is
    downgraded), then Beam goes in with --no-deps: `pip install apache-beam[gcp]` would have downgraded
    pillow under vLLM (Beam 2.77.0: pillow<13; vLLM 0.33.0: pillow>=13.0.0) with only a warning."""
    runs = re.findall(r"^RUN python3 -m pip install (.+)$", DOCKERFILE, re.M)
    assert runs[:2] == [
        "--no-cache-dir -r /src/worker-requirements.txt",
        '--no-cache-dir --no-deps "apache-beam==${BEAM_VERSION}"',
    ]
    assert "COPY scripts/vllm_serving/pipeline/worker-requirements.txt /src/worker-requirements.txt" in DOCKERFILE
    assert "apache-beam[gcp]" not in "".join(runs)


def test_the_requirement_lines_are_beams_own_less_pillow():
    """worker-requirements.txt is vllm==<the image's> plus apache-beam's Requires-Dist (core and [gcp]) at the
    pinned version, read from its installed metadata, with pillow the only one left out."""
    from importlib.metadata import metadata

    from packaging.requirements import Requirement

    image_vllm = build_arg("VLLM_IMAGE").rsplit(":v", 1)[1]
    beam = []
    for text in metadata("apache-beam").get_all("Requires-Dist"):
        if "extra ==" not in text or 'extra == "gcp"' in text:
            beam.append(str(Requirement(text.replace(' and extra == "gcp"', "").replace('; extra == "gcp"', ""))))
    lines = [str(r) for r in worker_venv.requirement_lines()]
    assert lines[0] == f"vllm=={image_vllm}"
    assert [r for r in beam if r not in lines] == ["pillow<13,>=12.1.1"]
    assert sorted(lines[1:]) == sorted(r for r in beam if not r.startswith("pillow"))


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
