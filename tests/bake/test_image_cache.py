"""`vllm-serving bake image-cache` against the fake Compute Engine."""

from __future__ import annotations

import json
import os
import signal

import yaml

from vllm_serving.bake import build_vm
from vllm_serving.bake.baker import CONTENT_LABEL, KIND_LABEL, RUN_LABEL
from vllm_serving.commands import bake as bake_command

PROJECT = "test-project"  # as in conftest.Harness
ZONE = "us-central1-a"

BASE_ARGS = ["--project", PROJECT, "--zone", ZONE]


def bake(gcp, *extra: str):
    return gcp.run(bake_command.image_cache, [*BASE_ARGS, "--chart", str(gcp.chart_dir), *extra])


def only_image(gcp) -> dict:
    images = list(gcp.fake.compute.images.values())
    assert len(images) == 1, images
    return images[0]


class TestHappyPath:
    def test_creates_the_image_and_leaves_nothing_else(self, gcp):
        result = bake(gcp, "vllm/vllm-openai:v0.33.0", "--image-name", "vllm-cache")
        assert result.code == 0, result.err
        image = only_image(gcp)
        assert image["name"] == "vllm-cache"
        assert image["labels"][KIND_LABEL] == "image-cache"
        assert RUN_LABEL not in image["labels"]
        assert gcp.everything() == ["image vllm-cache"]

    def test_steps_run_in_order(self, gcp):
        assert bake(gcp, "--image-name", "vllm-cache").code == 0
        assert gcp.mutations() == [
            "compute.disks.insert",  # scratch disk
            "compute.instances.insert",  # build VM
            "compute.instances.detachDisk",
            "compute.instances.delete",
            "compute.images.insert",
            "compute.disks.delete",  # scratch disk
        ]

    def test_default_image_is_the_charts(self, gcp):
        assert bake(gcp).code == 0
        vm = next(c.body for c in gcp.fake.calls if c.name == "compute.instances.insert")
        assert gcp.script_args(vm)[-1] == "docker.io/vllm/vllm-openai:v0.33.0"
        assert only_image(gcp)["name"].startswith("vllm-image-cache-")

    def test_build_vm_gets_the_script_the_disk_and_labels(self, gcp):
        assert bake(gcp, "nvcr.io/nvidia/tritonserver:24.01-py3", "vllm/vllm-openai:v0.33.0").code == 0
        vm = next(c.body for c in gcp.fake.calls if c.name == "compute.instances.insert")
        items = {i["key"]: i["value"] for i in vm["metadata"]["items"]}
        assert items["startup-script"] == build_vm.script_text()
        args = gcp.script_args(vm)
        assert args[0] == "image-cache"
        assert args[-2:] == ["nvcr.io/nvidia/tritonserver:24.01-py3", "docker.io/vllm/vllm-openai:v0.33.0"]
        data = [d for d in vm["disks"] if not d.get("boot")]
        assert data[0]["deviceName"] == build_vm.DEVICE_NAME
        assert data[0]["autoDelete"] is False
        assert RUN_LABEL in vm["labels"]
        assert vm["serviceAccounts"][0]["scopes"] == ["https://www.googleapis.com/auth/cloud-platform"]

    def test_prints_the_node_pool_flags_and_values(self, gcp):
        result = bake(gcp, "--image-name", "vllm-cache")
        image = f"projects/{PROJECT}/global/images/vllm-cache"
        flag = f"--secondary-boot-disk=disk-image={image},mode=CONTAINER_IMAGE_CACHE"
        assert flag in result.out
        assert "--enable-image-streaming" in result.out
        values = yaml.safe_load(result.out.split("Chart values:\n", 1)[1])
        assert values == {
            "gke": {"nodePool": "NODE_POOL", "secondaryBootDisk": {"enabled": True}, "imageStreaming": True}
        }

    def test_json_output(self, gcp):
        result = bake(gcp, "--image-name", "vllm-cache", "--output", "json")
        document = json.loads(result.out)
        assert document["version"] == "1"
        assert document["image"] == f"projects/{PROJECT}/global/images/vllm-cache"
        assert document["created"] is True
        assert document["images"] == ["docker.io/vllm/vllm-openai:v0.33.0"]
        assert document["nodePoolFlags"][1] == "--enable-image-streaming"
        assert "[1]" in result.err  # progress stays on stderr

    def test_progress_is_step_by_step(self, gcp):
        result = bake(gcp, "--image-name", "vllm-cache")
        assert "] Creating scratch disk vllm-bake-" in result.err
        assert "] Running the startup script (up to 1h)" in result.err
        assert "pulling images" in result.err  # the script's STEP lines surface as progress
        assert "    ok (" in result.err

    def test_slow_operations_are_polled(self, gcp):
        gcp.fake.compute.op_polls = 3
        assert bake(gcp, "--image-name", "vllm-cache").code == 0
        assert "compute.zoneOperations.get" in gcp.fake.call_names()
        assert "compute.globalOperations.get" in gcp.fake.call_names()
        assert gcp.everything() == ["image vllm-cache"]

    def test_labels_and_family(self, gcp):
        assert bake(gcp, "--image-name", "vllm-cache", "--family", "vllm-caches", "--label", "team=ml").code == 0
        image = only_image(gcp)
        assert image["family"] == "vllm-caches"
        assert image["labels"]["team"] == "ml"

    def test_verify_boots_a_vm_on_the_image(self, gcp):
        result = bake(gcp, "--image-name", "vllm-cache", "--verify")
        assert result.code == 0, result.err
        vms = [c.body for c in gcp.fake.calls if c.name == "compute.instances.insert"]
        assert gcp.script_args(vms[1])[0] == "verify"
        assert [d["mode"] for d in vms[1]["disks"] if not d.get("boot")] == ["READ_ONLY"]
        disk = [c for c in gcp.fake.calls if c.name == "compute.disks.insert"][1]
        assert disk.body["sourceImage"].endswith("/global/images/vllm-cache")
        assert gcp.everything() == ["image vllm-cache"]


class TestIdempotency:
    def test_rerun_reuses_the_image(self, gcp):
        assert bake(gcp, "--image-name", "vllm-cache").code == 0
        first = len(gcp.fake.calls)
        again = bake(gcp, "--image-name", "vllm-cache", "--output", "json")
        assert again.code == 0
        assert json.loads(again.out)["created"] is False
        assert [c.name for c in gcp.fake.calls[first:]] == ["compute.images.get"]

    def test_same_images_in_another_order_are_the_same_content(self, gcp):
        assert bake(gcp, "--image-name", "c", "a/b:1", "c/d:2").code == 0
        again = bake(gcp, "--image-name", "c", "c/d:2", "a/b:1", "--output", "json")
        assert json.loads(again.out)["created"] is False

    def test_force_rebuilds(self, gcp):
        assert bake(gcp, "--image-name", "vllm-cache").code == 0
        old_id = only_image(gcp)["id"]
        assert bake(gcp, "--image-name", "vllm-cache", "--force").code == 0
        assert only_image(gcp)["id"] != old_id
        assert gcp.temporaries() == []

    def test_other_content_under_the_same_name_is_a_conflict(self, gcp):
        assert bake(gcp, "--image-name", "vllm-cache", "a/b:1").code == 0
        first = len(gcp.fake.calls)
        result = bake(gcp, "--image-name", "vllm-cache", "a/b:2")
        assert result.code == 2
        assert "image vllm-cache already exists with other content" in result.err
        assert "--force" in result.err
        assert [c.name for c in gcp.fake.calls[first:]] == ["compute.images.get"]

    def test_rerun_removes_leftovers_of_a_crashed_run(self, gcp):
        # A run that crashed (kill -9) after creating its disk and VM: simulate it with a failure
        # of clean-up itself, then look at what a new run does.
        gcp.fake.fail("compute.instances.delete", status=403, times=-1)
        gcp.fake.fail("compute.disks.delete", status=403, times=-1)
        gcp.console("silent")
        crashed = bake(gcp, "--image-name", "vllm-cache", "--timeout", "1m")
        assert crashed.code == 5
        assert len(gcp.temporaries()) == 3  # VM, its boot disk, the scratch disk
        gcp.fake.clear_failures()
        gcp.console("success")
        result = bake(gcp, "--image-name", "vllm-cache")
        assert result.code == 0, result.err
        assert "leftover resource(s) of earlier runs" in result.err
        assert gcp.temporaries() == []
        assert gcp.everything() == ["image vllm-cache"]

    def test_leftovers_of_other_content_are_left_alone(self, gcp):
        gcp.fake.fail("compute.instances.delete", status=403, times=-1)
        gcp.fake.fail("compute.disks.delete", status=403, times=-1)
        gcp.console("silent")
        assert bake(gcp, "--image-name", "other", "x/y:1", "--timeout", "1m").code == 5
        gcp.fake.clear_failures()
        gcp.console("success")
        assert bake(gcp, "--image-name", "vllm-cache").code == 0
        assert len(gcp.temporaries()) == 3


class TestSerialConsole:
    def test_failure_marker_fails_and_cleans_up(self, gcp):
        gcp.console("failure", reason="cannot pull docker.io/vllm/vllm-openai:v0.33.0")
        result = bake(gcp, "--image-name", "vllm-cache")
        assert result.code == 5
        assert "failed: cannot pull docker.io/vllm/vllm-openai:v0.33.0" in result.err
        assert "last lines of its serial console" in result.err
        assert gcp.everything() == []

    def test_guest_agent_failure_counts(self, gcp):
        gcp.console("agent-failure")
        result = bake(gcp, "--image-name", "vllm-cache")
        assert result.code == 5
        assert "the startup script failed (step: pulling images)" in result.err
        assert gcp.everything() == []

    def test_timeout(self, gcp):
        gcp.console("silent")
        start = gcp.clock.now()
        result = bake(gcp, "--image-name", "vllm-cache", "--timeout", "20m")
        assert result.code == 5
        assert "reported no result within 20m" in result.err
        assert "--timeout" in result.err
        assert gcp.everything() == []
        assert 20 * 60 <= gcp.clock.now() - start < 21 * 60

    def test_markers_of_another_run_are_ignored(self, gcp):
        gcp.console("other-run")
        result = bake(gcp, "--image-name", "vllm-cache", "--timeout", "5m")
        assert result.code == 5
        assert "reported no result" in result.err

    def test_marker_split_across_reads(self, gcp):
        gcp.console("split")
        assert bake(gcp, "--image-name", "vllm-cache").code == 0

    def test_serial_reads_continue_from_the_last_offset(self, gcp):
        assert bake(gcp, "--image-name", "vllm-cache").code == 0
        starts = [
            int(c.query.get("start", 0)) for c in gcp.fake.calls if c.name == "compute.instances.getSerialPortOutput"
        ]
        assert starts[0] == 0
        assert starts == sorted(starts) and starts[-1] > 0


class TestInterrupt:
    def test_ctrl_c_while_waiting_cleans_up(self, gcp):
        gcp.console("silent")

        def interrupt(sleeps: int) -> None:
            if sleeps == 3:
                raise KeyboardInterrupt

        gcp.clock.on_sleep = interrupt
        result = bake(gcp, "--image-name", "vllm-cache")
        gcp.clock.on_sleep = None
        assert result.code == 130
        assert "interrupted: removing its temporary resources" in result.err
        assert gcp.everything() == []

    def test_sigterm_cleans_up_too(self, gcp):
        gcp.console("silent")
        before = signal.getsignal(signal.SIGTERM)

        def terminate(sleeps: int) -> None:
            if sleeps == 2:
                os.kill(os.getpid(), signal.SIGTERM)

        gcp.clock.on_sleep = terminate
        result = bake(gcp, "--image-name", "vllm-cache")
        gcp.clock.on_sleep = None
        assert result.code == 130
        assert gcp.everything() == []
        assert signal.getsignal(signal.SIGTERM) == before


class TestTransientErrors:
    def test_a_503_is_retried_without_creating_twice(self, gcp):
        gcp.fake.fail("compute.instances.insert", status=503)
        assert bake(gcp, "--image-name", "vllm-cache").code == 0
        inserts = [c for c in gcp.fake.calls if c.name == "compute.instances.insert"]
        assert len(inserts) == 2
        assert inserts[0].query["requestId"] == inserts[1].query["requestId"]
        assert gcp.everything() == ["image vllm-cache"]

    def test_operation_poll_errors_are_retried(self, gcp):
        gcp.fake.compute.op_polls = 2
        gcp.fake.fail("compute.zoneOperations.get", status=503, times=2)
        assert bake(gcp, "--image-name", "vllm-cache").code == 0


def test_content_label_is_a_hash_of_the_images(gcp):
    assert bake(gcp, "--image-name", "a", "x/y:1").code == 0
    assert bake(gcp, "--image-name", "b", "x/y:2").code == 0
    labels = [i["labels"][CONTENT_LABEL] for i in gcp.fake.compute.images.values()]
    assert len(set(labels)) == 2
