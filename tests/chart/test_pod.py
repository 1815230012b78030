"""templates/_pod.tpl and the workloads that use it: every pod that runs vLLM (a Deployment's, a
LeaderWorkerSet's leader and worker, a batch Job's) takes its metadata from vllm-serving.podMetadata and
its spec from vllm-serving.podSpec, and its weight claims from vllm-serving.weights.staticVolumes.

Checked over every values and ci file, plus value sets for the branches no file takes, against what the
consumers of that metadata and of those claims require."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes.utils.quantity import parse_quantity

from paths import CI_FILES, VALUES_FILES
from support.manifests import of_kind, render, render_file
from vllm_serving import chart as chart_mod

GCSFUSE = "gcsfuse.csi.storage.gke.io"
ZONE_LABEL = "vllm-serving/zone"
DISK_A = "projects/my-project/zones/us-central1-a/disks/weights"
DISK_B = "projects/my-project/zones/us-central1-b/disks/weights"
NFS = {"server": "10.0.0.2", "share": "/vol1"}

# Branches no values file takes: a multi-node group on per-zone disks with everything a pod can carry;
# batch Jobs on NFS with a bucket, on a disk with a claim and queued provisioning, on a user's claim;
# Autopilot multi-node on NFS; the Hugging Face cache on a claim.
CASES: dict[str, dict[str, Any]] = {
    "multinode-per-zone-disks-everything": {
        "parallelism": {"tensor": 4, "pipeline": 2},
        "gke": {"accelerator": "nvidia-h100-80gb"},
        "weights": {"source": "persistentDisk", "persistentDisk": {"disks": [DISK_A, DISK_B], "path": "m"}},
        "lora": {"adapters": [{"name": "a", "gcs": "gs://my-adapters/a"}]},
        "vllm": {"apiKey": {"secretName": "api-key"}, "chatTemplate": {"inline": "{{ messages }}"}},
        "podLabels": {"example.com/team": "ml"},
        # the webhook must still see "true": the adapter is in a bucket
        "podAnnotations": {"example.com/note": "x", "gke-gcsfuse/volumes": "false"},
        "extraVolumes": [{"name": "scratch", "persistentVolumeClaim": {"claimName": "scratch"}}],
        "extraVolumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
    },
    "batch-nfs-bucket-sharded": {
        "parallelism": {"tensor": 2},
        "batch": {"enabled": True, "bucket": "my-batch", "directory": "jobs/1", "shards": 3, "parallelism": 3},
        "weights": {"source": "nfs", "nfs": NFS},
        "podLabels": {"example.com/team": "ml"},
    },
    "batch-disk-claim-queued": {
        "batch": {"enabled": True, "existingClaim": "batch-files", "provisioning": "queuedProvisioning"},
        "gke": {"nodePool": "l4-queued"},
        "weights": {"source": "persistentDisk", "persistentDisk": {"disks": [DISK_A]}},
    },
    "batch-existing-weights-claim-flex-start": {
        "batch": {"enabled": True, "bucket": "my-batch", "provisioning": "flexStart"},
        "weights": {"source": "persistentDisk", "persistentDisk": {"existingClaim": "baked-weights"}},
    },
    "autopilot-multinode-nfs": {
        "gke": {"mode": "autopilot", "accelerator": "nvidia-h100-80gb", "spot": True},
        "parallelism": {"tensor": 8, "pipeline": 3},
        "weights": {"source": "nfs", "nfs": NFS},
        "podLabels": {"example.com/team": "ml"},
    },
    "huggingface-cache-claim": {
        "weights": {"huggingface": {"cache": {"existingClaim": "hf-cache"}}},
    },
}


@dataclass
class Pod:
    where: str
    role: str
    template: dict[str, Any]

    @property
    def labels(self) -> dict[str, str]:
        return self.template["metadata"]["labels"]

    @property
    def annotations(self) -> dict[str, str]:
        return self.template["metadata"].get("annotations", {})

    @property
    def volumes(self) -> list[dict[str, Any]]:
        return self.template["spec"].get("volumes", [])


@dataclass
class Case:
    values: dict[str, Any]  # as the user wrote them
    objects: list[dict[str, Any]]

    def pods(self) -> list[Pod]:
        """Each pod template that runs vLLM, with its role."""
        pods = []
        for obj in self.objects:
            name = f"{obj['kind']}/{obj['metadata']['name']}"
            component = obj["metadata"]["labels"].get("app.kubernetes.io/component")
            if obj["kind"] == "Deployment" and component == "server":
                pods.append(Pod(name, "server", obj["spec"]["template"]))
            elif obj["kind"] == "LeaderWorkerSet":
                template = obj["spec"]["leaderWorkerTemplate"]
                pods.append(Pod(f"{name} leader", "server", template["leaderTemplate"]))
                pods.append(Pod(f"{name} worker", "worker", template["workerTemplate"]))
            elif obj["kind"] == "Job" and component == "batch":
                pods.append(Pod(name, "batch", obj["spec"]["template"]))
        return pods

    def user_claims(self) -> set[str]:
        """Claims the user names: every existingClaim, and the claims of extraVolumes."""

        def existing(node: Any) -> Iterator[str]:
            if isinstance(node, dict):
                for key, value in node.items():
                    if key == "existingClaim" and value:
                        yield value
                    yield from existing(value)

        extra = {
            v["persistentVolumeClaim"]["claimName"]
            for v in self.values.get("extraVolumes") or []
            if "persistentVolumeClaim" in v
        }
        return set(existing(self.values)) | extra


PARAMS = [pytest.param(p, id=f"{p.parent.name}/{p.name}") for p in VALUES_FILES + CI_FILES]
PARAMS += [pytest.param(name, id=name) for name in CASES]


@pytest.fixture(scope="module", params=PARAMS)
def case(request) -> Case:
    if isinstance(request.param, Path):
        return Case(chart_mod.load_values_file(request.param), render_file(request.param))
    return Case(CASES[request.param], render(CASES[request.param]))


def test_every_case_runs_vllm(case):
    assert case.pods()


def test_the_gcsfuse_webhook_is_asked_exactly_where_a_bucket_is_mounted(case):
    """The GCSFuse CSI driver's webhook injects its sidecar only into pods annotated gke-gcsfuse/volumes:
    "true" (gcs-fuse-csi-driver v1.24.4 pkg/webhook/mutatingwebhook.go, SidecarInjector.Handle), and the
    driver's NodePublishVolume refuses a bucket volume in a pod without the sidecar ("failed to find the
    sidecar container in Pod spec", pkg/csi_driver/node.go). Elsewhere the sidecar would only cost."""
    for pod in case.pods():
        mounts_bucket = any(v.get("csi", {}).get("driver") == GCSFUSE for v in pod.volumes)
        assert (pod.annotations.get("gke-gcsfuse/volumes") == "true") == mounts_bucket, pod.where
        if mounts_bucket:
            limits = {"gke-gcsfuse/cpu-limit", "gke-gcsfuse/memory-limit", "gke-gcsfuse/ephemeral-storage-limit"}
            assert limits <= pod.annotations.keys(), pod.where


def test_labels_name_the_role_and_keep_the_users(case):
    for pod in case.pods():
        assert pod.labels["app.kubernetes.io/component"] == pod.role, pod.where
        assert (case.values.get("podLabels") or {}).items() <= pod.labels.items(), pod.where
        assert (case.values.get("podAnnotations") or {}).keys() <= pod.annotations.keys(), pod.where


def test_each_deployment_selects_its_own_pods_and_no_others(case):
    """The API server refuses a Deployment whose selector does not match its template's labels (Kubernetes
    v1.36.4 pkg/apis/apps/validation/validation.go); two controllers whose selectors overlap fight over
    the pods (https://kubernetes.io/docs/concepts/workloads/controllers/deployment/, "Do not overlap
    labels or selectors with other controllers"): per-zone Deployments tell their pods apart by zone."""
    templates = [
        (f"{o['kind']}/{o['metadata']['name']}", o["spec"]["template"])
        for o in case.objects
        if o["kind"] in ("Deployment", "Job")
    ]
    templates += [(pod.where, pod.template) for pod in case.pods() if pod.where.startswith("LeaderWorkerSet")]
    for deployment in of_kind(case.objects, "Deployment"):
        selector = deployment["spec"]["selector"]["matchLabels"]
        selected = [
            where for where, template in templates if selector.items() <= template["metadata"]["labels"].items()
        ]
        assert selected == [f"Deployment/{deployment['metadata']['name']}"]


def test_each_claim_a_pod_mounts_is_bound_by_name_to_its_volume(case):
    """The chart binds its claims and volumes in advance, by name both ways. The PersistentVolume
    controller (Kubernetes v1.36.4 pkg/controller/volume/persistentvolume/pv_controller.go) binds a claim
    with spec.volumeName only to that volume, and only if the volume's claimRef names the claim and
    checkVolumeSatisfyClaim passes: capacity, storageClassName, access modes. A disk's volume pins its pods
    to the disk's zone, so a per-zone workload mounts its own zone's claim."""
    claims = {c["metadata"]["name"]: c for c in of_kind(case.objects, "PersistentVolumeClaim")}
    volumes = {v["metadata"]["name"]: v for v in of_kind(case.objects, "PersistentVolume")}
    mounted = set()
    for pod in case.pods():
        for volume in pod.volumes:
            if "persistentVolumeClaim" not in volume:
                continue
            name = volume["persistentVolumeClaim"]["claimName"]
            mounted.add(name)
            assert name in claims or name in case.user_claims(), f"{pod.where}: {name} is neither rendered nor named"
            if name in claims and ZONE_LABEL in pod.labels:
                pv = volumes[claims[name]["spec"]["volumeName"]]
                (term,) = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
                assert term["matchExpressions"][0]["values"] == [pod.labels[ZONE_LABEL]], pod.where
    assert mounted >= claims.keys(), "a claim no pod mounts"
    assert len(volumes) == len(claims), "a volume without its claim"
    for name, claim in claims.items():
        volume = volumes[claim["spec"]["volumeName"]]["spec"]
        assert volume["claimRef"] == {"namespace": "default", "name": name}
        assert volume["storageClassName"] == claim["spec"]["storageClassName"] == ""
        assert set(claim["spec"]["accessModes"]) <= set(volume["accessModes"])
        requested = claim["spec"]["resources"]["requests"]["storage"]
        assert parse_quantity(volume["capacity"]["storage"]) >= parse_quantity(requested)


# Strings YAML must quote: blank lines, trailing and leading spaces, a tab, a comment sign, a block indicator.
AWKWARD_ARGS = ["--override-generation-config", '{\n\n  "temperature": 0.5  \n\t}\n', "  lead", "#x: y", "|\n  z"]


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"parallelism": {"pipeline": 2, "tensor": 8}, "gke": {"accelerator": "nvidia-h100-80gb"}},
        {"batch": {"enabled": True, "bucket": "my-batch"}},
    ],
    ids=["server", "leader-and-worker", "batch"],
)
def test_the_argv_reaches_the_container_as_written(values):
    """A role's command is YAML text that vllm-serving.podSpec splices into the pod; the kubelet hands
    the args to vLLM verbatim, so they must parse back exactly as the user wrote them."""
    pods = Case(values, render({**values, "vllm": {"extraArgs": AWKWARD_ARGS}})).pods()
    assert pods
    for pod in pods:
        (vllm,) = [c for c in pod.template["spec"]["containers"] if c["name"] == "vllm"]
        assert vllm["args"][-len(AWKWARD_ARGS) :] == AWKWARD_ARGS, pod.where
