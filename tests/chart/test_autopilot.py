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


class TestNodeSelectors:
    def test_workload_separation_a_label_of_your_own_with_its_toleration(self):
        """Warden's denial begins "If not using workload separation": a custom key=value selector with a
        toleration of that taint is admitted (GKE "Configure workload separation")."""
        toleration = {"key": "team", "operator": "Equal", "value": "llm", "effect": "NoSchedule"}
        values = {"gke": {"mode": "autopilot"}, "nodeSelector": {"team": "llm"}, "tolerations": [toleration]}
        (deployment,) = [o for o in render(values) if o["kind"] == "Deployment"]
        assert deployment["spec"]["template"]["spec"]["nodeSelector"]["team"] == "llm"

    def test_flex_start_the_chart_emits_is_an_autopilot_key(self):
        values = {
            "gke": {"mode": "autopilot"},
            "batch": {"enabled": True, "bucket": "my-batch", "provisioning": "flexStart"},
            # the bucket brings GKE's GCSFuse sidecar, which Autopilot wants limited
            "weights": {
                "gcsfuse": {"sidecar": {"cpuLimit": "1", "memoryLimit": "2Gi", "ephemeralStorageLimit": "5Gi"}}
            },
        }
        (job,) = [o for o in render(values) if o["kind"] == "Job" and "batch" in o["metadata"]["name"]]
        selector = job["spec"]["template"]["spec"]["nodeSelector"]
        assert selector["cloud.google.com/gke-flex-start"] == "true"
        assert set(selector) <= set(chart_mod.rules(CHART)["autopilot"]["nodeSelectorKeys"])


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
        assert rules["systemLabelDomains"] == policy["systemLabelDomains"]

    def test_rules_yaml_capabilities_are_the_local_clusters_autopilot_policy(self):
        from vllm_serving.cluster import autopilot

        (policy,) = [p for p in autopilot.spec()["policies"] if "allowedCapabilities" in p]
        assert chart_mod.rules(CHART)["autopilot"]["allowedCapabilities"] == policy["allowedCapabilities"]

    def test_rules_yaml_host_paths_are_the_local_clusters_autopilot_policy(self):
        from vllm_serving.cluster import autopilot

        (policy,) = [p for p in autopilot.spec()["policies"] if "allowedHostPathPrefixes" in p]
        assert chart_mod.rules(CHART)["autopilot"]["hostPathPrefixes"] == policy["allowedHostPathPrefixes"]

    def test_rules_yaml_computeclass_facts_are_the_local_clusters_computeclass_rules(self):
        """The labels a custom class decides (the local admission policy) and the machine types whose
        reservations need localSSDCount (the local CRD's CEL rule) are the chart's rules.yaml copies."""
        import yaml

        from vllm_serving.cluster import computeclass, crds

        rules = chart_mod.rules(CHART)
        (policy,) = computeclass.spec()["policies"]
        assert rules["computeClass"]["classFieldLabels"] == policy["classFieldLabels"]
        crd = yaml.safe_load((crds.PACKAGE_DIR / "computeclass-crd.yaml").read_text())
        schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        item_rules = schema["properties"]["spec"]["properties"]["priorities"]["items"]["x-kubernetes-validations"]
        assert any(f"matches('{rules['computeClass']['localSsdMachineTypes']}')" in r["rule"] for r in item_rules)
        prefixes = rules["computeClass"]["reservedNamePrefixes"]
        assert schema["x-kubernetes-validations"][0]["rule"] == " && ".join(
            f"!self.metadata.name.startsWith('{p}')" for p in prefixes
        )

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
