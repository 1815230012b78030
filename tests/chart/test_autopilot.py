"""gke.mode autopilot: what the chart renders for GKE Autopilot. What the chart's rules (templates/validate/)
refuse before Autopilot's admission (GKE Warden) would is in bad-values/autopilot-*.yaml (Helm and `vllm-serving
validate`); the local cluster's Autopilot policies (tests/cluster/test_autopilot_admission.py) play Warden."""

from __future__ import annotations

import pytest

from paths import CHART, CI_FILES, VALUES_FILES
from support.manifests import render, render_file
from vllm_serving import chart as chart_mod

SBD = "cloud.google.com.node-restriction.kubernetes.io/gke-secondary-boot-disk-"


def autopilot_files():
    return [
        p for p in VALUES_FILES + CI_FILES if chart_mod.load_values_file(p).get("gke", {}).get("mode") == "autopilot"
    ]


class TestStandard:
    def test_allows_a_node_pool_and_any_node_selector(self):
        values = {"gke": {"nodePool": "l4-pool"}, "nodeSelector": {"disk": "ssd"}}
        assert render(values)


class TestRendered:
    def test_a_39_character_image_makes_a_valid_label_key(self):
        image = "a" * 39
        boot = {"enabled": True, "diskImage": image, "project": "my-project"}
        objects = render({"gke": {"mode": "autopilot", "secondaryBootDisk": boot}})
        (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
        (key,) = [k for k in deployment["spec"]["template"]["spec"]["nodeSelector"] if k.startswith(SBD)]
        assert len(key.split("/", 1)[1]) == 63  # a label key's name part: 63 characters at most

    def test_rules_yaml_keys_are_the_local_clusters_autopilot_policy(self):
        """The chart's copy of Autopilot's node selector keys and the local cluster's policy (which plays
        GKE Warden) must agree, or the chart would refuse what Autopilot admits or render what it refuses."""
        from vllm_serving.cluster import autopilot

        (policy,) = [p for p in autopilot.spec()["policies"] if "allowedKeys" in p]
        rules = chart_mod.rules(CHART)["autopilot"]
        assert rules["nodeSelectorKeys"] == policy["allowedKeys"]
        assert rules["nodeSelectorKeyPrefixes"] == policy["allowedKeyPrefixes"]

    @pytest.mark.parametrize("path", autopilot_files(), ids=lambda p: p.name)
    def test_autopilot_files_render_only_allowed_selectors_and_no_gpu_toleration_without_gpus(self, path):
        rules = chart_mod.rules(CHART)["autopilot"]
        for obj in render_file(path):
            if obj["kind"] not in ("Deployment", "Job", "LeaderWorkerSet"):
                continue
            specs = (
                [obj["spec"]["leaderWorkerTemplate"][t]["spec"] for t in ("leaderTemplate", "workerTemplate")]
                if obj["kind"] == "LeaderWorkerSet"
                else [obj["spec"]["template"]["spec"]]
            )
            for spec in specs:
                for key in spec.get("nodeSelector", {}):
                    assert key in rules["nodeSelectorKeys"] or key.startswith(SBD), (obj["metadata"]["name"], key)
                gpus = any("nvidia.com/gpu" in c["resources"].get("limits", {}) for c in spec["containers"])
                tolerates_gpu = any(t.get("key") == "nvidia.com/gpu" for t in spec.get("tolerations", []))
                assert gpus or not tolerates_gpu, obj["metadata"]["name"]
                privileged = [
                    c
                    for c in spec.get("initContainers", []) + spec["containers"]
                    if (c.get("securityContext") or {}).get("privileged")
                ]
                assert privileged == []
