"""`vllm-serving preflight` against a real API server: the session's local test cluster (kube-apiserver,
scheduler, controller manager, kwok GKE GPU nodes, the chart's CRDs) and, for what that cluster has and a
bare one lacks, a second LocalCluster started without CRDs. Each check passes, and fails with the missing
piece removed on purpose; a failing check's message is what a user reads, fix included."""

from __future__ import annotations

import base64
import http.server
import json
import os
import ssl
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from paths import REPO, VALUES_FILES
from support.metrics_api import self_signed_cert
from vllm_serving import cli
from vllm_serving.cluster.testing import TestCluster, wait_for
from vllm_serving.preflight import Result, run_checks
from vllm_serving.preflight.kube import Kube

pytestmark = pytest.mark.cluster

FILESTORE = next(p for p in VALUES_FILES if p.name == "llama-3.1-8b-instruct-filestore.yaml")


# ----------------------------------------------------------------- helpers


def by_name(results: list[Result]) -> dict[str, Result]:
    return {r.name: r for r in results}


def check(results: list[Result], name: str) -> Result:
    found = by_name(results)
    assert name in found, f"no check {name!r} among {[r.name for r in results]}"
    return found[name]


def create(kube: Kube, path: str, body: dict) -> dict:
    response = kube.request("POST", path, body=body)
    assert response.status == 201, f"POST {path}: {response.message}"
    return response.body


def delete(kube: Kube, path: str) -> None:
    response = kube.request("DELETE", path)
    assert response.status in (200, 202, 404), f"DELETE {path}: {response.message}"


def namespace_body(name: str, enforce: str | None = "baseline", warn: str | None = None) -> dict:
    labels = {}
    if enforce:
        labels["pod-security.kubernetes.io/enforce"] = enforce
    if warn:
        labels["pod-security.kubernetes.io/warn"] = warn
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


@pytest.fixture(scope="module")
def kube(vllm_cluster: TestCluster) -> Iterator[Kube]:
    with Kube.connect(vllm_cluster.kubeconfig) as client:
        yield client


@pytest.fixture(scope="module")
def namespaces(kube: Kube) -> Iterator[Callable[..., str]]:
    """make(enforce="baseline", warn=None) -> a fresh namespace; all deleted at the end of the module."""
    made: list[str] = []

    def make(enforce: str | None = "baseline", warn: str | None = None) -> str:
        name = f"preflight-{uuid.uuid4().hex[:8]}"
        create(kube, "/api/v1/namespaces", namespace_body(name, enforce, warn))
        made.append(name)
        # The serviceaccount controller makes `default` soon after; pods (even dry-run) need it.
        wait_for("ServiceAccount default", lambda: kube.get(f"/api/v1/namespaces/{name}/serviceaccounts/default"))
        return name

    yield make
    for name in made:
        delete(kube, f"/api/v1/namespaces/{name}")


@pytest.fixture(scope="module")
def baseline(namespaces: Callable[..., str]) -> str:
    """One namespace enforcing Pod Security baseline, shared by the checks that only read it."""
    return namespaces("baseline")


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestCluster]:
    """A second local cluster: the same nodes, but no CRDs, no LeaderWorkerSet controller, nothing else."""
    from vllm_serving import gobuild
    from vllm_serving.cluster import build
    from vllm_serving.cluster.local import LocalCluster

    if not build.binaries().complete:
        try:
            gobuild.find_go()
        except Exception as err:
            pytest.skip(f"no local cluster binaries: {err}")
    cluster = LocalCluster(tmp_path_factory.mktemp("bare-cluster"), install_crds=False, progress=None)
    cluster.start()
    try:
        yield TestCluster(cluster.kubeconfig, cluster)
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def bare_kube(bare: TestCluster) -> Iterator[Kube]:
    with Kube.connect(bare.kubeconfig) as client:
        yield client


def on_bare(bare: TestCluster, values: dict, namespace: str = "default") -> list[Result]:
    return run_checks(values=values, kubeconfig=bare.kubeconfig, namespace=namespace)


# ----------------------------------------------------------------- GPU nodes


# The chart's default model has 12 attention heads, which 8 GPUs cannot split: these cases are about the
# cluster, not the model's fit, so the fit check only warns (validation.modelFit).
FIT_AS_WARNING = {"validation": {"modelFit": "warn"}}


class TestGpuNodes:
    def test_the_accelerators_pools_pass(self, vllm_preflight, baseline):
        result = check(vllm_preflight(namespace=baseline), "gpu-nodes")
        assert result.status == "pass", result
        assert "l4-x2 (2 in us-central1-a, us-central1-b, GPUs: 2 each)" in result.message
        assert "l4-x8" in result.message

    def test_an_accelerator_without_nodes_fails_naming_the_gpus_the_cluster_has(self, vllm_preflight, baseline):
        result = check(
            vllm_preflight(values={"gke": {"accelerator": "nvidia-tesla-t4"}}, namespace=baseline), "gpu-nodes"
        )
        assert result.status == "fail"
        assert result.message.startswith(
            "no node has cloud.google.com/gke-accelerator=nvidia-tesla-t4 (gke.accelerator); GPU nodes here:"
        )
        assert "nvidia-l4 (pools l4-class, l4-flex, l4-queued, l4-spot, l4-x2, l4-x8)" in result.message
        assert (
            "(vllm-serving nodepool create POOL --accelerator nvidia-tesla-t4 --machine-type n1-standard-8"
            " --accelerator-count 1 --cluster CLUSTER --location LOCATION)" in result.message
        )
        assert "or set gke.accelerator to a GPU the cluster has" in result.message

    def test_more_gpus_per_pod_than_the_pools_nodes_have_fails(self, vllm_preflight, baseline):
        values = {"gke": {"accelerator": "nvidia-tesla-a100", "nodePool": "a100-x1"}, "parallelism": {"tensor": 8}}
        values |= FIT_AS_WARNING
        result = check(vllm_preflight(values=values, namespace=baseline), "gpu-nodes")
        assert result.status == "fail"
        assert result.message.startswith(
            "parallelism.tensor: 8 GPUs per pod, but the nodes of node pool a100-x1 hold at most 1 allocatable"
            " nvidia-tesla-a100 GPUs per node (a2-highgpu-1g). Set parallelism.tensor to 1, or use a node pool of"
            " a2-highgpu-8g machines (8 GPUs each) (gke.nodePool, or empty for any pool with nvidia-tesla-a100)"
        )

    def test_a_multi_node_group_needs_pipeline_nodes_in_one_pool_and_zone(self, vllm_preflight, baseline):
        values = {"gke": {"nodePool": "l4-x8"}, "parallelism": {"tensor": 8, "pipeline": 2}} | FIT_AS_WARNING
        result = check(vllm_preflight(values=values, namespace=baseline), "gpu-nodes")
        assert result.status == "fail"
        assert "parallelism.pipeline: 2 puts each group's 2 pods on 2 nodes of one node pool and one zone" in (
            result.message
        )
        assert "(l4-x8 in us-central1-a: 1, l4-x8 in us-central1-b: 1)" in result.message
        assert "or lower parallelism.pipeline" in result.message

        values = {
            "gke": {"accelerator": "nvidia-h100-80gb", "nodePool": "h100-multinode"},
            "parallelism": {"tensor": 8, "pipeline": 2},
        } | FIT_AS_WARNING
        result = check(vllm_preflight(values=values, namespace=baseline), "gpu-nodes")
        assert result.status == "pass", result
        assert "h100-multinode in us-central1-a (2 nodes), h100-multinode in us-central1-b (2 nodes)" in (
            result.message
        )

    def test_a_node_pool_of_another_gpu_fails(self, vllm_preflight, baseline):
        result = check(vllm_preflight(values={"gke": {"nodePool": "a100-x8"}}, namespace=baseline), "gpu-nodes")
        assert result.status == "fail"
        assert result.message.startswith(
            "node pool a100-x8 (gke.nodePool) has no nvidia-l4 nodes (its nodes have nvidia-tesla-a100);"
            " pools with nvidia-l4: l4-class, l4-flex, l4-queued, l4-spot, l4-x2, l4-x8."
            " Set gke.nodePool to one of them"
        )

    def test_the_extra_node_selector_is_respected(self, vllm_preflight, baseline):
        zone = "topology.kubernetes.io/zone"
        result = check(
            vllm_preflight(values={"nodeSelector": {zone: "us-central1-c"}}, namespace=baseline), "gpu-nodes"
        )
        assert result.status == "fail"
        assert (
            "none of the 12 nvidia-l4 nodes admits the pods: nodeSelector topology.kubernetes.io/zone=us-central1-c"
            " (12 nodes; from nodeSelector.topology.kubernetes.io/zone)" in result.message
        )
        result = check(
            vllm_preflight(values={"nodeSelector": {zone: "us-central1-a"}}, namespace=baseline), "gpu-nodes"
        )
        assert result.status == "pass"
        assert "us-central1-b" not in result.message

    def test_no_fit_is_a_warning_where_the_cluster_autoscaler_may_add_nodes(self, bare, bare_kube):
        path = "/api/v1/namespaces/kube-system/configmaps"
        status = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cluster-autoscaler-status"}}
        values = {"gke": {"accelerator": "nvidia-tesla-t4"}}
        assert check(on_bare(bare, values), "gpu-nodes").status == "fail"
        create(bare_kube, path, {**status, "data": {"status": "Cluster-autoscaler status at ..."}})
        try:
            result = check(on_bare(bare, values), "gpu-nodes")
        finally:
            delete(bare_kube, f"{path}/cluster-autoscaler-status")
        assert result.status == "warn"
        assert result.message.startswith("no node has cloud.google.com/gke-accelerator=nvidia-tesla-t4")
        assert "No node fits now, but the cluster autoscaler runs (kube-system/cluster-autoscaler-status)" in (
            result.message
        )

    def test_autopilot_warns_what_it_cannot_see_ahead(self, vllm_preflight, baseline):
        values = {
            "gke": {
                "mode": "autopilot",
                "accelerator": "nvidia-tesla-t4",
                "secondaryBootDisk": {"enabled": True, "diskImage": "vllm-v0-33-0", "project": "my-project"},
            }
        }
        results = vllm_preflight(values=values, namespace=baseline)
        assert check(results, "gpu-nodes").status == "warn"
        assert "On Autopilot GKE creates nodes for the pods on demand" in check(results, "gpu-nodes").message
        boot = check(results, "secondary-boot-disk")
        assert boot.status == "warn"
        assert "cannot be checked ahead" in boot.message
        assert "gcloud compute images describe vllm-v0-33-0 --project my-project" in boot.message

    def test_autopilot_needs_a_gcp_resource_allowlist_for_the_disk_image(self, vllm_preflight, baseline, kube):
        """GKE "Use secondary boot disks to preload data or container images" (Autopilot): the cluster needs a
        node.gke.io/v1 GCPResourceAllowlist covering projects/P/global/images/I. The local cluster serves
        the kind (scripts/vllm_serving/cluster/autopilot.yaml)."""
        boot = {"enabled": True, "diskImage": "vllm-v0-33-0", "project": "my-project"}
        values = {"gke": {"mode": "autopilot", "secondaryBootDisk": boot}}
        result = check(vllm_preflight(values=values, namespace=baseline), "gcp-resource-allowlist")
        assert result.status == "fail"
        assert result.message.startswith(
            "no GCPResourceAllowlist allows the disk image projects/my-project/global/images/vllm-v0-33-0"
        )
        allowlist = {
            "apiVersion": "node.gke.io/v1",
            "kind": "GCPResourceAllowlist",
            "metadata": {"name": f"allow-{baseline}"},
            "spec": {
                "allowedResourcePatterns": ["projects/other/global/images/.*", "projects/my-project/global/images/.*"]
            },
        }
        create(kube, "/apis/node.gke.io/v1/gcpresourceallowlists", allowlist)
        try:
            result = check(vllm_preflight(values=values, namespace=baseline), "gcp-resource-allowlist")
        finally:
            delete(kube, f"/apis/node.gke.io/v1/gcpresourceallowlists/allow-{baseline}")
        assert result.status == "pass"
        assert result.message == (
            f"GCPResourceAllowlist allow-{baseline} allows projects/my-project/global/images/vllm-v0-33-0"
            " (projects/my-project/global/images/.*)"
        )

    def test_the_secondary_boot_disk_pool_must_have_nodes_on_standard(self, vllm_preflight, baseline):
        boot = {"secondaryBootDisk": {"enabled": True}}
        result = check(
            vllm_preflight(values={"gke": {"nodePool": "l4-x2", **boot}}, namespace=baseline), "secondary-boot-disk"
        )
        assert result.status == "pass"
        assert result.message.startswith("node pool l4-x2 has 2 node(s) in us-central1-a, us-central1-b")
        result = check(
            vllm_preflight(values={"gke": {"nodePool": "l4-cached", **boot}}, namespace=baseline), "secondary-boot-disk"
        )
        assert result.status == "fail"
        assert result.message.startswith(
            "node pool l4-cached (gke.nodePool, the pool with the secondary boot disk) has no nodes; create it"
            " with the image cache: vllm-serving nodepool create l4-cached --secondary-boot-disk IMAGE"
        )

    def test_a_model_that_cannot_start_fails_unless_validation_says_warn(self, vllm_preflight, baseline):
        big = {"model": {"name": "meta-llama/Llama-3.1-70B-Instruct"}}
        (refused,) = vllm_preflight(values=big, namespace=baseline)  # the verdict validate gives: invalid values
        assert (refused.name, refused.status) == ("values", "fail")
        assert refused.message.startswith(
            "values are invalid:\n  - parallelism.tensor: 1 x nvidia-l4 (24 GB, 22.0 GiB to CUDA) cannot hold the"
            " 131.4 GiB"
        )
        assert refused.message.endswith("; or set validation.modelFit: warn if you know better")
        warn = big | {"validation": {"modelFit": "warn"}}
        assert check(vllm_preflight(values=warn, namespace=baseline), "sizing").status == "warn"
        assert check(vllm_preflight(namespace=baseline), "sizing").status == "pass"


# ----------------------------------------------------------------- namespace and pod admission


class TestNamespaceAndAdmission:
    def test_a_missing_namespace_fails_and_skips_what_lives_in_it(self, vllm_preflight):
        values = {"weights": {"huggingface": {"tokenSecret": {"name": "hf-token"}}}}
        results = vllm_preflight(values=values, namespace="preflight-absent")
        namespace = check(results, "namespace")
        assert namespace.status == "fail"
        assert namespace.message.startswith(
            "namespace preflight-absent does not exist; create it (kubectl create namespace preflight-absent"
        )
        assert not {"pod-admission", "secret/hf-token"} & set(by_name(results))

    def test_baseline_refuses_the_privileged_nfs_read_ahead_with_psas_message(self, vllm_preflight, baseline):
        results = vllm_preflight([FILESTORE], namespace=baseline)
        assert check(results, "namespace").message == (f"namespace {baseline} exists (Pod Security enforce=baseline)")
        result = check(results, "pod-admission")
        assert result.status == "fail"
        assert f"namespace {baseline} refuses 1 of the 2 pods (dry run):" in result.message
        assert (
            'Deployment/vllm-vllm-serving: pods "preflight-server-0" is forbidden: violates PodSecurity'
            ' "baseline:latest": privileged (container "tune-read-ahead" must not set'
            " securityContext.privileged=true)" in result.message
        )
        assert (
            "fix: the NFS read-ahead tuning (weights.nfs.readAhead.enabled) runs a privileged init container: set"
            " weights.nfs.readAhead.enabled: false, or let the namespace run privileged pods: kubectl label"
            f" namespace {baseline} pod-security.kubernetes.io/enforce=privileged --overwrite" in result.message
        )

    def test_a_privileged_namespace_admits_it(self, vllm_preflight, namespaces):
        namespace = namespaces("privileged")
        result = check(vllm_preflight([FILESTORE], namespace=namespace), "pod-admission")
        assert result.status == "pass", result
        assert result.message == (
            f"namespace {namespace} admits all 2 pods (dry run): Deployment/vllm-vllm-serving,"
            " Job/vllm-vllm-serving-test"
        )

    def test_restricted_refuses_the_root_vllm_pods(self, vllm_preflight, namespaces):
        namespace = namespaces("restricted")
        result = check(vllm_preflight(namespace=namespace), "pod-admission")
        assert result.status == "fail"
        assert 'violates PodSecurity "restricted:latest": runAsNonRoot != true' in result.message
        assert (
            "fix: Pod Security restricted admits only non-root pods, and the vLLM image runs as root: label the"
            f" namespace baseline (kubectl label namespace {namespace} pod-security.kubernetes.io/enforce=baseline"
            " --overwrite)" in result.message
        )

    def test_a_namespace_that_warns_on_restricted_gives_a_warning(self, vllm_preflight, namespaces):
        namespace = namespaces("baseline", warn="restricted")
        result = check(vllm_preflight(namespace=namespace), "pod-admission")
        assert result.status == "warn"
        assert 'Deployment/vllm-vllm-serving: would violate PodSecurity "restricted:latest"' in result.message

    def test_resource_quota_and_limit_range_refusals(self, vllm_preflight, namespaces, kube):
        namespace = namespaces("baseline")
        quota = {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "gpus"},
            "spec": {"hard": {"requests.nvidia.com/gpu": "0"}},
        }
        create(kube, f"/api/v1/namespaces/{namespace}/resourcequotas", quota)
        wait_for(
            "the quota's status",
            lambda: (
                (kube.get(f"/api/v1/namespaces/{namespace}/resourcequotas/gpus") or {}).get("status", {}).get("hard")
            ),
        )
        result = check(vllm_preflight(namespace=namespace), "pod-admission")
        assert result.status == "fail"
        assert "exceeded quota: gpus, requested: requests.nvidia.com/gpu=1" in result.message
        assert (
            f"fix: the namespace's ResourceQuota gpus has no room for the pod: raise it (kubectl edit resourcequota"
            f" gpus -n {namespace}) or ask for less (parallelism.tensor, resources.requests)" in result.message
        )
        delete(kube, f"/api/v1/namespaces/{namespace}/resourcequotas/gpus")

        limits = {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": {"name": "small"},
            "spec": {"limits": [{"type": "Container", "max": {"memory": "1Gi"}}]},
        }
        create(kube, f"/api/v1/namespaces/{namespace}/limitranges", limits)
        result = check(vllm_preflight(namespace=namespace), "pod-admission")
        assert result.status == "fail"
        assert "maximum memory usage per Container is 1Gi, but limit is 24Gi" in result.message
        assert f"fix: a LimitRange in namespace {namespace} refuses the pod's resources" in result.message

    def test_a_service_account_the_chart_does_not_create_must_exist(self, vllm_preflight, namespaces, kube):
        namespace = namespaces("baseline")
        values = {"serviceAccount": {"create": False, "name": "vllm-runner"}}
        result = check(vllm_preflight(values=values, namespace=namespace), "pod-admission")
        assert result.status == "fail"
        assert 'serviceaccount "vllm-runner" not found' in result.message
        assert (
            f"fix: the ServiceAccount vllm-runner (serviceAccount.name) does not exist in namespace {namespace}:"
            " create it, or set serviceAccount.create: true" in result.message
        )
        account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "vllm-runner"}}
        create(kube, f"/api/v1/namespaces/{namespace}/serviceaccounts", account)
        assert check(vllm_preflight(values=values, namespace=namespace), "pod-admission").status == "pass"


# ----------------------------------------------------------------- Secrets


def secret(name: str, data: dict[str, str], kind: str = "Opaque") -> dict:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": kind, "data": encoded}


class TestSecrets:
    def test_the_hugging_face_token_secret_and_its_key(self, vllm_preflight, namespaces, kube):
        namespace = namespaces("baseline")
        values = {"weights": {"huggingface": {"tokenSecret": {"name": "hf-token", "key": "token"}}}}
        result = check(vllm_preflight(values=values, namespace=namespace), "secret/hf-token")
        assert result.status == "fail"
        assert result.message == (
            f"Secret hf-token (weights.huggingface.tokenSecret) does not exist in namespace {namespace}; create it:"
            f" kubectl create secret generic hf-token -n {namespace} --from-literal=token=hf_..."
        )
        path = f"/api/v1/namespaces/{namespace}/secrets"
        create(kube, path, secret("hf-token", {"hf_api_token": "hf_x"}))
        result = check(vllm_preflight(values=values, namespace=namespace), "secret/hf-token")
        assert result.status == "fail"
        assert result.message.startswith(
            "Secret hf-token (weights.huggingface.tokenSecret) has no key 'token' (keys: hf_api_token); add it"
        )
        assert result.message.endswith("or set weights.huggingface.tokenSecret.key to the key that holds it")
        delete(kube, f"{path}/hf-token")
        create(kube, path, secret("hf-token", {"token": "hf_x"}))
        result = check(vllm_preflight(values=values, namespace=namespace), "secret/hf-token")
        assert result.status == "pass"
        assert result.message == "Secret hf-token exists (weights.huggingface.tokenSecret key token)"

    def test_an_empty_value_fails(self, vllm_preflight, namespaces, kube):
        """The API server accepts a Secret whose key holds nothing; vLLM would then send an empty token."""
        namespace = namespaces("baseline")
        values = {"weights": {"huggingface": {"tokenSecret": {"name": "hf-token", "key": "token"}}}}
        create(kube, f"/api/v1/namespaces/{namespace}/secrets", secret("hf-token", {"token": ""}))
        result = check(vllm_preflight(values=values, namespace=namespace), "secret/hf-token")
        assert result.status == "fail"
        assert (
            result.message
            == "Secret hf-token (weights.huggingface.tokenSecret) has an empty 'token'; put the value in it"
        )

    def test_secrets_named_by_env_secret_key_refs(self, vllm_preflight, namespaces, kube):
        namespace = namespaces("baseline")
        ref = {"secretKeyRef": {"name": "api-keys", "key": "openai"}}
        values = {"env": [{"name": "PLAIN", "value": "x"}, {"name": "OPENAI_API_KEY", "valueFrom": ref}]}
        result = check(vllm_preflight(values=values, namespace=namespace), "secret/api-keys")
        assert result.status == "fail"
        assert result.message == (
            f"Secret api-keys (env[1] (OPENAI_API_KEY)) does not exist in namespace {namespace}; create it:"
            f" kubectl create secret generic api-keys -n {namespace} --from-literal=openai=VALUE"
        )
        create(kube, f"/api/v1/namespaces/{namespace}/secrets", secret("api-keys", {"openai": "sk-1"}))
        result = check(vllm_preflight(values=values, namespace=namespace), "secret/api-keys")
        assert result.status == "pass"
        assert result.message == "Secret api-keys exists (env[1] (OPENAI_API_KEY) key openai)"
        optional = {"env": [{"name": "X", "valueFrom": {"secretKeyRef": {**ref["secretKeyRef"], "optional": True}}}]}
        assert "secret/api-keys" not in by_name(vllm_preflight(values=optional, namespace=namespaces("baseline")))

    def test_image_pull_secrets(self, vllm_preflight, namespaces, kube):
        namespace = namespaces("baseline")
        values = {"imagePullSecrets": [{"name": "registry"}]}
        result = check(vllm_preflight(values=values, namespace=namespace), "secret/registry")
        assert result.status == "fail"
        assert f"kubectl create secret docker-registry registry -n {namespace}" in result.message
        path = f"/api/v1/namespaces/{namespace}/secrets"
        create(kube, path, secret("registry", {"password": "x"}))
        result = check(vllm_preflight(values=values, namespace=namespace), "secret/registry")
        assert result.status == "fail"
        assert "is of type Opaque; the kubelet pulls with kubernetes.io/dockerconfigjson Secrets only" in result.message
        delete(kube, f"{path}/registry")
        config = json.dumps({"auths": {"us-docker.pkg.dev": {"auth": "eDp5"}}})
        create(kube, path, secret("registry", {".dockerconfigjson": config}, "kubernetes.io/dockerconfigjson"))
        assert check(vllm_preflight(values=values, namespace=namespace), "secret/registry").status == "pass"


# ----------------------------------------------------------------- claims and disks


def claim(name: str, modes: list[str], storage_class: str = "", volume: str | None = None) -> dict:
    spec: dict[str, Any] = {
        "accessModes": modes,
        "storageClassName": storage_class,
        "resources": {"requests": {"storage": "10Gi"}},
    }
    if volume:
        spec["volumeName"] = volume
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name}, "spec": spec}


def nfs_volume(name: str, namespace: str, claim_name: str, zone: str | None = None) -> dict:
    spec: dict[str, Any] = {
        "capacity": {"storage": "10Gi"},
        "accessModes": ["ReadOnlyMany"],
        "storageClassName": "",
        "persistentVolumeReclaimPolicy": "Retain",
        "claimRef": {"namespace": namespace, "name": claim_name},
        "nfs": {"server": "10.10.0.2", "path": "/models", "readOnly": True},
    }
    if zone:
        term = {"matchExpressions": [{"key": "topology.gke.io/zone", "operator": "In", "values": [zone]}]}
        spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [term]}}
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name}, "spec": spec}


def nfs_claim_values(name: str) -> dict:
    return {"weights": {"source": "nfs", "nfs": {"existingClaim": name}}}


class TestClaimsAndDisks:
    @pytest.fixture
    def volumes(self, kube: Kube) -> Iterator[Callable[[dict], None]]:
        """Cluster-scoped objects (PersistentVolumes, StorageClasses), deleted after the test."""
        made: list[str] = []

        def make(path: str, body: dict) -> None:
            create(kube, path, body)
            made.append(f"{path}/{body['metadata']['name']}")

        yield make
        for path in made:
            delete(kube, path)

    def test_weights_claim_missing_not_read_only_pending_then_bound(self, vllm_preflight, namespaces, kube, volumes):
        namespace = namespaces("baseline")
        claims = f"/api/v1/namespaces/{namespace}/persistentvolumeclaims"

        result = check(vllm_preflight(values=nfs_claim_values("models"), namespace=namespace), "claim/models")
        assert result.status == "fail"
        assert result.message == (
            f"PersistentVolumeClaim models (weights.nfs.existingClaim) does not exist in namespace {namespace};"
            " create it (a ReadOnlyMany claim bound to the volume that holds the weights), or unset"
            " weights.nfs.existingClaim"
        )

        create(kube, claims, claim("models", ["ReadWriteOnce"]))
        result = check(vllm_preflight(values=nfs_claim_values("models"), namespace=namespace), "claim/models")
        assert result.status == "fail"
        assert result.message.startswith(
            "PersistentVolumeClaim models (weights.nfs.existingClaim) is ReadWriteOnce, not ReadOnlyMany: weights"
            " claims must be ReadOnlyMany so that every replica, on any node, mounts the same volume read-only"
        )
        assert (
            "PersistentVolumeClaim models (weights.nfs.existingClaim) is Pending: no volume is bound (it names no"
            " storage class, so only a static PersistentVolume can bind it)" in result.message
        )

        volumes("/api/v1/persistentvolumes", nfs_volume(f"{namespace}-shared", namespace, "shared"))
        create(kube, claims, claim("shared", ["ReadOnlyMany"], volume=f"{namespace}-shared"))
        wait_for(
            "claim shared Bound",
            lambda: (kube.get(f"{claims}/shared") or {}).get("status", {}).get("phase") == "Bound",
        )
        result = check(vllm_preflight(values=nfs_claim_values("shared"), namespace=namespace), "claim/shared")
        assert result.status == "pass", result
        assert result.message == (
            "PersistentVolumeClaim shared (weights.nfs.existingClaim) exists (Bound, ReadOnlyMany)"
        )

    def test_a_claim_waiting_for_its_first_consumer_is_a_warning(self, vllm_preflight, namespaces, kube, volumes):
        namespace = namespaces("baseline")
        storage_class = f"{namespace}-late"
        volumes(
            "/apis/storage.k8s.io/v1/storageclasses",
            {
                "apiVersion": "storage.k8s.io/v1",
                "kind": "StorageClass",
                "metadata": {"name": storage_class},
                "provisioner": "example.com/none",
                "volumeBindingMode": "WaitForFirstConsumer",
            },
        )
        create(
            kube,
            f"/api/v1/namespaces/{namespace}/persistentvolumeclaims",
            claim("late", ["ReadOnlyMany"], storage_class),
        )
        result = check(vllm_preflight(values=nfs_claim_values("late"), namespace=namespace), "claim/late")
        assert result.status == "warn"
        assert result.message == (
            f"PersistentVolumeClaim late (weights.nfs.existingClaim) is Pending: its storage class {storage_class}"
            " binds WaitForFirstConsumer, so a volume is bound (or made, in the first pod's zone) when the first"
            " pod using it is scheduled"
        )

    def test_a_bound_volume_in_a_zone_without_gpu_nodes_fails(self, vllm_preflight, namespaces, kube, volumes):
        namespace = namespaces("baseline")
        volumes("/api/v1/persistentvolumes", nfs_volume(f"{namespace}-zonal", namespace, "zonal", "us-central1-c"))
        claims = f"/api/v1/namespaces/{namespace}/persistentvolumeclaims"
        create(kube, claims, claim("zonal", ["ReadOnlyMany"], volume=f"{namespace}-zonal"))
        wait_for(
            "claim zonal Bound",
            lambda: (kube.get(f"{claims}/zonal") or {}).get("status", {}).get("phase") == "Bound",
        )
        result = check(vllm_preflight(values=nfs_claim_values("zonal"), namespace=namespace), "claim/zonal")
        assert result.status == "fail"
        assert (
            f"is bound to volume {namespace}-zonal in us-central1-c, which no node that can hold the GPU pods"
            " reaches (they are in us-central1-a, us-central1-b)" in result.message
        )

    def test_written_claims_cache_and_batch(self, vllm_preflight, namespaces, kube):
        namespace = namespaces("baseline")
        create(kube, f"/api/v1/namespaces/{namespace}/persistentvolumeclaims", claim("hf-cache", ["ReadWriteOnce"]))
        values = {"replicaCount": 2, "weights": {"huggingface": {"cache": {"existingClaim": "hf-cache"}}}}
        result = check(vllm_preflight(values=values, namespace=namespace), "claim/hf-cache")
        assert result.status == "fail"  # Pending, no volume: the worst finding wins
        assert (
            "is ReadWriteOnce: only pods on one node can mount it (ReadWriteOncePod: one pod), and up to 2 pods"
            " use it; use a ReadWriteMany claim (e.g. Filestore)" in result.message
        )
        batch = {"batch": {"enabled": True, "existingClaim": "requests", "input": "requests.jsonl"}}
        result = check(vllm_preflight(values=batch, namespace=namespace), "claim/requests")
        assert result.status == "fail"
        assert result.message.startswith(
            f"PersistentVolumeClaim requests (batch.existingClaim) does not exist in namespace {namespace}"
        )
        cache = {"compileCache": {"enabled": True, "storage": "claim", "existingClaim": "vllm-cache"}}
        result = check(vllm_preflight(values=cache, namespace=namespace), "claim/vllm-cache")
        assert result.message == (
            f"PersistentVolumeClaim vllm-cache (compileCache.existingClaim) does not exist in namespace {namespace};"
            " create it (a ReadWriteMany claim (e.g. Filestore) on which the replicas share vLLM's compile cache),"
            " or unset compileCache.existingClaim"
        )

    def test_a_gcsfuse_profile_needs_its_storage_class(self, vllm_preflight, baseline, kube):
        values = {"weights": {"source": "gcsfuse", "gcsfuse": {"bucket": "my-models", "profile": "gcsfusecsi-serving"}}}
        result = check(vllm_preflight(values=values, namespace=baseline), "storage-class/gcsfusecsi-serving")
        assert result.status == "fail"
        assert result.message == (
            f"StorageClass gcsfusecsi-serving (weights.gcsfuse.profile) does not exist on this cluster"
            f" ({kube.server_version()}): GKE installs the Cloud Storage FUSE profiles from 1.35.1-gke.1616000 on;"
            " upgrade the cluster, or unset weights.gcsfuse.profile to use the chart's own mount options"
        )
        # As GKE installs it (provisioner the GCSFuse CSI driver, labelled gke-gcsfuse/profile=true).
        body = {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "gcsfusecsi-serving", "labels": {"gke-gcsfuse/profile": "true"}},
            "provisioner": "gcsfuse.csi.storage.gke.io",
            "volumeBindingMode": "Immediate",
        }
        create(kube, "/apis/storage.k8s.io/v1/storageclasses", body)
        try:
            result = check(vllm_preflight(values=values, namespace=baseline), "storage-class/gcsfusecsi-serving")
            assert result.status == "pass"
        finally:
            delete(kube, "/apis/storage.k8s.io/v1/storageclasses/gcsfusecsi-serving")

    def test_a_disk_in_a_zone_without_gpu_nodes_fails(self, vllm_preflight, baseline):
        disks = [
            "projects/my-project/zones/us-central1-a/disks/weights",
            "projects/my-project/zones/us-central1-c/disks/weights",
        ]
        values = {"weights": {"source": "persistentDisk", "persistentDisk": {"disks": disks}}}
        results = vllm_preflight(values=values, namespace=baseline)
        assert check(results, "disk/us-central1-a/weights").status == "pass"
        result = check(results, "disk/us-central1-c/weights")
        assert result.status == "fail"
        assert result.message.startswith(
            "disk projects/my-project/zones/us-central1-c/disks/weights is in us-central1-c, where no nvidia-l4"
            " node with 1 GPU runs (they run in us-central1-a, us-central1-b); bake a copy in a zone with such"
            " nodes (vllm-serving bake weights-disk ... --disk-zone ZONE) and list it instead, or add GPU nodes in"
            " us-central1-c"
        )

    def test_a_disk_another_releases_volume_already_uses_fails(self, vllm_preflight, baseline, volumes):
        handle = "projects/my-project/zones/us-central1-a/disks/shared-weights"
        other = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {
                "name": f"other-{baseline}",
                "annotations": {"meta.helm.sh/release-name": "other", "meta.helm.sh/release-namespace": "team-b"},
            },
            "spec": {
                "capacity": {"storage": "1Ti"},
                "accessModes": ["ReadOnlyMany"],
                "storageClassName": "",
                "claimRef": {"namespace": "team-b", "name": "other-vllm-serving-weights"},
                "csi": {"driver": "pd.csi.storage.gke.io", "volumeHandle": handle, "readOnly": True},
            },
        }
        volumes("/api/v1/persistentvolumes", other)
        values = {"weights": {"source": "persistentDisk", "persistentDisk": {"disks": [handle]}}}
        result = check(vllm_preflight(values=values, namespace=baseline), "disk/us-central1-a/shared-weights")
        assert result.status == "fail"
        assert result.message.startswith(
            f"disk {handle} is already the volume of PersistentVolume other-{baseline} (claim"
            " team-b/other-vllm-serving-weights, release other in team-b); two PersistentVolumes of one disk"
        )


# ----------------------------------------------------------------- CSI drivers, CRDs, metrics APIs


EVERY_CRD = {
    **FIT_AS_WARNING,
    "gke": {"accelerator": "nvidia-h100-80gb", "nodePool": "h100-multinode"},
    "parallelism": {"tensor": 8, "pipeline": 2},
    "monitoring": {"podMonitoring": {"enabled": True}, "serviceMonitor": {"enabled": True}},
    "autoscaling": {
        "enabled": True,
        "provider": "keda",
        "keda": {"serverAddress": "http://frontend.monitoring.svc:9090", "gcpWorkloadIdentity": True},
    },
}

MULTINODE = {
    **FIT_AS_WARNING,
    "gke": {"accelerator": "nvidia-h100-80gb", "nodePool": "h100-multinode"},
    "parallelism": {"tensor": 8, "pipeline": 2},
}


def lws_webhook(name: str, failure_policy: str, namespace: str | None = None) -> dict:
    """A validating webhook on LeaderWorkerSets that nothing serves (optionally only in one namespace)."""
    hook: dict[str, Any] = {
        "name": "broken.preflight.test",
        "clientConfig": {"url": "https://127.0.0.1:1/validate"},
        "rules": [
            {
                "apiGroups": ["leaderworkerset.x-k8s.io"],
                "apiVersions": ["*"],
                "operations": ["CREATE"],
                "resources": ["leaderworkersets"],
            }
        ],
        "failurePolicy": failure_policy,
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        "timeoutSeconds": 2,
    }
    if namespace:
        hook["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [hook],
    }


HPA = {
    "monitoring": {"podMonitoring": {"enabled": True}},
    "autoscaling": {
        "enabled": True,
        "clusterName": "prod",
        "metrics": [{"type": "queue-depth", "target": 5}, {"type": "gpu-utilization", "target": 80}],
    },
}


class TestClusterApis:
    def test_csi_drivers_absent_then_present(self, bare, bare_kube):
        path = "/apis/storage.k8s.io/v1/csidrivers"
        gcsfuse = {"weights": {"source": "gcsfuse", "gcsfuse": {"bucket": "my-models"}}}
        result = check(on_bare(bare, gcsfuse), "csi-driver/gcsfuse.csi.storage.gke.io")
        assert result.status == "fail"
        assert result.message == (
            "the CSI driver gcsfuse.csi.storage.gke.io (weights.source gcsfuse) is not installed (no CSIDriver"
            " object), so the weights volume would never mount; enable the Cloud Storage FUSE CSI driver: gcloud"
            " container clusters update CLUSTER --location LOCATION --update-addons GcsFuseCsiDriver=ENABLED"
            " (Autopilot clusters have it)"
        )
        disk = {
            "weights": {
                "source": "persistentDisk",
                "persistentDisk": {"disks": ["projects/my-project/zones/us-central1-a/disks/d"]},
            }
        }
        assert check(on_bare(bare, disk), "csi-driver/pd.csi.storage.gke.io").status == "fail"
        for driver in ("gcsfuse.csi.storage.gke.io", "pd.csi.storage.gke.io"):
            create(
                bare_kube,
                path,
                {"apiVersion": "storage.k8s.io/v1", "kind": "CSIDriver", "metadata": {"name": driver}, "spec": {}},
            )
        try:
            assert check(on_bare(bare, gcsfuse), "csi-driver/gcsfuse.csi.storage.gke.io").status == "pass"
            assert check(on_bare(bare, disk), "csi-driver/pd.csi.storage.gke.io").status == "pass"
            batch = {"batch": {"enabled": True, "bucket": "my-batches", "input": "requests.jsonl"}}
            result = check(on_bare(bare, batch), "csi-driver/gcsfuse.csi.storage.gke.io")
            assert result.message == "CSIDriver gcsfuse.csi.storage.gke.io is installed (batch.bucket)"
            cache = {"compileCache": {"enabled": True, "bucket": "my-cache"}}
            result = check(on_bare(bare, cache), "csi-driver/gcsfuse.csi.storage.gke.io")
            assert result.message == "CSIDriver gcsfuse.csi.storage.gke.io is installed (compileCache.bucket)"
        finally:
            for driver in ("gcsfuse.csi.storage.gke.io", "pd.csi.storage.gke.io"):
                delete(bare_kube, f"{path}/{driver}")

    def test_the_crds_of_every_enabled_feature_are_missing_on_a_bare_cluster(self, bare):
        results = on_bare(bare, EVERY_CRD)
        expected = {
            "crd/PodMonitoring": (
                "PodMonitoring (monitoring.googleapis.com/v1, for monitoring.podMonitoring.enabled) is not installed:"
                " no CustomResourceDefinition podmonitorings.monitoring.googleapis.com; enable Google Cloud Managed"
                " Service for Prometheus (gcloud container clusters update CLUSTER --location LOCATION"
                " --enable-managed-prometheus), or set monitoring.podMonitoring.enabled: false"
            ),
            "crd/ServiceMonitor": "or set monitoring.serviceMonitor.enabled: false",
            "crd/LeaderWorkerSet": (
                "no CustomResourceDefinition leaderworkersets.leaderworkerset.x-k8s.io; install LeaderWorkerSet"
            ),
            "crd/ScaledObject": "install KEDA (helm install keda kedacore/keda --namespace keda --create-namespace)",
            "crd/TriggerAuthentication": "or set autoscaling.keda.gcpWorkloadIdentity: false",
        }
        for name, text in expected.items():
            result = check(results, name)
            assert result.status == "fail", result
            assert text in result.message, result
        lws = check(results, "lws-controller")
        assert lws.status == "warn"
        assert lws.message.startswith("no LeaderWorkerSet controller found (no admission webhook for")

    def test_the_crds_are_established_on_the_test_cluster(self, vllm_preflight, baseline):
        results = vllm_preflight(values=EVERY_CRD, namespace=baseline)
        for kind in ("PodMonitoring", "ServiceMonitor", "LeaderWorkerSet", "ScaledObject", "TriggerAuthentication"):
            assert check(results, f"crd/{kind}").status == "pass", check(results, f"crd/{kind}")
        assert check(results, "crd/LeaderWorkerSet").message == (
            "leaderworkersets.leaderworkerset.x-k8s.io is Established and serves v1 (parallelism.pipeline > 1)"
        )

    def test_a_second_scrape_of_the_serving_pods_fails_with_autoscaling(self, vllm_preflight, namespaces, kube):
        """GKE's automatic application monitoring adds a PodMonitoring for each vLLM workload it detects
        (https://cloud.google.com/stackdriver/docs/managed-prometheus/exporters/vllm); next to the chart's,
        every series is stored twice and every sum the autoscaler reads doubles."""
        namespace = namespaces("baseline")
        assert check(vllm_preflight(values=HPA, namespace=namespace), "metrics/scraped-once").status == "pass"
        path = f"/apis/monitoring.googleapis.com/v1/namespaces/{namespace}/podmonitorings"
        create(
            kube,
            path,
            {
                "apiVersion": "monitoring.googleapis.com/v1",
                "kind": "PodMonitoring",
                "metadata": {"name": "vllm-auto"},
                "spec": {
                    "selector": {
                        "matchExpressions": [
                            {"key": "app.kubernetes.io/name", "operator": "In", "values": ["vllm-serving"]}
                        ]
                    },
                    "endpoints": [{"port": 8000, "interval": "30s"}],
                },
            },
        )
        result = check(vllm_preflight(values=HPA, namespace=namespace), "metrics/scraped-once")
        assert (result.status, result.message) == (
            "fail",
            f"PodMonitoring {namespace}/vllm-auto also scrapes this release's serving pods, as the chart's"
            " PodMonitoring does (GKE's automatic application monitoring creates one for each vLLM workload it"
            " detects): every vLLM series is stored twice, so sums over the pods read double and an autoscaler"
            " scales out at half its target; turn automatic application monitoring off (gcloud container clusters"
            " update CLUSTER --location LOCATION --auto-monitoring-scope=NONE), or delete the other monitor",
        )

    def test_the_lws_controller_is_found_by_its_webhooks(self, bare, bare_kube):
        path = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"
        create(bare_kube, path, lws_webhook("preflight-lws", failure_policy="Ignore"))
        try:
            result = check(on_bare(bare, MULTINODE), "lws-controller")
        finally:
            delete(bare_kube, f"{path}/preflight-lws")
        assert result.status == "pass"
        assert result.message == "the LeaderWorkerSet controller is installed (webhooks preflight-lws)"

    def test_an_lws_webhook_that_does_not_answer_fails(self, vllm_preflight, namespaces, kube):
        namespace = namespaces("baseline")
        path = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"
        name = f"preflight-broken-{namespace}"
        create(kube, path, lws_webhook(name, failure_policy="Fail", namespace=namespace))
        try:
            result = check(vllm_preflight(values=MULTINODE, namespace=namespace), "lws-controller")
        finally:
            delete(kube, f"{path}/{name}")
        assert result.status == "fail"
        assert result.message.startswith("the LeaderWorkerSet controller (webhooks ")
        assert "refuses LeaderWorkerSet/vllm-vllm-serving-lws (dry run): " in result.message
        assert 'failed calling webhook "broken.preflight.test"' in result.message

    def test_the_metrics_apis_are_absent_on_the_test_cluster(self, vllm_preflight, baseline):
        results = vllm_preflight(values=HPA, namespace=baseline)
        custom = check(results, "custom-metrics-api")
        assert custom.status == "fail"
        assert custom.message.startswith(
            "the custom metrics API is not registered (no APIService v1beta1.custom.metrics.k8s.io), and the HPA"
            " reads prometheus.googleapis.com|vllm:num_requests_waiting|gauge from it; deploy the custom-metrics"
            " Stackdriver adapter (kubectl apply -f https://raw.githubusercontent.com/GoogleCloudPlatform/"
            "k8s-stackdriver/master/custom-metrics-stackdriver-adapter/deploy/production/"
            "adapter_new_resource_model.yaml"
        )
        external = check(results, "external-metrics-api")
        assert external.status == "fail"
        assert "no APIService v1beta1.external.metrics.k8s.io" in external.message
        assert "prometheus.googleapis.com|dcgm_fi_dev_gpu_util|unknown" in external.message

    def test_a_registered_metrics_api_must_be_available(self, bare, bare_kube, tmp_path):
        path = "/apis/apiregistration.k8s.io/v1/apiservices"
        name = "v1beta1.custom.metrics.k8s.io"
        service = {"namespace": "custom-metrics", "name": "custom-metrics-stackdriver-adapter", "port": 443}
        api_service = {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": name},
            "spec": {
                "group": "custom.metrics.k8s.io",
                "version": "v1beta1",
                "service": service,
                "insecureSkipTLSVerify": True,
                "groupPriorityMinimum": 100,
                "versionPriority": 100,
            },
        }
        values = {key: HPA[key] for key in ("monitoring",)} | {
            "autoscaling": {"enabled": True, "metrics": [{"type": "batch-size", "target": 8}]}
        }

        def available() -> str | None:
            conditions = (bare_kube.get(f"{path}/{name}") or {}).get("status", {}).get("conditions") or []
            return next((c["status"] for c in conditions if c["type"] == "Available"), None)

        create(bare_kube, path, api_service)
        server = None
        try:
            wait_for("the aggregator's verdict", available)
            result = check(on_bare(bare, values), "custom-metrics-api")
            assert result.status == "fail"
            assert result.message.startswith(
                f"APIService {name} is registered but not available (ServiceNotFound:"
                ' service/custom-metrics-stackdriver-adapter in "custom-metrics" is not present), so the HPA'
                " cannot read prometheus.googleapis.com|vllm:num_requests_running|gauge; the adapter behind it"
                " (service custom-metrics/custom-metrics-stackdriver-adapter) does not answer: check its pods"
            )

            # A stand-in adapter: an HTTPS server here, reached through an ExternalName Service.
            server = StandInAdapter(tmp_path)
            create(bare_kube, "/api/v1/namespaces", namespace_body("custom-metrics", None))
            create(
                bare_kube,
                "/api/v1/namespaces/custom-metrics/services",
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": "custom-metrics-stackdriver-adapter"},
                    "spec": {"type": "ExternalName", "externalName": "localhost", "ports": [{"port": server.port}]},
                },
            )

            def repoint() -> bool:  # the aggregator updates its status meanwhile: retry on conflict
                current = bare_kube.get(f"{path}/{name}")
                current["spec"]["service"]["port"] = server.port
                return bare_kube.request("PUT", f"{path}/{name}", body=current).status == 200

            wait_for("the APIService pointed at the stand-in adapter", repoint)
            wait_for("the stand-in adapter Available", lambda: available() == "True", timeout=30)
            result = check(on_bare(bare, values), "custom-metrics-api")
            assert result.status == "pass", result
            assert result.message == (
                f"APIService {name} is available (served by custom-metrics/custom-metrics-stackdriver-adapter) for"
                " prometheus.googleapis.com|vllm:num_requests_running|gauge"
            )
        finally:
            delete(bare_kube, f"{path}/{name}")
            delete(bare_kube, "/api/v1/namespaces/custom-metrics")
            if server:
                server.stop()


GATEWAY = next(p for p in VALUES_FILES if p.name == "llama-3.1-8b-instruct-gateway.yaml")


class TestGateway:
    """The Gateway an HTTPRoute attaches to is made once per cluster, not by the chart: preflight finds it and
    its GatewayClass (the session cluster serves the Gateway API's standard CRDs, as GKE does once enabled)."""

    def test_missing_gateway_then_missing_class_then_both_present(self, vllm_preflight, namespaces, kube):
        namespace = namespaces()
        klass = f"preflight-{uuid.uuid4().hex[:8]}"
        parent = {"gateway": {"parentRefs": [{"name": "inference-gateway", "namespace": namespace}]}}
        result = check(vllm_preflight([GATEWAY], parent, namespace=namespace), "gateway/inference-gateway")
        assert result.status == "fail"
        assert result.message == (
            f"Gateway {namespace}/inference-gateway, which gateway.parentRefs names, does not exist; create it"
            " once for the cluster (gatewayClassName gke-l7-regional-external-managed or gke-l7-rilb, in a region"
            " with a proxy-only subnet), or name an existing one"
        )

        gateway = {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "inference-gateway"},
            "spec": {"gatewayClassName": klass, "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]},
        }
        create(kube, f"/apis/gateway.networking.k8s.io/v1/namespaces/{namespace}/gateways", gateway)
        result = check(vllm_preflight([GATEWAY], parent, namespace=namespace), "gateway/inference-gateway")
        assert result.status == "fail"
        assert result.message == (
            f"Gateway {namespace}/inference-gateway uses GatewayClass {klass}, which the cluster does not have;"
            " enable the Gateway API (gcloud container clusters update CLUSTER --location LOCATION"
            " --gateway-api=standard)"
        )

        gateway_class = {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GatewayClass",
            "metadata": {"name": klass},
            "spec": {"controllerName": "example.com/preflight-test"},
        }
        create(kube, "/apis/gateway.networking.k8s.io/v1/gatewayclasses", gateway_class)
        try:
            result = check(vllm_preflight([GATEWAY], parent, namespace=namespace), "gateway/inference-gateway")
            assert (result.status, result.message) == (
                "pass",
                f"Gateway {namespace}/inference-gateway exists (class {klass})",
            )
        finally:
            delete(kube, f"/apis/gateway.networking.k8s.io/v1/gatewayclasses/{klass}")


class StandInAdapter:
    """An HTTPS server on localhost that answers every GET with an empty APIResourceList, as a metrics
    adapter's discovery would; the aggregator's availability check needs nothing more."""

    def __init__(self, tmp_path: Path):
        crt, key = self_signed_cert(tmp_path)

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps(
                    {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "custom.metrics.k8s.io/v1beta1"}
                    | {"resources": []}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(crt, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ----------------------------------------------------------------- the command and the Helm plugin


def write_values(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


class TestCommand:
    def test_table_exits_zero_with_warnings(self, vllm_cluster, baseline, tmp_path, capsys):
        # validation.modelFit: warn turns the certain misfit into a warning, so the table exits 0.
        values = write_values(
            tmp_path,
            "llama-70b.yaml",
            "model:\n  name: meta-llama/Llama-3.1-70B-Instruct\nvalidation:\n  modelFit: warn\n",
        )
        code = cli.main(["preflight", values, "--kubeconfig", str(vllm_cluster.kubeconfig), "-n", baseline])
        out = capsys.readouterr().out
        assert code == 0, out
        lines = out.splitlines()
        assert lines[0] == f"preflight of release llama-70b in namespace {baseline}"
        assert lines[1].split() == ["CHECK", "STATUS", "MESSAGE"]
        assert lines[2].split()[:3] == ["values", "pass", "valid:"]
        assert lines[3].split()[:3] == ["sizing", "warn", "parallelism.tensor:"]
        assert lines[-1] == "4 passed, 1 warning"

    def test_a_failed_check_exits_one_and_json_is_for_machines(self, vllm_cluster, baseline, tmp_path, capsys):
        values = write_values(tmp_path, "t4.yaml", "gke:\n  accelerator: nvidia-tesla-t4\n")
        args = [values, "--kubeconfig", str(vllm_cluster.kubeconfig), "-n", baseline, "--release", "t4"]
        assert cli.main(["preflight", *args]) == 1
        assert "gpu-nodes      fail    no node has cloud.google.com/gke-accelerator" in capsys.readouterr().out

        assert cli.main(["preflight", *args, "--output", "json"]) == 1
        report = json.loads(capsys.readouterr().out)
        assert report["release"] == "t4"
        assert report["namespace"] == baseline
        assert report["ok"] is False
        assert report["summary"] == {"pass": 4, "warn": 0, "fail": 1}
        assert [c["name"] for c in report["checks"]] == ["values", "sizing", "gpu-nodes", "namespace", "pod-admission"]
        assert report["checks"][2]["status"] == "fail"
        assert set(report["checks"][2]) == {"name", "status", "message"}

    def test_invalid_values_are_one_failed_check(self, vllm_cluster, tmp_path, capsys):
        values = write_values(tmp_path, "bad.yaml", "parallelism:\n  tensor: 3\n")
        assert cli.main(["preflight", values, "--kubeconfig", str(vllm_cluster.kubeconfig), "--output", "json"]) == 1
        report = json.loads(capsys.readouterr().out)
        assert report["checks"] == [
            {
                "name": "values",
                "status": "fail",
                "message": "values are invalid:\n  - parallelism.tensor: 3 is not a power of two; use 1, 2, 4 or 8",
            }
        ]

    def test_helm_environment_and_an_unreachable_cluster(self, vllm_cluster, baseline, tmp_path, capsys, monkeypatch):
        values = write_values(tmp_path, "default.yaml", "{}\n")
        monkeypatch.setenv("KUBECONFIG", str(vllm_cluster.kubeconfig))
        monkeypatch.setenv("HELM_NAMESPACE", baseline)
        monkeypatch.setenv("HELM_KUBECONTEXT", "vllm-serving-local")
        assert cli.main(["preflight", values]) == 0
        out = capsys.readouterr().out
        assert f"in namespace {baseline} (context vllm-serving-local)" in out
        assert f"namespace {baseline} exists" in out

        monkeypatch.setenv("HELM_KUBECONTEXT", "no-such-context")
        assert cli.main(["preflight", values]) == 4
        assert "error: cannot load the kubeconfig" in capsys.readouterr().err

        monkeypatch.delenv("HELM_KUBECONTEXT")
        config = json.loads(json.dumps(__import__("yaml").safe_load(Path(vllm_cluster.kubeconfig).read_text())))
        config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
        unreachable = tmp_path / "unreachable.kubeconfig"
        unreachable.write_text(json.dumps(config))
        assert cli.main(["preflight", values, "--kubeconfig", str(unreachable)]) == 4
        assert "error: cannot reach the cluster of" in capsys.readouterr().err

    def test_the_helm_plugin(self, vllm_cluster, baseline, tmp_path):
        helm = Path(sys.executable).parent / "helm"
        home = tmp_path / "helm"
        env = {
            **os.environ,
            "HELM_PLUGINS": str(home / "plugins"),
            "HELM_DATA_HOME": str(home / "data"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_CACHE_HOME": str(home / "cache"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        env.pop("KUBECONFIG", None)
        env.pop("HELM_NAMESPACE", None)

        def helm_run(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([str(helm), *args], env=env, capture_output=True, text=True, timeout=120)

        installed = helm_run("plugin", "install", str(REPO))
        assert installed.returncode == 0, installed.stderr
        listed = helm_run("plugin", "list")
        assert listed.stdout.split("\n")[1].split()[:2] == ["vllm-serving", "0.1.0"]

        gemma = next(p for p in VALUES_FILES if p.name == "gemma-2-9b-it-a100.yaml")
        kubeconfig = str(vllm_cluster.kubeconfig)
        run = helm_run(
            "vllm-serving", "preflight", str(gemma), "-n", baseline, "--kubeconfig", kubeconfig,
            "--kube-context", "vllm-serving-local",
        )  # fmt: skip
        assert run.returncode == 1, run.stdout + run.stderr  # the Hugging Face token Secret is missing
        lines = run.stdout.splitlines()
        assert (
            lines[0] == f"preflight of release gemma-2-9b-it-a100 in namespace {baseline} (context vllm-serving-local)"
        )
        assert f"namespace {baseline} exists (Pod Security enforce=baseline)" in run.stdout
        assert (
            f"Secret hf-secret (weights.huggingface.tokenSecret) does not exist in namespace {baseline}" in run.stdout
        )

        a100 = write_values(tmp_path, "a100.yaml", "gke:\n  accelerator: nvidia-tesla-a100\n")
        run = helm_run("vllm-serving", "preflight", a100, "--namespace", baseline, "--kubeconfig", kubeconfig,
                       "--output", "json")  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        report = json.loads(run.stdout)
        assert report["namespace"] == baseline
        assert report["ok"] is True


def test_the_preflight_fixture_checks_a_users_values_file(vllm_preflight, baseline):
    """How a user tests their own values before installing them (the plugin's `preflight` fixture)."""
    gemma = next(p for p in VALUES_FILES if p.name == "gemma-2-9b-it-gcsfuse.yaml")
    results = vllm_preflight([gemma], namespace=baseline, release="gemma")
    assert all(isinstance(r, Result) for r in results)
    assert {r.name: r.status for r in results if r.status != "pass"} == {
        "csi-driver/gcsfuse.csi.storage.gke.io": "fail"  # the local cluster runs no GCSFuse CSI driver
    }
