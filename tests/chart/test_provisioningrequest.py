"""templates/provisioningrequest.yaml: queued provisioning for the batch Job (batch.provisioning:
queuedProvisioning), one ProvisioningRequest for the GPUs of every pod the Job runs at once.

Consumers: GKE's cluster autoscaler with queued provisioning
(https://cloud.google.com/kubernetes-engine/docs/how-to/provisioningrequest) and the
ProvisioningRequest API of k8s.io/autoscaler/cluster-autoscaler/apis (v1, the CRD the local cluster
serves, see crds.yaml), whose provisioningrequest types define the pod annotation keys used here.
"""

from __future__ import annotations

import pytest

from support import kubeschemas
from support.manifests import of_kind, one, render
from vllm_serving.errors import InvalidValues

QUEUED = {
    "batch": {
        "enabled": True,
        "bucket": "my-batch",
        "shards": 8,
        "parallelism": 4,
        "provisioning": "queuedProvisioning",
        "maxRunDurationSeconds": 43200,
    },
    "parallelism": {"tensor": 2},
}


class TestQueuedProvisioning:
    def test_one_request_for_every_pod_that_runs_at_once(self):
        objects = render(QUEUED)
        pr = one(objects, "ProvisioningRequest")
        job = one(objects, "Job")
        assert pr["apiVersion"] == "autoscaling.x-k8s.io/v1"
        assert pr["spec"]["provisioningClassName"] == "queued-provisioning.gke.io"
        assert pr["spec"]["podSets"] == [{"count": 4, "podTemplateRef": {"name": job["metadata"]["name"]}}]
        assert pr["spec"]["parameters"] == {"maxRunDurationSeconds": "43200"}

    def test_the_jobs_pods_consume_it(self):
        objects = render(QUEUED)
        pr, job = one(objects, "ProvisioningRequest"), one(objects, "Job")
        annotations = job["spec"]["template"]["metadata"]["annotations"]
        assert annotations["autoscaling.x-k8s.io/consume-provisioning-request"] == pr["metadata"]["name"]
        assert annotations["autoscaling.x-k8s.io/provisioning-class-name"] == "queued-provisioning.gke.io"
        assert {"key": "cloud.google.com/gke-queued", "operator": "Exists", "effect": "NoSchedule"} in job["spec"][
            "template"
        ]["spec"]["tolerations"]

    def test_a_new_request_when_the_values_change(self):
        """Its spec is immutable (the CRD's x-kubernetes-validations): changed values need a new name."""
        first = one(render(QUEUED), "ProvisioningRequest")["metadata"]["name"]
        changed = {**QUEUED, "batch": {**QUEUED["batch"], "parallelism": 2}}
        assert one(render(changed), "ProvisioningRequest")["metadata"]["name"] != first

    def test_matches_the_upstream_crd(self):
        pr = one(render(QUEUED), "ProvisioningRequest")
        assert kubeschemas.problems(pr, "1.35.0") == []
        pr["spec"]["parameters"]["maxRunDurationSeconds"] = 43200
        assert kubeschemas.problems(pr, "1.35.0"), "a non-string parameter must be refused"

    def test_only_for_queued_provisioning(self):
        for provisioning in ("onDemand", "flexStart"):
            values = {**QUEUED, "batch": {**QUEUED["batch"], "provisioning": provisioning}}
            objects = render(values)
            assert of_kind(objects, "ProvisioningRequest") == of_kind(objects, "PodTemplate") == []
            assert "autoscaling.x-k8s.io/consume-provisioning-request" not in (
                one(objects, "Job")["spec"]["template"]["metadata"].get("annotations", {})
            )

    def test_runs_at_most_seven_days(self):
        values = {**QUEUED, "batch": {**QUEUED["batch"], "maxRunDurationSeconds": 700000}}
        with pytest.raises(InvalidValues) as err:
            render(values)
        assert "batch.maxRunDurationSeconds: Must be less than or equal to 604800" in "\n".join(err.value.problems)
