"""How the local cluster wires the LeaderWorkerSet controller's webhooks (no cluster needed)."""

from __future__ import annotations

import base64

import pytest
import yaml

from vllm_serving import gobuild
from vllm_serving.cluster import build, crds, lws
from vllm_serving.errors import ClusterError, ToolMissing

NAME_LABEL = "leaderworkerset.sigs.k8s.io/name"


@pytest.fixture(scope="module")
def upstream() -> lws.Upstream:
    try:
        gobuild.find_go()
    except ToolMissing as err:
        pytest.skip(str(err))
    return lws.load(lws.pinned_version())


def test_controller_and_crd_come_from_one_lws_version():
    crd_versions = {s.version for s in crds.sources() if s.module == lws.MODULE}
    assert crd_versions == {build.pinned_versions()[lws.MODULE]}
    assert lws.pinned_version() in crd_versions


def test_a_controller_crd_version_mismatch_names_both(tmp_path):
    (tmp_path / "go.mod").write_text(f"module x\n\nrequire (\n\t{lws.MODULE} v0.1.0\n)\n")
    with pytest.raises(ClusterError, match=r"sigs\.k8s\.io/lws@v0\.1\.0 .* bump both together"):
        lws.pinned_version(tmp_path)
    (tmp_path / "go.mod").write_text("module x\n")
    with pytest.raises(ClusterError, match=r"does not require sigs\.k8s\.io/lws"):
        lws.pinned_version(tmp_path)


def test_upstream_webhooks_with_kustomize_patches(upstream):
    by_kind = {c["kind"]: c for c in upstream.webhook_configurations}
    assert set(by_kind) == {"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}
    mutating = {w["name"]: w for w in by_kind["MutatingWebhookConfiguration"]["webhooks"]}
    validating = {w["name"]: w for w in by_kind["ValidatingWebhookConfiguration"]["webhooks"]}
    assert {"mleaderworkerset.kb.io", "mpod.kb.io"} <= set(mutating)
    assert {"vleaderworkerset.kb.io", "vpod.kb.io"} <= set(validating)
    # config/webhook's patches: only pods of a LeaderWorkerSet go through the pod webhooks.
    for hook in (mutating["mpod.kb.io"], validating["vpod.kb.io"]):
        assert hook["objectSelector"] == {"matchExpressions": [{"key": NAME_LABEL, "operator": "Exists"}]}
        assert hook["clientConfig"]["service"]["path"].endswith("-v1-pod")
    assert "objectSelector" not in mutating["mleaderworkerset.kb.io"]


def test_webhook_configurations_call_loopback_with_the_cluster_ca(upstream):
    ca = b"-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n"
    configs = lws.webhook_configurations(upstream, port=12345, ca=ca)
    assert [c["metadata"]["name"] for c in configs] == [
        "lws-" + c["metadata"]["name"] for c in upstream.webhook_configurations
    ]
    for config, original in zip(configs, upstream.webhook_configurations, strict=True):
        upstream_hooks = {h["name"]: h for h in original["webhooks"]}
        # The manager runs without the DisaggregatedSet controller: its webhook is left out.
        assert [h["name"] for h in config["webhooks"]] == [n for n in upstream_hooks if "disaggregatedset" not in n]
        for hook in config["webhooks"]:
            before = upstream_hooks[hook["name"]]
            path = before["clientConfig"]["service"]["path"]
            assert hook["clientConfig"] == {
                "url": f"https://127.0.0.1:12345{path}",
                "caBundle": base64.b64encode(ca).decode(),
            }
            assert {k: v for k, v in hook.items() if k != "clientConfig"} == {
                k: v for k, v in before.items() if k != "clientConfig"
            }
    assert "url" not in upstream.webhook_configurations[0]["webhooks"][0]["clientConfig"]  # not modified in place
    names = {h["name"] for c in configs for h in c["webhooks"]}
    assert names == {"mleaderworkerset.kb.io", "mpod.kb.io", "vleaderworkerset.kb.io", "vpod.kb.io"}


def test_json_patch_ops():
    obj = {"webhooks": [{"name": "a"}, {"name": "b"}], "metadata": {"name": "x"}}
    lws._json_patch(
        obj,
        [
            {"op": "replace", "path": "/webhooks/1", "value": {"name": "B"}},
            {"op": "add", "path": "/webhooks/-", "value": {"name": "c"}},
            {"op": "add", "path": "/metadata/labels", "value": {"k": "v"}},
            {"op": "remove", "path": "/webhooks/0"},
        ],
    )
    assert obj == {"webhooks": [{"name": "B"}, {"name": "c"}], "metadata": {"name": "x", "labels": {"k": "v"}}}
    with pytest.raises(ClusterError, match="unsupported"):
        lws._json_patch(obj, [{"op": "move", "path": "/metadata/name", "from": "/x"}])


def test_manager_configuration(tmp_path):
    path = lws.config_file(
        tmp_path / "lws.yaml", webhook_port=1, cert_dir=tmp_path / "certs", metrics_port=2, health_port=3
    )
    config = yaml.safe_load(path.read_text())
    assert config["apiVersion"] == "config.lws.x-k8s.io/v1alpha1"
    assert config["internalCertManagement"] == {"enable": False}  # the cluster's CA issued the serving cert
    assert config["leaderElection"] == {"leaderElect": False}
    assert config["webhook"] == {"host": "127.0.0.1", "port": 1, "certDir": str(tmp_path / "certs")}
    assert config["metrics"]["bindAddress"] == "127.0.0.1:2"
    assert config["health"]["healthProbeBindAddress"] == "127.0.0.1:3"
