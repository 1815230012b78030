"""What the bake commands hand to the next step: node-pool flags, chart values, PV manifests."""

from __future__ import annotations

import yaml


def image_path(project: str, image: str) -> str:
    return f"projects/{project}/global/images/{image}"


def disk_handle(project: str, zone: str, disk: str) -> str:
    return f"projects/{project}/zones/{zone}/disks/{disk}"


def node_pool_flags(project: str, image: str) -> list[str]:
    """The `gcloud container node-pools create` flags that put the cache on each node."""
    return [
        f"--secondary-boot-disk=disk-image={image_path(project, image)},mode=CONTAINER_IMAGE_CACHE",
        "--enable-image-streaming",
    ]


def image_cache_values(node_pool: str = "NODE_POOL") -> dict:
    """Chart values that schedule onto the (Standard) node pool with the cache and use image streaming."""
    return {"gke": {"nodePool": node_pool, "secondaryBootDisk": {"enabled": True}, "imageStreaming": True}}


def weights_values(handles: list[str], read_ahead_kb: int) -> dict:
    """Chart values that mount the baked disks (one per zone; the chart reads the zone from the handle)."""
    return {
        "weights": {
            "source": "persistentDisk",
            "persistentDisk": {"disks": list(handles), "readAheadKb": read_ahead_kb},
        }
    }


def persistent_volumes(handles: list[str], *, name: str, size_gb: int, read_ahead_kb: int) -> list[dict]:
    """A read-only PV and its PVC per zone, for clusters that do not use the chart's own."""
    manifests: list[dict] = []
    for handle in handles:
        zone = handle.split("/")[3]
        pv_name = f"{name}-{zone}"
        manifests.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": pv_name},
                "spec": {
                    "capacity": {"storage": f"{size_gb}Gi"},
                    "accessModes": ["ReadOnlyMany"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": "",
                    "mountOptions": [f"read_ahead_kb={read_ahead_kb}"],
                    "claimRef": {"namespace": "default", "name": pv_name},
                    "csi": {
                        "driver": "pd.csi.storage.gke.io",
                        "volumeHandle": handle,
                        "fsType": "ext4",
                        "readOnly": True,
                    },
                    "nodeAffinity": {
                        "required": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {"key": "topology.gke.io/zone", "operator": "In", "values": [zone]}
                                    ]
                                }
                            ]
                        }
                    },
                },
            }
        )
        manifests.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": pv_name, "namespace": "default"},
                "spec": {
                    "accessModes": ["ReadOnlyMany"],
                    "storageClassName": "",
                    "volumeName": pv_name,
                    "resources": {"requests": {"storage": f"{size_gb}Gi"}},
                },
            }
        )
    return manifests


def to_yaml(document: object) -> str:
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False)


def to_yaml_stream(documents: list[dict]) -> str:
    return yaml.safe_dump_all(documents, sort_keys=False, default_flow_style=False)
