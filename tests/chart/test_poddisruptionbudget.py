"""templates/poddisruptionbudget.yaml."""

from __future__ import annotations

from support.manifests import of_kind, one, render


class TestPodDisruptionBudget:
    def test_off_by_default(self):
        assert of_kind(render({}), "PodDisruptionBudget") == []

    def test_selects_serving_pods_with_max_unavailable(self):
        pdb = one(render({"podDisruptionBudget": {"enabled": True, "maxUnavailable": "50%"}}), "PodDisruptionBudget")
        assert pdb["apiVersion"] == "policy/v1"
        assert pdb["spec"]["maxUnavailable"] == "50%"
        assert pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "server"

    def test_multi_node_budget_covers_whole_groups(self):
        """Evicting any pod of a LeaderWorkerSet group recreates the group (RecreateGroupOnPodRestart), and
        the disruption controller counts pods: the budget selects leaders and workers, pipeline pods per group."""
        values = {
            "parallelism": {"tensor": 8, "pipeline": 3},
            "gke": {"accelerator": "nvidia-h100-80gb"},
            "podDisruptionBudget": {"enabled": True, "maxUnavailable": 2},
        }
        objects = render(values)
        pdb = one(objects, "PodDisruptionBudget")
        assert pdb["spec"]["maxUnavailable"] == 6  # two groups of three pods
        selector = pdb["spec"]["selector"]
        assert selector["matchExpressions"] == [
            {"key": "app.kubernetes.io/component", "operator": "In", "values": ["server", "worker"]}
        ]
        template = one(objects, "LeaderWorkerSet")["spec"]["leaderWorkerTemplate"]
        for role in ("leaderTemplate", "workerTemplate"):
            labels = template[role]["metadata"]["labels"]
            assert selector["matchLabels"].items() <= labels.items()
            assert labels["app.kubernetes.io/component"] in selector["matchExpressions"][0]["values"]

    def test_multi_node_percentage_applies_to_pods(self):
        values = {
            "parallelism": {"tensor": 8, "pipeline": 2},
            "gke": {"accelerator": "nvidia-h100-80gb"},
            "podDisruptionBudget": {"enabled": True, "maxUnavailable": "50%"},
        }
        assert one(render(values), "PodDisruptionBudget")["spec"]["maxUnavailable"] == "50%"
