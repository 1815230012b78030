"""templates/persistentvolume.yaml: static volumes for baked disks and NFS shares."""

from __future__ import annotations

from support.manifests import of_kind, render

DISK_A = "projects/my-project/zones/us-central1-a/disks/weights"
DISK_B = "projects/my-project/zones/us-central1-b/disks/weights"


def volumes(values: dict, **kwargs) -> list[dict]:
    return of_kind(render(values, **kwargs), "PersistentVolume")


class TestPersistentDiskVolumes:
    def test_read_only_many_with_read_ahead_zone_affinity_and_retain(self):
        values = {"weights": {"source": "persistentDisk", "persistentDisk": {"disks": [DISK_A], "readAheadKb": 8192}}}
        (pv,) = volumes(values, namespace="llm")
        assert pv["metadata"]["name"] == "llm-vllm-vllm-serving-weights-us-central1-a"
        spec = pv["spec"]
        assert spec["accessModes"] == ["ReadOnlyMany"]
        assert spec["persistentVolumeReclaimPolicy"] == "Retain"
        assert spec["storageClassName"] == ""
        assert spec["mountOptions"] == ["read_ahead_kb=8192"]
        assert spec["csi"] == {
            "driver": "pd.csi.storage.gke.io",
            "volumeHandle": DISK_A,
            "fsType": "ext4",
            "readOnly": True,
        }
        assert spec["claimRef"] == {"namespace": "llm", "name": "vllm-vllm-serving-weights-us-central1-a"}
        term = spec["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]
        assert term == {"key": "topology.gke.io/zone", "operator": "In", "values": ["us-central1-a"]}

    def test_one_volume_per_disk(self):
        values = {"weights": {"source": "persistentDisk", "persistentDisk": {"disks": [DISK_A, DISK_B]}}}
        assert [pv["spec"]["csi"]["volumeHandle"] for pv in volumes(values)] == [DISK_A, DISK_B]

    def test_none_with_an_existing_claim_or_another_source(self):
        assert volumes({"weights": {"source": "persistentDisk", "persistentDisk": {"existingClaim": "x"}}}) == []
        assert volumes({}) == []


class TestNfsVolume:
    def test_share_read_only_many_with_mount_options(self):
        values = {
            "weights": {
                "source": "nfs",
                "nfs": {"server": "10.0.0.2", "share": "/vol1", "mountOptions": ["nconnect=4"]},
            }
        }
        (pv,) = volumes(values)
        assert pv["spec"]["nfs"] == {"server": "10.0.0.2", "path": "/vol1", "readOnly": True}
        assert pv["spec"]["accessModes"] == ["ReadOnlyMany"]
        assert pv["spec"]["mountOptions"] == ["nconnect=4"]
        assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
