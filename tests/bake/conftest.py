"""Fixtures for the bake and nodepool tests: the fake GCP server, a fast clock and a harness to run commands."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.clock import FakeClock
from support.console import script_args, startup_console
from support.fakegcp import FakeGcp
from vllm_serving import cli
from vllm_serving.bake.baker import RUN_LABEL
from vllm_serving.gcp.clients import Clients
from vllm_serving.gcp.runtime import Runtime

PROJECT = "test-project"
ZONE = "us-central1-a"


@dataclass
class Outcome:
    code: int
    out: str
    err: str


class Harness:
    """Runs commands in-process against the fake, the way ``vllm-serving`` does (through ``cli.run``)."""

    project = PROJECT
    zone = ZONE
    script_args = staticmethod(script_args)

    def __init__(self, fake: FakeGcp, clock: FakeClock, chart_dir: Path, capsys: pytest.CaptureFixture[str]):
        self.fake = fake
        self.clock = clock
        self.chart_dir = chart_dir
        self.capsys = capsys
        self.console("success")

    def runtime(self) -> Runtime:
        clients = Clients(compute_endpoint=self.fake.endpoint, container_endpoint=self.fake.endpoint)
        return Runtime(
            clients=clients,
            clock=self.clock,
            stdout=io.StringIO(),
            stderr=io.StringIO(),
            poll_interval=5.0,
            serial_interval=10.0,
            retry_delay=1.0,
            tty=False,
        )

    def run(self, module: Callable, argv: list[str]) -> Outcome:
        runtime = self.runtime()
        self.capsys.readouterr()
        code = cli.run(lambda a: module(a, runtime=runtime), argv)
        captured = self.capsys.readouterr()  # cli.run prints errors on sys.stderr
        return Outcome(code, runtime.stdout.getvalue(), runtime.stderr.getvalue() + captured.err)

    def console(self, behaviour: str, **kwargs) -> None:
        """What the build VMs' consoles print: see support.console.startup_console."""
        self.fake.compute.serial_source = startup_console(behaviour, **kwargs)

    # -- what is left in the fake -----------------------------------------------------------------

    def temporaries(self) -> list[str]:
        """Every resource carrying the run label, i.e. temporary resources that leaked."""
        compute = self.fake.compute
        found = [f"instance {k[2]}" for k, v in compute.instances.items() if RUN_LABEL in v.get("labels", {})]
        found += [f"disk {k[2]}" for k, v in compute.disks.items() if RUN_LABEL in v.get("labels", {})]
        found += [f"image {k[1]}" for k, v in compute.images.items() if RUN_LABEL in v.get("labels", {})]
        return found

    def everything(self) -> list[str]:
        compute = self.fake.compute
        return sorted(
            [f"instance {k[1]}/{k[2]}" for k in compute.instances]
            + [f"disk {k[1]}/{k[2]}" for k in compute.disks]
            + [f"image {k[1]}" for k in compute.images]
        )

    def mutations(self) -> list[str]:
        return [c.name for c in self.fake.calls if c.method != "GET" and not c.name.endswith("Operations.wait")]


@pytest.fixture
def chart_dir(tmp_path: Path) -> Path:
    chart = tmp_path / "chart"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: vllm-serving\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text('image:\n  repository: vllm/vllm-openai\n  tag: "v0.33.0"\n')
    (chart / "rules.yaml").write_text(
        "accelerators:\n"
        "  nvidia-l4: {maxPerNode: 8, largestMachine: g2-standard-96, memoryGiB: 24}\n"
        "  nvidia-h100-80gb: {maxPerNode: 8, largestMachine: a3-highgpu-8g, memoryGiB: 80}\n"
    )
    return chart


@pytest.fixture
def fake() -> Iterator[FakeGcp]:
    with FakeGcp() as server:
        yield server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def gcp(fake: FakeGcp, clock: FakeClock, chart_dir: Path, capsys: pytest.CaptureFixture[str]) -> Harness:
    return Harness(fake, clock, chart_dir, capsys)
