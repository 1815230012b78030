"""templates/job.yaml: batch inference with `vllm run-batch` as an Indexed Job."""

from __future__ import annotations

import os
import subprocess

import pytest

from support.manifests import of_kind, one, render
from vllm_serving.errors import InvalidValues

BATCH = {"batch": {"enabled": True, "bucket": "my-batch", "directory": "2026-11-21", "shards": 4, "parallelism": 2}}


def job(values: dict) -> dict:
    return one(render(values), "Job")


def vllm(job_object: dict) -> dict:
    return job_object["spec"]["template"]["spec"]["containers"][0]


class TestBatchJob:
    def test_a_batch_release_is_a_job_and_nothing_that_serves(self):
        objects = render(BATCH)
        assert {o["kind"] for o in objects} == {"ServiceAccount", "Job"}
        serving = render({})
        assert [j["metadata"]["name"] for j in of_kind(serving, "Job")] == ["vllm-vllm-serving-test"]  # the test hook

    def test_indexed_job_over_shards(self):
        spec = job(BATCH)["spec"]
        assert spec["completionMode"] == "Indexed"
        assert (spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (4, 2, 2)
        assert "activeDeadlineSeconds" not in spec
        assert spec["template"]["spec"]["restartPolicy"] == "Never"

    def test_finished_job_is_kept_unless_a_ttl_is_set(self):
        """Argo CD with self-heal re-creates a Job the TTL controller deleted, and the batch runs again
        (https://github.com/argoproj/argo-cd/issues/8586): the default keeps it."""
        assert "ttlSecondsAfterFinished" not in job(BATCH)["spec"]
        with_ttl = {"batch": {**BATCH["batch"], "ttlSecondsAfterFinished": 3600}}
        assert job(with_ttl)["spec"]["ttlSecondsAfterFinished"] == 3600
        zero = {"batch": {**BATCH["batch"], "ttlSecondsAfterFinished": 0}}
        assert job(zero)["spec"]["ttlSecondsAfterFinished"] == 0

    def test_runs_vllm_run_batch_with_the_same_gpus_and_model(self):
        values = {**BATCH, "parallelism": {"tensor": 2}, "model": {"servedName": "gemma"}}
        container = vllm(job(values))
        assert container["command"][-1] == "run-batch"
        assert 'exec vllm run-batch -i "$in" -o "$out" "$@"' in container["command"][2]
        args = container["args"]
        assert args[:2] == ["--model", "Qwen/Qwen2.5-1.5B-Instruct"]
        assert args[args.index("--tensor-parallel-size") + 1] == "2"
        assert "--port" not in args
        assert container["resources"]["limits"]["nvidia.com/gpu"] == 2
        assert "startupProbe" not in container and "ports" not in container

    def test_reads_and_writes_through_a_read_write_gcsfuse_bucket(self):
        template = job(BATCH)["spec"]["template"]
        volume = next(v for v in template["spec"]["volumes"] if v["name"] == "batch")
        assert volume["csi"]["driver"] == "gcsfuse.csi.storage.gke.io"
        assert "readOnly" not in volume["csi"]
        assert volume["csi"]["volumeAttributes"] == {
            "bucketName": "my-batch",
            "mountOptions": "implicit-dirs,only-dir=2026-11-21",
        }
        assert template["metadata"]["annotations"]["gke-gcsfuse/volumes"] == "true"
        assert {"name": "batch", "mountPath": "/batch"} in vllm(job(BATCH))["volumeMounts"]

    def test_or_a_claim_with_the_directory_as_sub_path(self):
        values = {"batch": {"enabled": True, "existingClaim": "files", "directory": "jobs"}}
        template = job(values)["spec"]["template"]
        assert {"name": "batch", "persistentVolumeClaim": {"claimName": "files"}} in template["spec"]["volumes"]
        assert {"name": "batch", "mountPath": "/batch", "subPath": "jobs"} in vllm(job(values))["volumeMounts"]
        assert "gke-gcsfuse/volumes" not in template["metadata"]["annotations"]

    def test_same_weight_sources_as_serving(self):
        disk = "projects/my-project/zones/us-central1-a/disks/w"
        values = {**BATCH, "weights": {"source": "persistentDisk", "persistentDisk": {"disks": [disk]}}}
        objects = render(values)
        claim = one(objects, "PersistentVolumeClaim")["metadata"]["name"]
        volumes = one(objects, "Job")["spec"]["template"]["spec"]["volumes"]
        assert {"name": "weights", "persistentVolumeClaim": {"claimName": claim, "readOnly": True}} in volumes
        assert vllm(one(objects, "Job"))["args"][:2] == ["--model", "/models"]

    def test_name_follows_the_values_so_a_change_makes_a_new_job(self):
        first, again = job(BATCH)["metadata"]["name"], job(BATCH)["metadata"]["name"]
        changed = job({"batch": {**BATCH["batch"], "shards": 8}})["metadata"]["name"]
        assert first == again
        assert first != changed
        assert first.startswith("vllm-vllm-serving-batch-")

    def test_shard_script_picks_its_files(self, tmp_path):
        """The Job's own script, run with a stand-in `vllm` that prints its arguments."""
        stub = tmp_path / "vllm"
        stub.write_text('#!/bin/sh\necho "$@"\n')
        stub.chmod(0o755)
        script = vllm(job(BATCH))["command"][2]
        env = {
            "PATH": f"{tmp_path}:/usr/bin:/bin",
            "BATCH_DIR": "/batch",
            "BATCH_INPUT": "requests.jsonl",
            "BATCH_OUTPUT": "results.jsonl",
        }
        sharded = subprocess.run(
            ["sh", "-c", script, "run-batch", "--model", "m"],
            env={**env, "BATCH_SHARDS": "4", "JOB_COMPLETION_INDEX": "3"},
            capture_output=True,
            text=True,
            check=True,
        )
        assert (
            sharded.stdout.splitlines()[-1]
            == "run-batch -i /batch/requests-3.jsonl -o /batch/results-3.jsonl --model m"
        )
        single = subprocess.run(
            ["sh", "-c", script, "run-batch"],
            env={**env, "BATCH_SHARDS": "1", "JOB_COMPLETION_INDEX": "0"},
            capture_output=True,
            text=True,
            check=True,
        )
        assert single.stdout.splitlines()[-1] == "run-batch -i /batch/requests.jsonl -o /batch/results.jsonl"
        assert os.access(stub, os.X_OK)


class TestFlexStart:
    """batch.provisioning: flexStart selects the label GKE gives flex-start nodes.
    https://cloud.google.com/kubernetes-engine/docs/concepts/dws"""

    def test_selects_flex_start_nodes(self):
        spec = job({**BATCH, "batch": {**BATCH["batch"], "provisioning": "flexStart"}})["spec"]["template"]["spec"]
        assert spec["nodeSelector"] == {
            "cloud.google.com/gke-accelerator": "nvidia-l4",
            "cloud.google.com/gke-flex-start": "true",
        }
        assert [t["key"] for t in spec["tolerations"]] == ["nvidia.com/gpu"]

    def test_on_demand_by_default(self):
        assert "cloud.google.com/gke-flex-start" not in job(BATCH)["spec"]["template"]["spec"]["nodeSelector"]

    @pytest.mark.parametrize(
        ("values", "message"),
        [
            (
                {"batch": {"provisioning": "flexStart"}},
                "batch.provisioning: flexStart provisions the batch Job's nodes; set batch.enabled, or for serving"
                " add a flexStart priority to gke.computeClass",
            ),
            (
                {**BATCH, "batch": {**BATCH["batch"], "provisioning": "queuedProvisioning"}, "gke": {"spot": True}},
                "gke.spot: flex-start capacity (batch.provisioning: queuedProvisioning) is not Spot; remove gke.spot,"
                " or set batch.provisioning: onDemand",
            ),
            (
                {
                    **BATCH,
                    "batch": {**BATCH["batch"], "provisioning": "flexStart"},
                    "gke": {"computeClass": {"name": "gpus"}},
                },
                "batch.provisioning: flexStart together with gke.computeClass; the class decides how nodes are"
                " provisioned: add a flexStart priority to it, or set batch.provisioning: onDemand",
            ),
        ],
        ids=["serving", "spot", "compute-class"],
    )
    def test_bad_mixes_are_refused(self, values, message):
        with pytest.raises(InvalidValues) as err:
            render(values)
        assert message in err.value.problems
