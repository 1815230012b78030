"""templates/serviceaccount.yaml."""

from __future__ import annotations

from support.manifests import of_kind, one, render, serving_pod_spec

SERVICE_ACCOUNT = "templates/serviceaccount.yaml"


class TestServiceAccount:
    def test_created_with_release_name_and_no_token_automount(self):
        account = one(render({}, SERVICE_ACCOUNT), "ServiceAccount")
        assert account["metadata"]["name"] == "vllm-vllm-serving"
        assert account["automountServiceAccountToken"] is False
        assert "annotations" not in account["metadata"]

    def test_workload_identity_annotation(self):
        account = one(
            render(
                {
                    "serviceAccount": {
                        "gcpServiceAccount": "vllm@proj.iam.gserviceaccount.com",
                        "annotations": {"a": "b"},
                    }
                },
                SERVICE_ACCOUNT,
            ),
            "ServiceAccount",
        )
        assert account["metadata"]["annotations"] == {
            "iam.gke.io/gcp-service-account": "vllm@proj.iam.gserviceaccount.com",
            "a": "b",
        }

    def test_existing_account_is_used_not_created(self):
        objects = render({"serviceAccount": {"create": False, "name": "inference"}})
        assert of_kind(objects, "ServiceAccount") == []
        assert serving_pod_spec(objects)["serviceAccountName"] == "inference"

    def test_pod_uses_the_created_account(self):
        objects = render({"serviceAccount": {"name": "vllm-sa"}})
        assert one(objects, "ServiceAccount")["metadata"]["name"] == "vllm-sa"
        assert serving_pod_spec(objects)["serviceAccountName"] == "vllm-sa"
