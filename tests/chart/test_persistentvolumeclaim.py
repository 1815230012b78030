"""templates/persistentvolumeclaim.yaml: claims pre-bound to the chart's static volumes."""

from __future__ import annotations

from support.manifests import of_kind, render

DISK_A = "projects/my-project/zones/us-central1-a/disks/weights"
DISK_B = "projects/my-project/zones/us-central1-b/disks/weights"


def test_each_claim_binds_its_volume_by_name():
    values = {"weights": {"source": "persistentDisk", "persistentDisk": {"disks": [DISK_A, DISK_B], "capacity": "2Ti"}}}
    objects = render(values, namespace="llm")
    claims = of_kind(objects, "PersistentVolumeClaim")
    volumes = {pv["metadata"]["name"]: pv for pv in of_kind(objects, "PersistentVolume")}
    assert len(claims) == 2
    for claim in claims:
        spec = claim["spec"]
        assert spec["storageClassName"] == ""
        assert spec["accessModes"] == ["ReadOnlyMany"]
        assert spec["resources"]["requests"]["storage"] == "2Ti"
        volume = volumes[spec["volumeName"]]
        assert volume["spec"]["claimRef"]["name"] == claim["metadata"]["name"]


def test_nfs_claim():
    values = {"weights": {"source": "nfs", "nfs": {"server": "10.0.0.2", "share": "/vol1"}}}
    (claim,) = of_kind(render(values), "PersistentVolumeClaim")
    assert claim["metadata"]["name"] == "vllm-vllm-serving-weights"
    assert claim["spec"]["volumeName"] == "default-vllm-vllm-serving-weights"


def test_no_claims_for_sources_without_static_volumes():
    assert of_kind(render({}), "PersistentVolumeClaim") == []
    assert (
        of_kind(render({"weights": {"source": "nfs", "nfs": {"existingClaim": "fs"}}}), "PersistentVolumeClaim") == []
    )
