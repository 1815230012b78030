"""Values the chart passes through to Kubernetes unread (securityContext, affinity, tolerations, extraContainers,
...) are checked by Helm itself: values.schema.json refers each to Kubernetes' own definition (`$defs`, written by
`vllm-serving docs` from kubernetes-validate's strict schema), so a plain `helm install` or an Argo CD sync refuses
a misspelt field that the API server would silently drop, and `vllm-serving validate` names it with a did-you-mean."""

from __future__ import annotations

import pytest

from paths import CHART, CI_FILES
from vllm_serving import chart as chart_mod
from vllm_serving import helm, kubedefs
from vllm_serving.errors import InvalidValues
from vllm_serving.verdict import chart_verdict

SCHEMA = chart_mod.schema(CHART)
SPREAD = {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule"}

# One mistake in each pass-through value, all in one values file (one helm run): Helm's line, validate's line.
MISTAKES = {
    "securityContext": {"runAsNonroot": True},
    "podSecurityContext": {"runAsUser": "root"},
    "affinity": {"nodeAfinity": {}},
    "tolerations": [{"key": "cloud.google.com/gke-spot", "operator": "Exists"}, {"key": "a", "efect": "NoSchedule"}],
    "topologySpreadConstraints": [SPREAD | {"labelSelectr": {}}],
    "env": [{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token", "optinal": True}}}],
    "extraVolumes": [{"name": "scratch", "emptydir": {}}],
    "extraVolumeMounts": [{"name": "scratch", "mountPath": "/scratch", "readonly": True}],
    "extraInitContainers": [{"name": "wait", "image": "busybox:1.37", "comand": ["true"]}],
    "extraContainers": [{"name": "proxy", "image": "envoyproxy/envoy:v1.34.1", "ports": [{"containerPort": "8080"}]}],
    "chatUI": {"securityContext": {"readOnlyRootFileSystem": True}, "podSecurityContext": {"fsgroup": 1000}},
    "tests": {"securityContext": {"privilged": False}, "podSecurityContext": {"runAsGroup": "nobody"}},
}
SAID = [
    ("securityContext: Additional property runAsNonroot is not allowed",
     "securityContext.runAsNonroot: unknown key; did you mean securityContext.runAsNonRoot?"),
    ("podSecurityContext.runAsUser: Invalid type. Expected: [integer,null], given: string",) * 2,
    ("affinity: Additional property nodeAfinity is not allowed",
     "affinity.nodeAfinity: unknown key; did you mean affinity.nodeAffinity?"),
    ("tolerations.1: Additional property efect is not allowed",
     "tolerations.1.efect: unknown key; did you mean tolerations.1.effect?"),
    ("topologySpreadConstraints.0: Additional property labelSelectr is not allowed",
     "topologySpreadConstraints.0.labelSelectr: unknown key; did you mean topologySpreadConstraints.0.labelSelector?"),
    ("env.0.valueFrom.secretKeyRef: Additional property optinal is not allowed",
     "env.0.valueFrom.secretKeyRef.optinal: unknown key; did you mean env.0.valueFrom.secretKeyRef.optional?"),
    ("extraVolumes.0: Additional property emptydir is not allowed",
     "extraVolumes.0.emptydir: unknown key; did you mean extraVolumes.0.emptyDir?"),
    ("extraVolumeMounts.0: Additional property readonly is not allowed",
     "extraVolumeMounts.0.readonly: unknown key; did you mean extraVolumeMounts.0.readOnly?"),
    ("extraInitContainers.0: Additional property comand is not allowed",
     "extraInitContainers.0.comand: unknown key; did you mean extraInitContainers.0.command?"),
    ("extraContainers.0.ports.0.containerPort: Invalid type. Expected: integer, given: string",) * 2,
    ("chatUI.securityContext: Additional property readOnlyRootFileSystem is not allowed",
     "chatUI.securityContext.readOnlyRootFileSystem: unknown key; did you mean"
     " chatUI.securityContext.readOnlyRootFilesystem?"),
    ("chatUI.podSecurityContext: Additional property fsgroup is not allowed",
     "chatUI.podSecurityContext.fsgroup: unknown key; did you mean chatUI.podSecurityContext.fsGroup?"),
    ("tests.securityContext: Additional property privilged is not allowed",
     "tests.securityContext.privilged: unknown key; did you mean tests.securityContext.privileged?"),
    ("tests.podSecurityContext.runAsGroup: Invalid type. Expected: [integer,null], given: string",) * 2,
]  # fmt: skip


def test_helm_refuses_each_mistake_and_validate_names_it():
    with pytest.raises(InvalidValues) as refused:
        helm.template(CHART, values=MISTAKES)
    helm_said = "\n".join(refused.value.problems)
    validate_said = chart_verdict(CHART, values=MISTAKES).problems
    for by_helm, by_validate in SAID:
        assert by_helm in helm_said
        assert by_validate in validate_said
    assert len(validate_said) == len(SAID), validate_said  # and nothing else ("Must validate all the schemas")


def pass_through_keys(node: dict, path: str = "") -> dict[str, str]:
    """values key -> the Kubernetes definition its schema refers to."""
    found = {}
    for key, sub in node.get("properties", {}).items():
        where = f"{path}.{key}" if path else key
        for part in [*sub.get("allOf", []), *sub.get("items", {}).get("allOf", [])]:
            if part.get("$ref", "").startswith(kubedefs.PREFIX):
                found[where] = part["$ref"].removeprefix(kubedefs.PREFIX)
        found |= pass_through_keys(sub, where)
    return found


def test_every_pass_through_key_has_a_mistake_above():
    keys = pass_through_keys(SCHEMA)
    assert set(keys) == {k for k in MISTAKES if k not in ("chatUI", "tests")} | {
        "chatUI.securityContext",
        "chatUI.podSecurityContext",
        "tests.securityContext",
        "tests.podSecurityContext",
    }
    assert keys["extraContainers"] == "io.k8s.api.core.v1.Container"


def test_the_definitions_are_kubernetes_own_and_strict():
    """`$defs` is what `vllm-serving docs` writes (test_docs checks it is current): Kubernetes' definitions,
    each object closed to unknown fields."""
    assert SCHEMA["$defs"] == kubedefs.definitions(SCHEMA)
    objects = [d for d in SCHEMA["$defs"].values() if "properties" in d]
    assert objects and all(d["additionalProperties"] is False for d in objects)


def test_the_scheduling_ci_file_passes():
    path = CHART / "ci" / "scheduling-values.yaml"
    assert path in CI_FILES
    assert chart_verdict(CHART, [path]).problems == []
