"""templates/NOTES.txt, as `helm install` prints it."""

from __future__ import annotations

import re

from support.manifests import notes


def test_tells_how_to_reach_the_api_and_check_models():
    text = notes({"model": {"servedName": "chat"}}, namespace="llm", release="qwen")
    assert "kubectl port-forward -n llm svc/qwen-vllm-serving 8000:8000" in text
    assert "curl -s localhost:8000/v1/models" in text
    assert '"model": "chat"' in text
    assert "helm test qwen -n llm" in text


def test_names_the_image_a_secondary_boot_disk_must_cache():
    text = notes({"gke": {"nodePool": "l4", "secondaryBootDisk": {"enabled": True}}})
    assert "the disk image must cache exactly vllm/vllm-openai:v0.33.0" in text


def test_explains_the_privileged_nfs_tuning():
    values = {
        "weights": {"source": "nfs", "nfs": {"server": "10.0.0.2", "share": "/v", "readAhead": {"enabled": True}}}
    }
    text = notes(values)
    assert "refuses these pods. Label the namespace\npod-security.kubernetes.io/enforce=privileged" in text


def test_says_who_needs_bucket_access():
    values = {
        "weights": {"source": "gcsfuse", "gcsfuse": {"bucket": "my-models"}},
        "serviceAccount": {"gcpServiceAccount": "r@p1234.iam.gserviceaccount.com"},
    }
    text = notes(values)
    assert "The pods read gs://my-models as ServiceAccount vllm-vllm-serving" in text
    assert "grant r@p1234.iam.gserviceaccount.com roles/storage.objectViewer on the bucket" in text


def test_multi_node_names_the_group_and_how_to_watch_it():
    values = {"parallelism": {"tensor": 8, "pipeline": 3}, "gke": {"accelerator": "nvidia-h100-80gb"}}
    text = notes(values, namespace="llm", release="big")
    assert "a LeaderWorkerSet group of 3 pods running vLLM natively (no Ray)" in text
    assert "once its 2 worker(s) (vllm serve --headless) have" in text
    assert "the LeaderWorkerSet's name (big-vllm-serving-lws)" in text
    selector = "'app.kubernetes.io/instance=big,app.kubernetes.io/component in (server,worker)'"
    assert f"kubectl get pods -n llm -l {selector} -o wide" in text
    assert "ray" not in notes({}).lower()


def test_says_what_a_spot_preemption_does_to_requests():
    text = notes({"gke": {"spot": True}})
    assert "Spot VMs: GKE may preempt a node at any moment" in text
    assert "15s (gke.spotShutdown) before they are killed: requests still streaming at that point\nare cut off" in text
    assert "Spot VMs" not in notes({})


def test_names_the_compute_class_and_how_to_see_its_nodes():
    values = {"gke": {"computeClass": {"create": True, "priorities": [{"gpu": {"type": "nvidia-l4", "count": 1}}]}}}
    text = notes(values)
    (name,) = re.findall(r"ComputeClass (vllm-vllm-serving-default-[0-9a-f]{8}) per pod", text)
    assert "on 1 x GPU of ComputeClass" in text
    assert f"kubectl get nodes -l cloud.google.com/compute-class={name}" in text
