"""`vllm-serving nodepool create` against the fake GKE API."""

from __future__ import annotations

import json
import shlex

import pytest

from vllm_serving.commands import nodepool

PROJECT = "test-project"
POOL = [
    "create",
    "l4-pool",
    "--project",
    PROJECT,
    "--cluster",
    "serving",
    "--location",
    "us-central1",
    "--machine-type",
    "g2-standard-24",
    "--accelerator",
    "nvidia-l4",
    "--accelerator-count",
    "2",
    "--min-nodes",
    "0",
    "--max-nodes",
    "4",
    "--node-locations",
    "us-central1-a,us-central1-b",
    "--secondary-boot-disk",
    "vllm-cache",
    "--spot",
]


@pytest.fixture
def cluster(gcp):
    gcp.fake.container.add_cluster(PROJECT, "us-central1", "serving")
    return gcp


def run(gcp, *extra: str, base: list[str] = POOL):
    return gcp.run(nodepool.main, [*base, "--chart", str(gcp.chart_dir), *extra])


class TestDryRun:
    def test_calls_nothing_and_prints_request_and_gcloud(self, gcp):
        result = run(gcp, "--dry-run")
        assert result.code == 0, result.err
        assert gcp.fake.calls == []
        assert (
            "Request: POST https://container.googleapis.com/v1/projects/test-project/locations/us-central1/"
            "clusters/serving/nodePools"
        ) in result.out
        assert "gcloud container node-pools create l4-pool" in result.out
        command = result.out.split("Equivalent gcloud command:\n", 1)[1].replace("\\\n", " ")
        argv = shlex.split(command)
        assert (
            "--secondary-boot-disk=disk-image=projects/test-project/global/images/vllm-cache,mode=CONTAINER_IMAGE_CACHE"
        ) in argv
        assert "--enable-image-streaming" in argv
        assert "--accelerator=type=nvidia-l4,count=2,gpu-driver-version=latest" in argv
        assert {"--enable-autoscaling", "--min-nodes=0", "--max-nodes=4", "--spot"} <= set(argv)
        assert "--node-locations=us-central1-a,us-central1-b" in argv

    def test_json(self, gcp):
        result = run(gcp, "--dry-run", "--output", "json")
        document = json.loads(result.out)
        assert document["version"] == "1"
        config = document["request"]["body"]["nodePool"]["config"]
        assert config["secondaryBootDisks"] == [
            {"diskImage": "projects/test-project/global/images/vllm-cache", "mode": "CONTAINER_IMAGE_CACHE"}
        ]
        assert config["gcfsConfig"] == {"enabled": True}
        assert config["accelerators"][0]["gpuDriverInstallationConfig"] == {"gpuDriverVersion": "LATEST"}
        assert document["request"]["body"]["nodePool"]["autoscaling"] == {"enabled": True, "maxNodeCount": 4}
        assert document["gcloud"][:5] == ["gcloud", "container", "node-pools", "create", "l4-pool"]
        assert gcp.fake.calls == []

    def test_image_from_another_project(self, gcp):
        result = run(
            gcp, "--dry-run", "--output", "json", "--secondary-boot-disk", "projects/images-proj/global/images/cache"
        )
        config = json.loads(result.out)["request"]["body"]["nodePool"]["config"]
        assert config["secondaryBootDisks"][0]["diskImage"] == "projects/images-proj/global/images/cache"

    def test_without_a_cache(self, gcp):
        argv = [a for a in POOL if a not in ("--secondary-boot-disk", "vllm-cache")]
        result = gcp.run(
            nodepool.main,
            [*argv, "--chart", str(gcp.chart_dir), "--dry-run", "--output", "json", "--no-image-streaming"],
        )
        document = json.loads(result.out)
        assert "secondaryBootDisks" not in document["request"]["body"]["nodePool"]["config"]
        assert "--enable-image-streaming" not in document["gcloud"]


class TestCreate:
    def test_creates_the_pool(self, cluster):
        result = run(cluster)
        assert result.code == 0, result.err
        pool = cluster.fake.container.node_pools[(PROJECT, "us-central1", "serving", "l4-pool")]
        config = pool["config"]
        assert config["secondaryBootDisks"][0]["diskImage"] == "projects/test-project/global/images/vllm-cache"
        assert config["secondaryBootDisks"][0]["mode"] in ("CONTAINER_IMAGE_CACHE", 1)  # the client sends ints
        assert config["gcfsConfig"] == {"enabled": True}
        assert config["accelerators"][0]["acceleratorType"] == "nvidia-l4"
        assert int(config["accelerators"][0]["acceleratorCount"]) == 2
        assert config["spot"] is True
        assert pool["autoscaling"]["maxNodeCount"] == 4
        assert pool["locations"] == ["us-central1-a", "us-central1-b"]
        assert (
            "Node pool projects/test-project/locations/us-central1/clusters/serving/nodePools/l4-pool created"
            in result.out
        )

    def test_waits_for_the_operation(self, cluster):
        cluster.fake.container.op_polls = 3
        start = cluster.clock.now()
        assert run(cluster).code == 0
        assert cluster.fake.call_names().count("container.operations.get") == 4  # 3 x RUNNING, then DONE
        assert cluster.clock.now() - start == 20  # 5 s apart

    def test_operation_error(self, cluster):
        cluster.fake.fail(
            "container.nodePools.create",
            in_operation=True,
            message="Insufficient regional quota to satisfy request: resource NVIDIA_L4_GPUS",
        )
        result = run(cluster)
        assert result.code == 5
        assert "creating node pool l4-pool in cluster serving failed: Insufficient regional quota" in result.err

    def test_operation_timeout(self, cluster):
        cluster.fake.container.op_polls = 1000
        result = run(cluster, "--timeout", "2m")
        assert result.code == 5
        assert "not finished after 2m" in result.err

    def test_missing_cluster(self, gcp):
        result = run(gcp)
        assert result.code == 5
        assert "404" in result.err and "clusters/serving" in result.err

    def test_existing_pool(self, cluster):
        assert run(cluster).code == 0
        result = run(cluster)
        assert result.code == 5
        assert "409" in result.err

    def test_permission_denied_has_a_hint(self, cluster):
        cluster.fake.fail("container.nodePools.create", status=403, message="Required 'container.clusters.update'")
        result = run(cluster)
        assert result.code == 5
        assert "roles/container.admin" in result.err


# -- capacity: Spot, reservations, flex-start, queued provisioning ----------------------------------
# The request fields are google-cloud-container's NodeConfig.spot/taints/reservation_affinity/flex_start/
# max_run_duration and NodePool.queued_provisioning; the fake GKE API parses every body with those
# message types and refuses what GKE's guides rule out (see fakegcp/container.py).
BASE = [a for a in POOL if a not in ("--spot", "--secondary-boot-disk", "vllm-cache")]


def capacity(gcp, *extra: str):
    return run(gcp, *extra, base=BASE)


class TestCapacity:
    def test_spot_pool_carries_the_taint_the_chart_tolerates(self, cluster):
        result = capacity(cluster, "--spot")
        assert result.code == 0, result.err
        config = cluster.fake.container.node_pools[(PROJECT, "us-central1", "serving", "l4-pool")]["config"]
        assert config["spot"] is True
        (taint,) = config["taints"]
        assert (taint["key"], taint["value"], taint["effect"]) in {
            ("cloud.google.com/gke-spot", "true", effect)
            for effect in ("NO_SCHEDULE", 1)  # the client sends ints
        }
        dry = json.loads(capacity(cluster, "--spot", "--dry-run", "--output", "json").out)
        assert {"--spot", "--node-taints=cloud.google.com/gke-spot=true:NoSchedule"} <= set(dry["gcloud"])

    def test_a_specific_reservation(self, cluster):
        result = capacity(cluster, "--reservation", "projects/shared-proj/reservations/l4-res")
        assert result.code == 0, result.err
        config = cluster.fake.container.node_pools[(PROJECT, "us-central1", "serving", "l4-pool")]["config"]
        affinity = config["reservationAffinity"]
        assert affinity["consumeReservationType"] in ("SPECIFIC_RESERVATION", 3)
        assert affinity["key"] == "compute.googleapis.com/reservation-name"
        assert affinity["values"] == ["projects/shared-proj/reservations/l4-res"]
        dry = json.loads(capacity(cluster, "--reservation", "l4-res", "--dry-run", "--output", "json").out)
        assert {"--reservation-affinity=specific", "--reservation=l4-res"} <= set(dry["gcloud"])

    def test_flex_start_with_queued_provisioning(self, cluster):
        result = capacity(cluster, "--flex-start", "--queued-provisioning", "--max-run-duration", "43200")
        assert result.code == 0, result.err
        pool = cluster.fake.container.node_pools[(PROJECT, "us-central1", "serving", "l4-pool")]
        config = pool["config"]
        assert config["flexStart"] is True
        assert config["maxRunDuration"] == "43200s"
        assert config["reservationAffinity"]["consumeReservationType"] in ("NO_RESERVATION", 1)
        assert pool["queuedProvisioning"] == {"enabled": True}
        assert "autoRepair" not in pool["management"]  # false, which proto JSON leaves out
        assert pool["autoscaling"]["locationPolicy"] in ("ANY", 2)
        dry = json.loads(
            capacity(cluster, "--flex-start", "--queued-provisioning", "--dry-run", "--output", "json").out
        )
        assert {
            "--flex-start",
            "--enable-queued-provisioning",
            "--reservation-affinity=none",
            "--no-enable-autorepair",
            "--location-policy=ANY",
        } <= set(dry["gcloud"])

    def test_flex_start_alone_as_gkes_flex_start_pool_command(self, cluster):
        """GKE's flex-start pool (how-to/provisioningrequest): --location-policy=ANY,
        --reservation-affinity=none and --no-enable-autorepair, with or without queued provisioning."""
        result = capacity(cluster, "--flex-start")
        assert result.code == 0, result.err
        pool = cluster.fake.container.node_pools[(PROJECT, "us-central1", "serving", "l4-pool")]
        assert pool["config"]["flexStart"] is True
        assert pool["config"]["reservationAffinity"]["consumeReservationType"] in ("NO_RESERVATION", 1)
        assert "autoRepair" not in pool["management"]
        assert pool["autoscaling"]["locationPolicy"] in ("ANY", 2)
        dry = json.loads(capacity(cluster, "--flex-start", "--dry-run", "--output", "json").out)
        assert {"--reservation-affinity=none", "--no-enable-autorepair", "--location-policy=ANY"} <= set(dry["gcloud"])
        assert "--enable-queued-provisioning" not in dry["gcloud"]

    @pytest.mark.parametrize(
        ("extra", "message"),
        [
            (("--spot", "--flex-start"), "--spot: Spot and flex-start are two provisioning models; choose one"),
            (
                ("--spot", "--reservation-affinity", "any"),
                "--reservation-affinity: --spot VMs consume no reservation; drop --reservation-affinity",
            ),
            (("--reservation-affinity", "specific"), "--reservation-affinity: specific needs --reservation NAME"),
            (("--reservation", "Bad_Name"), "--reservation: 'Bad_Name' is not a reservation"),
            (("--queued-provisioning",), "--queued-provisioning: GKE queues provisioning requests for flex-start VMs"),
            (("--flex-start", "--max-run-duration", "700000"), "--max-run-duration: 700000 is longer than flex-start"),
            (("--flex-start", "--min-nodes", "1"), "a flex-start pool starts empty and grows on demand; use 0"),
        ],
        ids=["spot-flex", "spot-reservation", "specific-unnamed", "bad-name", "queued-alone", "too-long", "not-empty"],
    )
    def test_bad_mixes_are_refused_before_any_call(self, cluster, extra, message):
        result = capacity(cluster, *extra)
        assert result.code == 2, result.out
        assert message in result.err
        assert cluster.fake.calls == []

    def test_the_fake_api_refuses_what_gke_refuses(self, cluster):
        """The fake itself, so that the client's checks are not the only line: a body GKE's guides rule out."""
        from support.fakegcp.container import _node_pool_problems

        pool = {
            "name": "p",
            "config": {"spot": True, "reservationAffinity": {"consumeReservationType": "ANY_RESERVATION"}},
        }
        assert _node_pool_problems(pool) == ["Spot and flex-start VMs cannot consume reservations."]
        assert "Invalid JSON payload" in _node_pool_problems({"name": "p", "config": {"flexStartt": True}})[0]
