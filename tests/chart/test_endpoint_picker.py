"""templates/endpoint-picker/: the Inference Extension's endpoint picker (EPP), its Service, RBAC and config.

The EPP's container args are checked with the EPP's own flag set (support.eppflags: the Options of
sigs.k8s.io/gateway-api-inference-extension v1.5.0's pkg/epp/server, built from the Go module).
"""

from __future__ import annotations

import functools

import pytest
import yaml

from paths import CI_FILES, VALUES_FILES
from support import eppflags
from support.manifests import of_kind, one, render, render_file
from vllm_serving.cluster import crds
from vllm_serving.preflight import apis

GATEWAY = {"gateway": {"enabled": True}}


def picker(objects: list[dict]) -> dict:
    return next(o for o in of_kind(objects, "Deployment") if o["metadata"]["name"].endswith("-epp"))


class TestEndpointPicker:
    def test_nothing_without_the_gateway(self):
        objects = render({})
        assert not [o for o in objects if o["metadata"]["name"].endswith("-epp")]

    def test_runs_on_cpu_nodes(self):
        spec = picker(render(GATEWAY))["spec"]["template"]["spec"]
        # GPU nodes carry the nvidia.com/gpu NoSchedule taint: without a toleration the pod cannot land there.
        assert "tolerations" not in spec
        assert "nvidia.com/gpu" not in str(spec["containers"][0]["resources"])
        assert "nodeSelector" not in spec

    def test_watches_its_pool_and_changes_nothing(self):
        objects = render(GATEWAY)
        role = one(objects, "Role")
        assert {verb for rule in role["rules"] for verb in rule["verbs"]} == {"get", "list", "watch"}
        assert {r for rule in role["rules"] for r in rule["resources"]} == {
            "inferencepools",
            "inferenceobjectives",
            "inferencemodelrewrites",
            "pods",
        }
        binding = one(objects, "RoleBinding")
        spec = picker(objects)["spec"]["template"]["spec"]
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": spec["serviceAccountName"], "namespace": "default"}
        ]
        assert binding["roleRef"]["name"] == role["metadata"]["name"]

    def test_service_is_what_the_pool_names(self):
        objects = render(GATEWAY)
        ref = one(objects, "InferencePool")["spec"]["endpointPickerRef"]
        service = next(o for o in of_kind(objects, "Service") if o["metadata"]["name"] == ref["name"])
        grpc = next(p for p in service["spec"]["ports"] if p["port"] == ref["port"]["number"])
        container = picker(objects)["spec"]["template"]["spec"]["containers"][0]
        assert grpc["targetPort"] in {p["name"] for p in container["ports"]}
        assert service["spec"]["selector"].items() <= picker(objects)["spec"]["template"]["metadata"]["labels"].items()

    def test_config_scores_lora_affinity_only_with_adapters(self):
        plain = yaml.safe_load(one(render(GATEWAY), "ConfigMap")["data"]["config.yaml"])
        assert plain["kind"] == "EndpointPickerConfig"
        assert [p["type"] for p in plain["plugins"]] == [
            "queue-scorer",
            "kv-cache-utilization-scorer",
            "prefix-cache-scorer",
        ]
        lora = {**GATEWAY, "lora": {"adapters": [{"name": "sql", "huggingface": "o/sql"}]}}
        config = yaml.safe_load(one(render(lora), "ConfigMap")["data"]["config.yaml"])
        assert "lora-affinity-scorer" in [p["type"] for p in config["plugins"]]
        refs = {p["pluginRef"] for p in config["schedulingProfiles"][0]["plugins"]}
        assert refs == {p["type"] for p in config["plugins"]}

    def test_flow_control_is_a_feature_gate_of_the_config_file(self):
        """v1.5.0 reads feature gates from the config file (pkg/epp/config/loader); the
        ENABLE_EXPERIMENTAL_FLOW_CONTROL_LAYER variable is deprecated there."""
        plain = yaml.safe_load(one(render(GATEWAY), "ConfigMap")["data"]["config.yaml"])
        assert "featureGates" not in plain
        held = {"gateway": {"enabled": True, "endpointPicker": {"flowControl": True}}}
        config = yaml.safe_load(one(render(held), "ConfigMap")["data"]["config.yaml"])
        assert config["featureGates"] == ["flowControl"]
        env = picker(render(held))["spec"]["template"]["spec"]["containers"][0]["env"]
        assert not [e for e in env if e["name"].startswith("ENABLE_EXPERIMENTAL")]

    def test_holding_requests_ignores_the_gateways_stale_endpoint_subset(self):
        """A request queued while the pool was empty carries the gateway's empty endpoint subset; without
        --disable-endpoint-subset-filter it never reaches the pods that come up (GIE #2117). The picker's
        own request path is played in test_scaledobject.TestThePickerAtZeroPods."""
        held = {"gateway": {"enabled": True, "endpointPicker": {"flowControl": True}}}
        assert (
            "--disable-endpoint-subset-filter"
            in picker(render(held))["spec"]["template"]["spec"]["containers"][0]["args"]
        )
        assert (
            "--disable-endpoint-subset-filter"
            not in picker(render(GATEWAY))["spec"]["template"]["spec"]["containers"][0]["args"]
        )

    def test_ext_proc_port_claims_no_cleartext_protocol(self):
        """The picker serves gRPC over TLS (--secure-serving, on by default); appProtocol http2 tells gateways
        that honour it (Istio, kgateway) to speak cleartext HTTP/2. Upstream sets none
        (config/charts/epplib/templates/_service.yaml@v1.5.0)."""
        service = next(o for o in of_kind(render(GATEWAY), "Service") if o["metadata"]["name"].endswith("-epp"))
        grpc = next(p for p in service["spec"]["ports"] if p["name"] == "grpc-ext-proc")
        assert grpc == {"name": "grpc-ext-proc", "port": 9002, "targetPort": "grpc", "protocol": "TCP"}

    def test_args_name_the_pool(self):
        args = picker(render(GATEWAY))["spec"]["template"]["spec"]["containers"][0]["args"]
        assert args[args.index("--pool-name") + 1] == one(render(GATEWAY), "InferencePool")["metadata"]["name"]
        assert args[args.index("--config-file") + 1] == "/config/config.yaml"


@functools.cache
def rendered_pickers() -> dict[str, tuple[list[str], str]]:
    """Each gateway values file's picker argv and config file text."""
    found = {}
    for path in VALUES_FILES + CI_FILES:
        objects = render_file(path)
        for deployment in of_kind(objects, "Deployment"):
            if deployment["metadata"]["name"].endswith("-epp"):
                config = next(c for c in of_kind(objects, "ConfigMap") if c["metadata"]["name"].endswith("-epp"))
                args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
                found[path.name] = (args, config["data"]["config.yaml"])
    return found


@pytest.mark.epp_flags
class TestEppFlagSet:
    def test_every_rendered_picker_argv_passes_the_epps_own_flags(self):
        argvs = {name: args for name, (args, _) in rendered_pickers().items()}
        assert argvs, "no values file enables the gateway"
        verdicts = eppflags.check(list(argvs.values()))
        assert {name: v.error for name, v in zip(argvs, verdicts, strict=True) if not v.ok} == {}
        flags = verdicts[0].flags
        assert flags["pool-name"] and flags["config-file"] == "/config/config.yaml"
        assert flags["metrics-endpoint-auth"] == "false"
        # pprof shares the metrics port, which scrapers reach without a token.
        assert flags["enable-pprof"] == "false"
        # The picker that holds requests ignores the gateway's stale endpoint subset (a flag of this release).
        held = dict(zip(argvs, verdicts, strict=True))["gateway-scale-to-zero-values.yaml"]
        assert held.flags["disable-endpoint-subset-filter"] == "true"

    def test_every_rendered_picker_config_passes_the_epps_own_loader(self):
        configs = {name: config for name, (_, config) in rendered_pickers().items()}
        verdicts = dict(zip(configs, eppflags.check_configs(list(configs.values())), strict=True))
        assert {name: v.error for name, v in verdicts.items() if not v.ok} == {}
        # The scale-to-zero file's picker holds requests; the others do not.
        gates = {name: v.feature_gates for name, v in verdicts.items()}
        assert gates.pop("gateway-scale-to-zero-values.yaml") == ["flowControl"]
        assert set(map(tuple, gates.values())) == {()}

    def test_the_loader_still_refuses_what_it_must(self):
        (_, config), *_ = rendered_pickers().values()
        unknown_gate, unknown_plugin, unknown_field = eppflags.check_configs(
            [
                config + "featureGates: [flowCtl]\n",
                config.replace("type: queue-scorer", "type: queue-scorr"),
                config + "queueing: {}\n",
            ]
        )
        assert "feature gate 'flowCtl' is unknown or unregistered" in unknown_gate.error
        assert "plugin type 'queue-scorr' is not registered" in unknown_plugin.error
        assert 'strict decoding error: unknown field "queueing"' in unknown_field.error

    def test_the_flag_set_still_refuses_what_it_must(self):
        unknown, no_pool, both_configs = eppflags.check(
            [
                ["--pool-name", "p", "--no-such-flag"],
                ["--config-file", "/c.yaml"],
                ["--pool-name", "p", "--config-file", "/c", "--config-text", "x"],
            ]
        )
        assert "unknown flag: --no-such-flag" in unknown.error
        assert "either pool-name or endpoint-selector must be set" in no_pool.error
        assert "can not be set at the same time" in both_configs.error

    def test_the_checker_pins_the_charts_epp_release(self):
        """One release everywhere: the image, the Go module the checks build, the local cluster's CRDs and
        the CRDs preflight tells users to install."""
        pin = eppflags.pinned_release()
        values = yaml.safe_load((eppflags.SOURCE.parents[1] / "charts/vllm-serving/values.yaml").read_text())
        assert values["gateway"]["endpointPicker"]["image"]["tag"] == pin == "v1.5.0"
        (source,) = [s for s in crds.sources() if s.module == "sigs.k8s.io/gateway-api-inference-extension"]
        assert source.version == pin
        install = apis.CRDS[("inference.networking.k8s.io", "InferencePool")].install
        assert f"releases/download/{pin}/manifests.yaml" in install
