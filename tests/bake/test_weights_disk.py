"""`vllm-serving bake weights-disk` against the fake Compute Engine."""

from __future__ import annotations

import json

import yaml

from vllm_serving.bake.baker import CONTENT_LABEL, KIND_LABEL, RUN_LABEL
from vllm_serving.commands import bake as bake_command

PROJECT, ZONE = "test-project", "us-central1-a"
BASE = ["--project", PROJECT, "--zone", ZONE, "--image-name", "gemma"]


def bake(gcp, *extra: str):
    return gcp.run(bake_command.weights_disk, [*BASE, *extra])


class TestHappyPath:
    def test_image_and_a_disk_per_zone(self, gcp):
        result = bake(
            gcp, "--source", "gs://models/gemma-2-9b", "--disk-zone", "us-central1-a", "--disk-zone", "us-central1-b"
        )
        assert result.code == 0, result.err
        assert gcp.everything() == ["disk us-central1-a/gemma", "disk us-central1-b/gemma", "image gemma"]
        for zone in ("us-central1-a", "us-central1-b"):
            disk = gcp.fake.compute.disks[(PROJECT, zone, "gemma")]
            assert disk["sizeGb"] == "1024"
            assert disk["type"].endswith("/diskTypes/pd-ssd")
            assert disk["sourceImage"].endswith("/global/images/gemma")
            assert disk["labels"][KIND_LABEL] == "weights"
            assert RUN_LABEL not in disk["labels"]

    def test_prints_the_chart_values_with_the_disk_handles(self, gcp):
        result = bake(gcp, "--source", "gs://models/gemma-2-9b", "--disk-zone", "us-central1-a,us-central1-b")
        values = yaml.safe_load(result.out.split("Chart values:\n", 1)[1])
        assert values == {
            "weights": {
                "source": "persistentDisk",
                "persistentDisk": {
                    "disks": [
                        f"projects/{PROJECT}/zones/us-central1-a/disks/gemma",
                        f"projects/{PROJECT}/zones/us-central1-b/disks/gemma",
                    ],
                    "readAheadKb": 4096,
                },
            }
        }

    def test_disk_zone_defaults_to_the_build_zone(self, gcp):
        result = bake(gcp, "--source", "gs://models/gemma", "--output", "json")
        document = json.loads(result.out)
        assert document["version"] == "1" and document["disks"] == [f"projects/{PROJECT}/zones/{ZONE}/disks/gemma"]

    def test_script_gets_the_source(self, gcp):
        assert (
            bake(gcp, "--source", "google/gemma-2-9b-it", "--revision", "abc123", "--hf-token-secret", "hf-token").code
            == 0
        )
        vm = next(c.body for c in gcp.fake.calls if c.name == "compute.instances.insert")
        args = gcp.script_args(vm)
        assert args[0] == "weights"
        assert args[args.index("--source") + 1] == "hf://google/gemma-2-9b-it"
        assert args[args.index("--revision") + 1] == "abc123"
        assert args[args.index("--hf-token-secret") + 1] == "hf-token"

    def test_unpinned_hugging_face_model_warns(self, gcp):
        result = bake(gcp, "--source", "hf://google/gemma-2-9b-it")
        assert result.code == 0
        assert "warning: no --revision" in result.err

    def test_pv_manifests(self, gcp):
        result = bake(gcp, "--source", "gs://models/gemma", "--pv-manifests", "--read-ahead-kb", "16384")
        documents = list(yaml.safe_load_all(result.out.split("(kubectl apply -n default -f -):\n", 1)[1]))
        pv, pvc = documents
        assert pv["kind"] == "PersistentVolume"
        assert pv["spec"]["csi"] == {
            "driver": "pd.csi.storage.gke.io",
            "fsType": "ext4",
            "readOnly": True,
            "volumeHandle": f"projects/{PROJECT}/zones/{ZONE}/disks/gemma",
        }
        assert pv["spec"]["accessModes"] == ["ReadOnlyMany"]
        assert pv["spec"]["mountOptions"] == ["read_ahead_kb=16384"]
        assert pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == [ZONE]
        assert pvc["spec"]["volumeName"] == pv["metadata"]["name"]
        assert pvc["spec"]["storageClassName"] == ""


class TestIdempotency:
    def test_rerun_reuses_image_and_disks(self, gcp):
        assert bake(gcp, "--source", "gs://models/gemma").code == 0
        first = len(gcp.fake.calls)
        again = bake(gcp, "--source", "gs://models/gemma", "--output", "json")
        assert again.code == 0
        document = json.loads(again.out)
        assert document["imageCreated"] is False
        assert document["disksCreated"] == []
        assert not [c for c in gcp.fake.calls[first:] if c.method != "GET"]

    def test_a_new_zone_only_adds_its_disk(self, gcp):
        assert bake(gcp, "--source", "gs://models/gemma").code == 0
        first = len(gcp.fake.calls)
        assert bake(gcp, "--source", "gs://models/gemma", "--disk-zone", "us-central1-a,us-central1-c").code == 0
        mutations = [c for c in gcp.fake.calls[first:] if c.method != "GET"]
        assert [(c.name, c.path.split("/")[6]) for c in mutations] == [("compute.disks.insert", "us-central1-c")]

    def test_a_zone_that_failed_is_created_by_the_rerun(self, gcp):
        gcp.fake.fail("compute.disks.insert", status=403, after=2, in_operation=True)  # scratch, zone a, zone b
        result = bake(gcp, "--source", "gs://models/gemma", "--disk-zone", "us-central1-a,us-central1-b")
        assert result.code == 5
        assert gcp.everything() == ["disk us-central1-a/gemma", "image gemma"]
        assert gcp.temporaries() == []
        assert bake(gcp, "--source", "gs://models/gemma", "--disk-zone", "us-central1-a,us-central1-b").code == 0
        assert gcp.everything() == ["disk us-central1-a/gemma", "disk us-central1-b/gemma", "image gemma"]

    def test_existing_disk_with_other_content_is_a_conflict(self, gcp):
        assert bake(gcp, "--source", "gs://models/gemma").code == 0
        result = gcp.run(
            bake_command.weights_disk,
            [
                "--project",
                PROJECT,
                "--zone",
                ZONE,
                "--image-name",
                "llama",
                "--disk-name",
                "gemma",
                "--source",
                "gs://models/llama",
            ],
        )
        assert result.code == 2
        assert "disk gemma in us-central1-a already exists with other content" in result.err
        assert "image llama" not in " ".join(gcp.everything())

    def test_force_refuses_to_replace_a_disk_in_use(self, gcp):
        assert bake(gcp, "--source", "gs://models/gemma").code == 0
        gcp.fake.compute.disks[(PROJECT, ZONE, "gemma")]["users"] = ["projects/p/zones/z/instances/gke-node-1"]
        result = bake(gcp, "--source", "gs://models/gemma", "--force")
        assert result.code == 5
        assert "in use by projects/p/zones/z/instances/gke-node-1" in result.err

    def test_force_rebuilds_both(self, gcp):
        assert bake(gcp, "--source", "gs://models/gemma").code == 0
        ids = {k: v["id"] for k, v in gcp.fake.compute.disks.items()}
        assert bake(gcp, "--source", "gs://models/gemma", "--force").code == 0
        assert all(gcp.fake.compute.disks[k]["id"] != old for k, old in ids.items())
        assert gcp.temporaries() == []

    def test_existing_image_larger_than_the_disk_is_refused(self, gcp):
        assert bake(gcp, "--source", "gs://models/gemma", "--image-size-gb", "300", "--disk-size-gb", "300").code == 0
        result = bake(
            gcp,
            "--source",
            "gs://models/gemma",
            "--image-size-gb",
            "100",
            "--disk-size-gb",
            "200",
            "--disk-name",
            "small",
        )
        assert result.code == 2
        assert "smaller than the existing image gemma (300 GB)" in result.err

    def test_content_label_follows_source_and_revision(self, gcp):
        assert bake(gcp, "--source", "org/model", "--revision", "a", "--image-name", "m-a").code == 0
        assert bake(gcp, "--source", "org/model", "--revision", "b", "--image-name", "m-b").code == 0
        labels = {i["labels"][CONTENT_LABEL] for i in gcp.fake.compute.images.values()}
        assert len(labels) == 2


def test_failed_copy_cleans_up(gcp):
    gcp.console("failure", reason="cannot copy gs://models/gemma")
    result = bake(gcp, "--source", "gs://models/gemma")
    assert result.code == 5
    assert "cannot copy gs://models/gemma" in result.err
    assert gcp.everything() == []
