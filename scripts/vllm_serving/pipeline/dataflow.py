"""Dataflow submission for `--vllm-in-worker`: GPU workers, the worker image, the options Beam reads.

No Beam import: this only turns the command line into Beam's own pipeline options (as flags), so
`--dry-run` can print them and the tests can hand them to Beam's real PipelineOptions parser.

Sources (read at the pinned Beam 2.77.0 and the docs named):

- GPUs: ``--dataflow_service_options=worker_accelerator=type:TYPE;count:N;install-nvidia-driver`` and
  ``--machine_type`` (https://cloud.google.com/dataflow/docs/gpu/use-gpus,
  https://cloud.google.com/dataflow/docs/gpu/use-l4-gpus: L4 only on G2 machines).
- Custom container: ``--sdk_container_image`` on Runner v2, the image's Python minor version and
  Beam version equal to the launcher's (https://cloud.google.com/dataflow/docs/guides/run-custom-container).
- Boot disk: Dataflow's default is 25 GB for batch jobs (Dataflow Shuffle) and 30 GB with Streaming
  Engine, "part of" which the OS, binaries, logs and containers take
  (https://cloud.google.com/dataflow/docs/shuffle-for-batch, "Disk size considerations"). The vLLM image
  alone is 28.6 GB unpacked (vllm-project/vllm PR #22377) and about 12 GB compressed (#27154), and vLLM
  downloads the weights to the same disk, so ``--disk_size_gb`` comes from both (``disk_size_gb``).
- Driver: ``install-nvidia-driver`` takes Dataflow's default driver; Beam's vLLM example asks T4 workers
  for ``install-nvidia-driver:5xx`` ("vLLM only works with 5xx drivers", apache/beam
  sdks/python/apache_beam/examples/inference/README.md); Dataflow's L4 page gives L4 a 525+ driver.
- What workers unpickle: the graph references ``vllm_serving`` (transforms, handlers, the client). The
  worker image installs it; without an image, ``--setup_file`` makes Beam build this package's sdist
  at submission and every worker pip-installs it
  (https://beam.apache.org/documentation/sdks/python-pipeline-dependencies, "Multiple file dependencies").
- No ``--experiments=no_use_multiple_sdk_containers``: Beam's vLLM handler already runs one vLLM server
  per worker VM and shares it across the VM's SDK processes (``share_model_across_processes``), and that
  option would leave one Python process per VM (https://cloud.google.com/dataflow/docs/gpu/use-nvidia-mps,
  "Support and limitations").
"""

from __future__ import annotations

import math
import re
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from vllm_serving.errors import UsageError

# Machine types with N GPUs attached, per accelerator: G2/A2/A3 machines come with a fixed GPU count
# (https://cloud.google.com/compute/docs/gpus). N1 machines take T4s in any count of 1, 2 or 4.
MACHINES: dict[str, dict[int, str]] = {
    "nvidia-l4": {1: "g2-standard-8", 2: "g2-standard-24", 4: "g2-standard-48", 8: "g2-standard-96"},
    "nvidia-tesla-t4": {1: "n1-standard-8", 2: "n1-standard-16", 4: "n1-standard-32"},
    "nvidia-tesla-a100": {1: "a2-highgpu-1g", 2: "a2-highgpu-2g", 4: "a2-highgpu-4g", 8: "a2-highgpu-8g"},
    "nvidia-a100-80gb": {1: "a2-ultragpu-1g", 2: "a2-ultragpu-2g", 4: "a2-ultragpu-4g", 8: "a2-ultragpu-8g"},
    "nvidia-h100-80gb": {1: "a3-highgpu-1g", 2: "a3-highgpu-2g", 4: "a3-highgpu-4g", 8: "a3-highgpu-8g"},
}
# The machine family an accelerator needs: a --machine-type outside it cannot get that GPU.
_FAMILY = {"nvidia-l4": "g2-", "nvidia-tesla-t4": "n1-", "nvidia-tesla-a100": "a2-highgpu-"}
_FAMILY |= {"nvidia-a100-80gb": "a2-ultragpu-", "nvidia-h100-80gb": "a3-highgpu-"}


# The driver option per accelerator (module docstring); the rest take Dataflow's default.
_DRIVER = {"nvidia-tesla-t4": "install-nvidia-driver:5xx"}

# Boot disk arithmetic (module docstring): the image as the node keeps it (its compressed layers beside
# the unpacked ones, plus Beam's layers), the OS and logs, the weights, and a margin.
IMAGE_GB = 28.6 + 12 + 1
SYSTEM_GB = 10
DISK_MARGIN = 1.2


def disk_size_gb(weight_bytes: float = 0.0) -> int:
    """The worker boot disk that holds the worker image and ``weight_bytes`` of downloaded weights,
    rounded up to 10 GB."""
    need = (IMAGE_GB + SYSTEM_GB + weight_bytes / 1e9) * DISK_MARGIN
    return int(math.ceil(need / 10) * 10)


@dataclass(frozen=True)
class GpuWorkers:
    accelerator: str = "nvidia-l4"
    count: int = 1
    machine_type: str | None = None
    image: str = ""

    @property
    def driver(self) -> str:
        return _DRIVER.get(self.accelerator, "install-nvidia-driver")

    def machine(self) -> str:
        known = MACHINES.get(self.accelerator)
        if known is None:
            raise UsageError(
                f"--accelerator: {self.accelerator!r} is not a Dataflow GPU this command knows; "
                f"use one of {', '.join(MACHINES)}"
            )
        if self.machine_type:
            family = _FAMILY[self.accelerator]
            if not self.machine_type.startswith(family):
                raise UsageError(
                    f"--machine-type: {self.machine_type} cannot carry {self.accelerator} GPUs; "
                    f"use a {family}* machine type such as {known[min(known)]}"
                )
            return self.machine_type
        if self.count not in known:
            counts = ", ".join(str(c) for c in known)
            raise UsageError(f"--gpus-per-worker: {self.accelerator} comes {counts} per machine, not {self.count}")
        return known[self.count]

    def service_option(self) -> str:
        return f"worker_accelerator=type:{self.accelerator};count:{self.count};{self.driver}"


def beam_flags(gpu: GpuWorkers) -> list[str]:
    """The Beam pipeline options (flag form) that put the pipeline's workers on GPUs in the worker image
    (``gpu.image`` is required: `pipeline run` checks it with the other command-line problems)."""
    return [
        f"--machine_type={gpu.machine()}",
        f"--dataflow_service_options={gpu.service_option()}",
        *image_flags(gpu.image),
    ]


def image_flags(image: str) -> list[str]:
    """Workers in the worker image (custom containers need Runner v2)."""
    return [f"--sdk_container_image={image}", "--experiments=use_runner_v2"]


def source_setup_file() -> Path | None:
    """This package's setup.py when it runs from a source checkout (``pip install -e .``), else None."""
    setup = Path(__file__).resolve().parents[3] / "setup.py"
    return setup if setup.is_file() and (setup.parent / "scripts" / "vllm_serving").is_dir() else None


def merge(given: Sequence[str], derived: Sequence[str]) -> list[str]:
    """``given`` plus each derived flag the user did not set: a Beam option given by hand wins, and the
    printed submission command, parsed again, yields the same options once."""
    names = {flag.split("=", 1)[0] for flag in given}
    merged = list(given)
    for flag in derived:
        repeatable = flag.startswith("--experiments=")
        if flag in merged or (not repeatable and flag.split("=", 1)[0] in names):
            continue
        merged.append(flag)
    return merged


def submission_command(argv: Sequence[str]) -> str:
    """The shell command that submits the pipeline (what --dry-run prints); argv starts with `run`."""
    return shlex.join(["vllm-serving", "pipeline", *argv])


def python_version_note(image_python: str) -> str | None:
    """Dataflow needs the launcher's Python minor version in the worker image; say so when they differ."""
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if here == image_python:
        return None
    return (
        f"note: this launcher runs Python {here}, the worker image Python {image_python}; Dataflow needs the "
        f"same minor version: submit from a Python {image_python} environment"
    )


def worker_beam_version() -> str:
    """The Beam version worker.Dockerfile installs (its BEAM_VERSION; the [pipeline] extra pins the same)."""
    dockerfile = (Path(__file__).with_name("worker.Dockerfile")).read_text()
    match = re.search(r"^ARG BEAM_VERSION=(\S+)$", dockerfile, re.M)
    assert match, "worker.Dockerfile has no ARG BEAM_VERSION="
    return match.group(1)


def launcher_beam_problem() -> str | None:
    """A custom container must carry the launcher's Beam version (Beam's sdks/python/container/boot.go;
    https://cloud.google.com/dataflow/docs/guides/build-container-image): say so when they differ."""
    try:
        here = version("apache-beam")
    except PackageNotFoundError:  # --dry-run without the extra: `pipeline run` asks for it before submitting
        return None
    image = worker_beam_version()
    if here == image:
        return None
    return (
        f"--worker-image: the worker image carries apache-beam {image} (worker.Dockerfile) but this launcher has "
        f"{here}; Dataflow needs the same version: pip install 'vllm-serving[dataflow]' (it pins {image})"
    )
