"""`vllm-serving up`: the README's main job."""

from __future__ import annotations

import uuid

import pytest

from paths import VALUES_FILES
from vllm_serving import cli

pytestmark = pytest.mark.cluster

L4 = next(str(p) for p in VALUES_FILES if p.name == "gemma-2-9b-it-l4.yaml")


def test_installs_waits_and_shows_where_pods_run(kube_cluster, capsys):
    namespace = f"up-{uuid.uuid4().hex[:6]}"
    args = ["up", L4, "--kubeconfig", str(kube_cluster.kubeconfig), "--namespace", namespace, "--release", "gemma"]
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

        Release("gemma", namespace, kube_cluster.kubeconfig).uninstall()
        delete_namespace(kube_cluster.kubeconfig, namespace)


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
def local_cluster_name(kube_cluster):
    if kube_cluster.local is None:
        pytest.skip("starts a local cluster; the session runs against another one")
    return f"up-test-{uuid.uuid4().hex[:6]}"
