"""templates/computeclass.yaml: a GKE ComputeClass (cloud.google.com/v1) from gke.computeClass, and the
rules that keep every one of its priorities able to hold the pod.

The ComputeClass API: https://cloud.google.com/kubernetes-engine/docs/reference/crds/computeclass
(the schema the rendered class is checked against is scripts/vllm_serving/cluster/computeclass-crd.yaml,
written from that page). Node label and taint of a class's nodes:
https://cloud.google.com/kubernetes-engine/docs/concepts/about-custom-compute-classes
"""

from __future__ import annotations

import hashlib

import pytest

from support import kubeschemas
from support.manifests import of_kind, one, render, serving_pod_spec
from vllm_serving.errors import InvalidValues

L4X2 = {"machineType": "g2-standard-24", "gpu": {"type": "nvidia-l4", "count": 2}}
H100X8 = {"machineType": "a3-highgpu-8g", "gpu": {"type": "nvidia-h100-80gb", "count": 8}}
CHAIN = [
    {
        **H100X8,
        "reservations": {"affinity": "Specific", "specific": [{"name": "h100-res", "project": "shared"}]},
        # a3-highgpu-8g carries 16 local SSDs: GKE wants them counted on a reservation priority
        "storage": {"localSSDCount": 16},
    },
    H100X8,
    {
        **H100X8,
        "flexStart": {"enabled": True, "nodeRecycling": {"leadTimeSeconds": 3600}},
        "maxRunDurationSeconds": 86400,
    },
    {**H100X8, "spot": True},
]


def with_class(priorities: list[dict], tensor: int = 8, **extra) -> dict:
    gke = {"accelerator": "nvidia-h100-80gb", "computeClass": {"create": True, "priorities": priorities}}
    for key, value in extra.items():
        gke[key] = value
    return {"parallelism": {"tensor": tensor}, "gke": gke}


def derived_name(release: str = "vllm", namespace: str = "default") -> str:
    """The name of a created class without gke.computeClass.name: full name and namespace, and a hash of both."""
    full = release if "vllm-serving" in release else f"{release}-vllm-serving"
    full = full[:55].rstrip("-")
    name = f"{full}-{namespace}"
    if name.startswith(("gke", "autopilot")):
        name = f"vllm-{name}"
    return f"{name[:54].rstrip('-')}-{hashlib.sha256(f'{namespace}/{full}'.encode()).hexdigest()[:8]}"


def refused(values: dict) -> str:
    with pytest.raises(InvalidValues) as err:
        render(values)
    return "\n".join(err.value.problems)


class TestRendered:
    def test_priorities_in_order_with_gke_defaults_written_out(self):
        cc = one(render(with_class(CHAIN)), "ComputeClass")
        assert cc["apiVersion"] == "cloud.google.com/v1"
        assert cc["metadata"]["name"] == derived_name()
        assert "namespace" not in cc["metadata"]  # cluster-scoped
        assert cc["spec"]["priorities"] == CHAIN
        assert cc["spec"]["whenUnsatisfiable"] == "DoNotScaleUp"
        assert cc["spec"]["nodePoolAutoCreation"] == {"enabled": True}
        assert cc["spec"]["activeMigration"] == {"optimizeRulePriority": False}

    def test_matches_the_computeclass_schema_written_from_gkes_reference(self):
        objects = render(with_class(CHAIN))
        assert kubeschemas.problems(one(objects, "ComputeClass"), "1.35.0") == []

    def test_the_schema_refuses_what_gke_refuses(self):
        cc = one(render(with_class(CHAIN)), "ComputeClass")
        cc["spec"]["whenUnsatisfiable"] = "Sometimes"
        cc["spec"]["priorities"][0]["reservations"]["affinity"] = "Any"
        problems = "\n".join(kubeschemas.problems(cc, "1.35.0"))
        assert "'Sometimes' is not one of ['ScaleUpAnyway', 'DoNotScaleUp']" in problems
        assert "'Any' is not one of ['Specific', 'AnyBestEffort', 'None']" in problems

    def test_named_class_and_its_options(self):
        values = with_class([L4X2], tensor=2)
        values["gke"]["computeClass"].update(
            name="llm-l4", whenUnsatisfiable="ScaleUpAnyway", nodePoolAutoCreation=False, activeMigration=True
        )
        cc = one(render(values), "ComputeClass")
        assert cc["metadata"]["name"] == "llm-l4"
        assert cc["spec"]["whenUnsatisfiable"] == "ScaleUpAnyway"
        assert cc["spec"]["nodePoolAutoCreation"] == {"enabled": False}
        assert cc["spec"]["activeMigration"] == {"optimizeRulePriority": True}

    def test_no_class_unless_asked(self):
        assert of_kind(render({}), "ComputeClass") == []
        assert of_kind(render({"gke": {"computeClass": {"name": "team-gpus"}}}), "ComputeClass") == []


class TestPodsSelectTheClass:
    def test_instead_of_the_accelerator_and_pool(self):
        spec = serving_pod_spec(render(with_class(CHAIN)))
        assert spec["nodeSelector"] == {"cloud.google.com/compute-class": derived_name()}
        assert {
            "key": "cloud.google.com/compute-class",
            "operator": "Equal",
            "value": derived_name(),
            "effect": "NoSchedule",
        } in spec["tolerations"]
        assert spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 8

    def test_a_name_yaml_would_read_as_a_boolean_stays_a_string(self):
        values = with_class([H100X8])
        values["gke"]["computeClass"]["name"] = "on"
        objects = render(values)
        assert one(objects, "ComputeClass")["metadata"]["name"] == "on"
        spec = serving_pod_spec(objects)
        assert spec["nodeSelector"] == {"cloud.google.com/compute-class": "on"}
        assert spec["tolerations"][1]["value"] == "on"

    def test_an_existing_class_by_name(self):
        spec = serving_pod_spec(render({"gke": {"computeClass": {"name": "team-gpus"}}}))
        assert spec["nodeSelector"] == {"cloud.google.com/compute-class": "team-gpus"}

    def test_autopilots_accelerator_class_keeps_the_accelerator_and_gke_adds_the_toleration(self):
        """Autopilot's built-in Accelerator class is not a custom class: Warden refuses a GPU Pod that selects
        it without cloud.google.com/gke-accelerator (how-to/autopilot-gpus)."""
        values = {"gke": {"mode": "autopilot", "computeClass": {"name": "Accelerator"}, "spot": True}}
        spec = serving_pod_spec(render(values))
        assert spec["nodeSelector"] == {
            "cloud.google.com/compute-class": "Accelerator",
            "cloud.google.com/gke-accelerator": "nvidia-l4",
            "cloud.google.com/gke-spot": "true",  # Spot Pods on Autopilot's classes are allowed
        }
        assert [t["key"] for t in spec["tolerations"]] == ["nvidia.com/gpu"]

    def test_the_test_hook_runs_on_the_same_nodes(self):
        objects = render(with_class(CHAIN))
        hook = next(j for j in of_kind(objects, "Job") if j["metadata"]["name"].endswith("-test"))
        assert hook["spec"]["template"]["spec"]["nodeSelector"] == {"cloud.google.com/compute-class": derived_name()}

    def test_a_long_release_name_still_names_a_valid_class(self):
        release = "r" * 53
        cc = one(render(with_class([H100X8]), release=release), "ComputeClass")
        assert cc["metadata"]["name"] == derived_name(release)
        assert len(cc["metadata"]["name"]) <= 63  # a label value: the pods select it

    def test_the_derived_name_is_per_namespace_and_never_begins_with_gke(self):
        """A ComputeClass is cluster-scoped: the same release in two namespaces makes two classes (one name
        for both would make Helm refuse the second install), and GKE refuses names beginning with gke."""
        names = {}
        for namespace in ("dev", "prod"):
            objects = render(with_class([H100X8]), release="gke-r", namespace=namespace)
            names[namespace] = one(objects, "ComputeClass")["metadata"]["name"]
            assert serving_pod_spec(objects)["nodeSelector"] == {"cloud.google.com/compute-class": names[namespace]}
        assert names == {ns: derived_name("gke-r", ns) for ns in names}
        assert names["dev"] != names["prod"]
        assert names["dev"].startswith("vllm-gke-r-vllm-serving-dev-")

    def test_spot_and_local_ssd_are_the_classs_not_the_pods(self):
        """GKE rejects a Pod selecting a custom class and cloud.google.com/gke-spot or
        gke-ephemeral-storage-local-ssd: the class's priorities carry them (spot, storage.localSSDCount)."""
        l4_ssd = {**L4X2, "storage": {"localSSDCount": 1}}
        values = with_class([l4_ssd, {**l4_ssd, "spot": True}], tensor=2)
        gcsfuse = {"bucket": "my-models", "fileCache": {"medium": "localSsd"}}
        values["weights"] = {"source": "gcsfuse", "gcsfuse": gcsfuse}
        objects = render(values)
        assert serving_pod_spec(objects)["nodeSelector"] == {"cloud.google.com/compute-class": derived_name()}
        assert one(objects, "ComputeClass")["spec"]["priorities"][1] == {**l4_ssd, "spot": True}

    def test_a_node_pools_priority_stands_alone(self):
        cc = one(render(with_class([H100X8, {"nodepools": ["h100-x8"]}])), "ComputeClass")
        assert cc["spec"]["priorities"][1] == {"nodepools": ["h100-x8"]}


class TestRefused:
    def test_a_priority_whose_gpus_cannot_hold_the_pod(self):
        problems = refused(with_class([H100X8, L4X2], tensor=8))
        assert (
            "gke.computeClass.priorities[1].gpu.count: 2 x nvidia-l4 per node cannot hold a pod of"
            " parallelism.tensor 8 GPUs; give every priority at least 8 GPUs, or lower parallelism.tensor"
        ) in problems
        assert "priorities[0]" not in problems

    def test_more_gpus_than_the_type_has_on_one_machine(self):
        problems = refused(with_class([{"gpu": {"type": "nvidia-l4", "count": 16}}], tensor=8))
        assert "gke.computeClass.priorities[0].gpu.count: 16 exceeds the 8 GPUs of the largest nvidia-l4" in problems

    def test_tensor_above_gke_accelerator_is_judged_by_the_priorities(self):
        """A created class decides the GPUs: 16 A100s per pod are fine if every priority has 16."""
        a100 = {"gpu": {"type": "nvidia-tesla-a100", "count": 16}, "machineType": "a2-megagpu-16g"}
        values = with_class([a100], tensor=16)
        values["gke"]["accelerator"] = "nvidia-l4"
        assert one(render(values), "ComputeClass")

    @pytest.mark.parametrize("class_", ["existing", "created"])
    def test_spot_beside_a_custom_class(self, class_):
        values = with_class(CHAIN, spot=True)
        if class_ == "existing":
            values["gke"]["computeClass"] = {"name": "team-gpus"}
        name = "team-gpus" if class_ == "existing" else derived_name()
        assert (
            f"gke.spot: true together with gke.computeClass ({name}): GKE rejects Pods that select a custom"
            " ComputeClass and cloud.google.com/gke-spot; Spot VMs come from the class: remove gke.spot and give"
            " the class a priority with spot: true"
        ) in refused(values)

    def test_class_names_gke_keeps(self):
        values = with_class([H100X8])
        values["gke"]["computeClass"]["name"] = "autopilot-h100"
        assert (
            "gke.computeClass.name: autopilot-h100 begins with autopilot, which GKE keeps for its own classes"
        ) in refused(values)
        assert "gke.computeClass.name: Balanced is GKE's built-in ComputeClass for general-purpose nodes" in refused(
            {"gke": {"mode": "autopilot", "computeClass": {"name": "Balanced"}}}
        )

    def test_spot_flex_start_and_reservations_exclude_each_other(self):
        mixed = {**CHAIN[0], "spot": True}
        problems = refused(with_class([mixed]))
        assert (
            "gke.computeClass.priorities[0]: spot and reservations exclude each other: a node is Spot,"
            " flex-start or reserved capacity, never two; split them into separate priorities"
        ) in problems

    def test_specific_reservation_needs_its_name(self):
        problems = refused(with_class([{**H100X8, "reservations": {"affinity": "Specific"}}]))
        assert "gke.computeClass.priorities[0].reservations.specific: required with affinity Specific" in problems

    def test_flex_start_lives_seven_days_at_most(self):
        flex = {**H100X8, "flexStart": {"enabled": True}, "maxRunDurationSeconds": 700000}
        problems = refused(with_class([flex]))
        assert (
            "gke.computeClass.priorities[0].maxRunDurationSeconds: 700000 is longer than flex-start nodes live"
            in problems
        )

    def test_node_pool_beside_a_class(self):
        problems = refused({**with_class([H100X8]), "gke": {**with_class([H100X8])["gke"], "nodePool": "h100"}})
        assert "gke.nodePool: h100 is set together with gke.computeClass; the class picks the node pools" in problems

    def test_autopilot_builtin_class_on_standard(self):
        problems = refused({"gke": {"computeClass": {"name": "Accelerator"}}})
        assert (
            "gke.computeClass.name: Accelerator is a built-in Autopilot ComputeClass, which a Standard cluster"
            " does not have; name a custom ComputeClass (gke.computeClass.create), or set gke.mode: autopilot"
        ) in problems

    def test_node_pools_named_on_autopilot(self):
        values = with_class([{**H100X8, "nodepools": ["h100"]}])
        values["gke"]["mode"] = "autopilot"
        problems = refused(values)
        assert "gke.computeClass.priorities[0].nodepools: Autopilot creates every node itself" in problems

    def test_create_without_priorities_and_priorities_without_create(self):
        assert "gke.computeClass.priorities: required with gke.computeClass.create" in refused(
            {"gke": {"computeClass": {"create": True}}}
        )
        assert "gke.computeClass.priorities: only read with gke.computeClass.create" in refused(
            {"gke": {"computeClass": {"name": "x", "priorities": [L4X2]}}}
        )

    def test_an_upper_case_name_only_for_an_existing_class(self):
        values = with_class([H100X8])
        values["gke"]["computeClass"]["name"] = "MyClass"
        assert "gke.computeClass.name: MyClass cannot name the ComputeClass the chart creates" in refused(values)

    def test_a_priority_without_its_gpu(self):
        assert "gke.computeClass.priorities[0].gpu: required, so that the chart can check" in refused(
            with_class([{"machineType": "g2-standard-24"}])
        )
