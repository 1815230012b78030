"""templates/poddisruptionbudget.yaml."""

from __future__ import annotations

from vllm_serving.manifests import of_kind, one, render


class TestPodDisruptionBudget:
    def test_off_by_default(self):
        assert of_kind(render({}), "PodDisruptionBudget") == []

    def test_selects_serving_pods_with_max_unavailable(self):
        pdb = one(render({"podDisruptionBudget": {"enabled": True, "maxUnavailable": "50%"}}), "PodDisruptionBudget")
        assert pdb["apiVersion"] == "policy/v1"
        assert pdb["spec"]["maxUnavailable"] == "50%"
        assert pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "server"
