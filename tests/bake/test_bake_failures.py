"""A failure at any API call of a bake leaks no temporary resource, and a rerun then succeeds.

The calls are those of a recorded successful run (operations take one poll, so polls are
calls too); each case fails one of them, as an HTTP error or, for calls that start an
operation, as an operation that ends in error.
"""

from __future__ import annotations

import io
import json
from collections import Counter

import pytest

from support.clock import FakeClock
from support.console import startup_console
from support.fakegcp import FakeGcp
from vllm_serving.commands import bake as bake_command
from vllm_serving.gcp.clients import Clients
from vllm_serving.gcp.runtime import Runtime

PROJECT, ZONE = "test-project", "us-central1-a"
COMMANDS = {
    "image-cache": (
        bake_command.image_cache,
        ["--project", PROJECT, "--zone", ZONE, "--image-name", "vllm-cache", "--verify", "vllm/vllm-openai:v0.33.0"],
    ),
    "weights-disk": (
        bake_command.weights_disk,
        [
            "--project",
            PROJECT,
            "--zone",
            ZONE,
            "--source",
            "gs://models/gemma",
            "--image-name",
            "gemma",
            "--disk-zone",
            "us-central1-a,us-central1-b",
            "--verify",
        ],
    ),
}
OUTPUTS = {
    "image-cache": ["image vllm-cache"],
    "weights-disk": ["disk us-central1-a/gemma", "disk us-central1-b/gemma", "image gemma"],
}


def _prepare(fake: FakeGcp) -> Runtime:
    fake.compute.op_polls = 1
    fake.compute.serial_source = startup_console("success")
    return Runtime(
        clients=Clients(compute_endpoint=fake.endpoint),
        clock=FakeClock(),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        retry_delay=1.0,
        tty=False,
    )


def _recorded_calls(command: str) -> list[tuple[str, int, bool]]:
    main, argv = COMMANDS[command]
    with FakeGcp() as fake:
        assert main(argv, runtime=_prepare(fake)) == 0
        starts_operation = {r.name for r in fake.router.routes if r.starts_operation}
        seen: Counter[str] = Counter()
        calls = []
        for call in fake.calls:
            calls.append((call.name, seen[call.name], call.name in starts_operation))
            seen[call.name] += 1
    return calls


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "failing_call" not in metafunc.fixturenames:
        return
    cases = []
    for command in COMMANDS:
        for name, nth, starts_operation in _recorded_calls(command):
            cases.append(pytest.param(command, (name, nth, False), id=f"{command}-{name}#{nth}"))
            if starts_operation:
                cases.append(pytest.param(command, (name, nth, True), id=f"{command}-{name}#{nth}-op"))
    metafunc.parametrize(("command", "failing_call"), cases)


def test_failure_leaks_nothing_and_rerun_succeeds(gcp, command, failing_call):
    name, nth, in_operation = failing_call
    main, argv = COMMANDS[command]
    gcp.fake.compute.op_polls = 1
    gcp.fake.fail(name, status=403, message="injected failure", after=nth, in_operation=in_operation)

    result = gcp.run(main, argv)

    assert gcp.temporaries() == []
    assert set(gcp.everything()) <= set(OUTPUTS[command])
    if result.code != 0:  # a failed delete of the happy path is retried by clean-up and may go unnoticed
        assert result.code == 5, result.err
        assert "injected failure" in result.err
    gcp.fake.clear_failures()
    again = gcp.run(main, argv)
    assert again.code == 0, again.err
    assert gcp.temporaries() == []
    assert gcp.everything() == OUTPUTS[command]


class TestCleanupThatFails:
    def test_names_what_is_left_and_the_command_that_removes_it(self, gcp):
        gcp.console("failure")
        gcp.fake.fail("compute.disks.delete", status=403, times=-1)
        result = gcp.run(bake_command.image_cache, COMMANDS["image-cache"][1])
        assert result.code == 5
        assert "clean-up could not delete:" in result.err
        assert "the build VM" in result.err  # the original error comes first
        command = next(line for line in result.err.splitlines() if "vllm-serving bake cleanup" in line)
        run_id = command.split("--run-id ")[1].strip()
        assert gcp.temporaries() == [f"disk vllm-bake-{run_id}-disk"]

        gcp.fake.clear_failures()
        listed = gcp.run(bake_command.cleanup, ["--project", PROJECT, "--run-id", run_id, "--dry-run"])
        assert listed.code == 0
        assert f"Would remove disk vllm-bake-{run_id}-disk in {ZONE}" in listed.out
        assert gcp.temporaries() != []
        removed = gcp.run(bake_command.cleanup, ["--project", PROJECT, "--run-id", run_id])
        assert removed.code == 0, removed.err
        assert gcp.temporaries() == []

    def test_cleanup_needs_a_run_or_all(self, gcp):
        result = gcp.run(bake_command.cleanup, ["--project", PROJECT])
        assert result.code == 2
        assert "one of the arguments --run-id --all is required" in result.err
        assert gcp.fake.calls == []

    def test_cleanup_all_leaves_outputs_alone(self, gcp):
        gcp.fake.fail("compute.instances.delete", status=403, times=-1)
        gcp.console("silent")
        assert gcp.run(bake_command.image_cache, [*COMMANDS["image-cache"][1], "--timeout", "1m"]).code == 5
        gcp.fake.clear_failures()
        gcp.console("success")
        assert gcp.run(bake_command.image_cache, [*COMMANDS["image-cache"][1][:-2], "other/image:1"]).code == 0
        # the first run's VM, its boot disk and the scratch disk (attached to the VM, so not deletable)
        assert len(gcp.temporaries()) == 3
        result = gcp.run(bake_command.cleanup, ["--project", PROJECT, "--all", "--output", "json"])
        assert result.code == 0
        assert json.loads(result.out)["version"] == "1"
        assert gcp.temporaries() == []
        assert gcp.everything() == ["image vllm-cache"]
