"""`vllm-serving up`: the README's main job."""

from __future__ import annotations

import re
import uuid

import pytest

from paths import VALUES_FILES
from vllm_serving import cli

pytestmark = pytest.mark.cluster

L4 = next(str(p) for p in VALUES_FILES if p.name == "gemma-2-9b-it-l4.yaml")
MULTINODE = next(str(p) for p in VALUES_FILES if p.name == "llama-3.1-405b-instruct-h100-multinode.yaml")


def test_installs_waits_and_shows_where_pods_run(vllm_cluster, capsys):
    namespace = f"up-{uuid.uuid4().hex[:6]}"
    args = ["up", L4, "--kubeconfig", str(vllm_cluster.kubeconfig), "--namespace", namespace, "--release", "gemma"]
    try:
        assert cli.main(args) == 0
        out = capsys.readouterr().out
        assert f"namespace {namespace} created, enforcing Pod Security baseline" in out
        assert "release gemma revision 1 installed" in out
        _header, row = [line.split() for line in out.split("POD ", 1)[1].splitlines()[:2]]
        assert row[1:3] == ["server", "Ready"]
        assert row[5:7] == ["nvidia-l4", "2"]
        assert "STATUS: deployed" in out
        # again: an upgrade in place
        assert cli.main(args) == 0
        assert "release gemma revision 2 installed" in capsys.readouterr().out
    finally:
        from vllm_serving.release import Release, delete_namespace

        Release("gemma", namespace, vllm_cluster.kubeconfig).uninstall()
        delete_namespace(vllm_cluster.kubeconfig, namespace)


def test_starts_the_local_cluster_when_none_runs_and_reuses_it(local_cluster_name, capsys):
    from vllm_serving.cluster.local import LocalCluster, default_state_dir

    namespace = f"up-{uuid.uuid4().hex[:6]}"
    args = ["up", L4, "--cluster-name", local_cluster_name, "--namespace", namespace]
    try:
        assert cli.main(args) == 0
        assert f"local cluster '{local_cluster_name}' started" in capsys.readouterr().out
        assert cli.main(args) == 0
        assert f"local cluster '{local_cluster_name}' is running" in capsys.readouterr().out
    finally:
        LocalCluster.from_state(default_state_dir(local_cluster_name)).stop()


def test_invalid_values_stop_before_any_cluster_work(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("parallelism: {tensor: 3}\n")
    assert cli.main(["up", str(bad), "--kubeconfig", str(tmp_path / "no-such-kubeconfig")]) == 1
    err = capsys.readouterr().err
    assert "parallelism.tensor: 3 is not a power of two; use 1, 2, 4 or 8" in err


@pytest.fixture
def local_cluster_name(vllm_cluster):
    if vllm_cluster.local is None:
        pytest.skip("starts a local cluster; the session runs against another one")
    return f"up-test-{uuid.uuid4().hex[:6]}"


def test_a_kubeconfig_that_cannot_be_loaded_or_reached_is_an_error_not_a_traceback(tmp_path, capsys):
    assert cli.main(["up", L4, "--kubeconfig", str(tmp_path / "missing")]) == 4
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot load the kubeconfig {tmp_path / 'missing'}: ")
    assert "Traceback" not in err
    unreachable = tmp_path / "unreachable"
    unreachable.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: x}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n"
        "current-context: c\n"
    )
    assert cli.main(["up", L4, "--kubeconfig", str(unreachable)]) == 4
    assert capsys.readouterr().err.startswith(f"error: cannot reach the cluster of {unreachable}: ")


def test_a_group_that_never_forms_fails_naming_the_controllers_event(vllm_cluster, capsys):
    """A quota that admits the leader but not its worker: the worker StatefulSet can never create the
    pod. `up` used to wait for the leader only and report the release as up."""
    from kubernetes import client

    from vllm_serving.cluster.testing import wait_for
    from vllm_serving.release import Release, create_namespace, delete_namespace

    namespace = f"up-{uuid.uuid4().hex[:6]}"
    create_namespace(vllm_cluster.kubeconfig, namespace)
    with vllm_cluster.api_client() as api:
        quota = client.V1ResourceQuota(
            metadata=client.V1ObjectMeta(name="one-pod"), spec=client.V1ResourceQuotaSpec(hard={"pods": "1"})
        )
        core = client.CoreV1Api(api)
        core.create_namespaced_resource_quota(namespace, quota)
        # Until the quota controller has counted, admission refuses every pod ("status unknown").
        wait_for("the quota's status", lambda: core.read_namespaced_resource_quota("one-pod", namespace).status.hard)
    args = ["up", MULTINODE, "--kubeconfig", str(vllm_cluster.kubeconfig), "--namespace", namespace]
    try:
        assert cli.main([*args, "--release", "llama", "--timeout", "8"]) == 4
        err = capsys.readouterr().err
        lws = "llama-vllm-serving-lws"
        # The leader alone (Ready unless the machine is slow) is not a group.
        assert re.search(rf"LeaderWorkerSet/{lws} group 0: [01] of 2 pods Ready \(not created: {lws}-0-1[;)]", err), err
        assert f"StatefulSet/{lws}-0: FailedCreate:" in err
        assert "exceeded quota: one-pod" in err
    finally:
        Release("llama", namespace, vllm_cluster.kubeconfig).uninstall()
        delete_namespace(vllm_cluster.kubeconfig, namespace)


def test_a_group_larger_than_its_zone_fails_naming_the_schedulers_event(vllm_cluster, capsys, tmp_path):
    """Three a3-highgpu-8g pods in one zone of a pool with two per zone: the third is never scheduled."""
    from vllm_serving.release import Release, delete_namespace

    three = tmp_path / "three.yaml"
    three.write_text("parallelism: {tensor: 8, pipeline: 3}\n")
    namespace = f"up-{uuid.uuid4().hex[:6]}"
    args = ["up", MULTINODE, str(three), "--kubeconfig", str(vllm_cluster.kubeconfig), "--namespace", namespace]
    try:
        assert cli.main([*args, "--release", "llama", "--timeout", "8"]) == 4
        err = capsys.readouterr().err
        assert re.search(r"LeaderWorkerSet/llama-vllm-serving-lws group 0: [0-2] of 3 pods Ready \(not Ready: ", err)
        assert ": FailedScheduling: 0/" in err
        assert "didn't match pod affinity rules" in err or "Insufficient nvidia.com/gpu" in err
    finally:
        Release("llama", namespace, vllm_cluster.kubeconfig).uninstall()
        delete_namespace(vllm_cluster.kubeconfig, namespace)
