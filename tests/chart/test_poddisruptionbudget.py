"""templates/poddisruptionbudget.yaml."""

from __future__ import annotations

import pytest

from support.manifests import of_kind, one, render
from vllm_serving.errors import InvalidValues


class TestPodDisruptionBudget:
    def test_off_by_default(self):
        assert of_kind(render({}), "PodDisruptionBudget") == []

    def test_selects_serving_pods_with_max_unavailable(self):
        pdb = one(render({"podDisruptionBudget": {"enabled": True, "maxUnavailable": "50%"}}), "PodDisruptionBudget")
        assert pdb["apiVersion"] == "policy/v1"
        assert pdb["spec"]["maxUnavailable"] == "50%"
        assert pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "server"

    def test_multi_node_budget_counts_groups_in_the_safe_form(self):
        """Evicting any pod of a LeaderWorkerSet group recreates the group (RecreateGroupOnPodRestart), and
        the disruption controller counts pods. N groups as N x pipeline pods would let a drain evict one pod
        from each of that many groups; N pods never takes more than N groups down."""
        values = {
            "parallelism": {"tensor": 8, "pipeline": 3},
            "gke": {"accelerator": "nvidia-h100-80gb"},
            "podDisruptionBudget": {"enabled": True, "maxUnavailable": 2},
        }
        objects = render(values)
        pdb = one(objects, "PodDisruptionBudget")
        assert pdb["spec"]["maxUnavailable"] == 2  # at most two groups, whichever pods a drain picks
        selector = pdb["spec"]["selector"]
        assert selector["matchExpressions"] == [
            {"key": "app.kubernetes.io/component", "operator": "In", "values": ["server", "worker"]}
        ]
        template = one(objects, "LeaderWorkerSet")["spec"]["leaderWorkerTemplate"]
        for role in ("leaderTemplate", "workerTemplate"):
            labels = template[role]["metadata"]["labels"]
            assert selector["matchLabels"].items() <= labels.items()
            assert labels["app.kubernetes.io/component"] in selector["matchExpressions"][0]["values"]

    def test_multi_node_percentage_is_refused(self):
        values = {
            "parallelism": {"tensor": 8, "pipeline": 2},
            "gke": {"accelerator": "nvidia-h100-80gb"},
            "podDisruptionBudget": {"enabled": True, "maxUnavailable": "50%"},
        }
        with pytest.raises(InvalidValues) as err:
            render(values)
        assert err.value.problems == [
            "podDisruptionBudget.maxUnavailable: 50% counts pods, and with parallelism.pipeline 2 each evicted pod"
            " takes its whole group down, so more groups than that could go; use a count of groups (1)"
        ]
