"""templates/podtemplate.yaml: the pod a queued-provisioning ProvisioningRequest provisions for.

The cluster autoscaler sizes the request from this template, so its scheduling fields must be the ones
the Job's pods have (the CRD's podTemplateRef description says so):
https://cloud.google.com/kubernetes-engine/docs/how-to/provisioningrequest
"""

from __future__ import annotations

from support.manifests import one, render

QUEUED = {
    "batch": {"enabled": True, "bucket": "my-batch", "provisioning": "queuedProvisioning"},
    "gke": {"accelerator": "nvidia-h100-80gb", "nodePool": "h100-queued"},
    "parallelism": {"tensor": 8},
}


def test_is_the_jobs_own_pod_spec():
    objects = render(QUEUED)
    template, job = one(objects, "PodTemplate"), one(objects, "Job")
    assert template["metadata"]["name"] == job["metadata"]["name"]
    assert template["template"]["spec"] == job["spec"]["template"]["spec"]
    spec = template["template"]["spec"]
    assert spec["nodeSelector"] == {
        "cloud.google.com/gke-accelerator": "nvidia-h100-80gb",
        "cloud.google.com/gke-nodepool": "h100-queued",
    }
    assert spec["containers"][0]["resources"]["requests"]["nvidia.com/gpu"] == 8


def test_gke_applies_its_pod_policies_to_it():
    """GKE's queued-provisioning manifests label the PodTemplate cloud.google.com/apply-warden-policies: "true":
    "This label is necessary for GKE to calculate node resource requirements for your Pods."."""
    labels = one(render(QUEUED), "PodTemplate")["metadata"]["labels"]
    assert labels["cloud.google.com/apply-warden-policies"] == "true"


def test_without_a_node_pool_it_selects_flex_start_as_gkes_auto_provisioning_variant():
    """GKE's node auto-provisioning PodTemplate selects the accelerator and cloud.google.com/gke-flex-start:
    "true"; without it, auto-provisioning makes pools of the legacy queued mode."""
    values = {**QUEUED, "gke": {"accelerator": "nvidia-h100-80gb"}}
    objects = render(values)
    template, job = one(objects, "PodTemplate"), one(objects, "Job")
    expected = {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb", "cloud.google.com/gke-flex-start": "true"}
    assert template["template"]["spec"]["nodeSelector"] == expected
    assert job["spec"]["template"]["spec"]["nodeSelector"] == expected
