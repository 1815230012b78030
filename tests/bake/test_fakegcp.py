"""The fake itself, through the real google-cloud-compute and google-cloud-container REST clients."""

from __future__ import annotations

import pytest
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import compute_v1, container_v1

from support.fakegcp import filters

P, Z = "p-1234", "us-central1-a"


@pytest.fixture
def compute(fake):
    options = {"api_endpoint": fake.endpoint}
    make = lambda cls: cls(credentials=AnonymousCredentials(), transport="rest", client_options=options)  # noqa: E731
    return {
        "disks": make(compute_v1.DisksClient),
        "instances": make(compute_v1.InstancesClient),
        "images": make(compute_v1.ImagesClient),
        "zone_ops": make(compute_v1.ZoneOperationsClient),
    }


def test_rest_transport_takes_an_http_endpoint(fake, compute):
    assert fake.endpoint.startswith("http://127.0.0.1:")
    assert compute["disks"]._transport._host == fake.endpoint
    compute["disks"].insert(project=P, zone=Z, disk_resource=compute_v1.Disk(name="d", size_gb=10))
    assert fake.calls[0].name == "compute.disks.insert"


def test_disk_lifecycle_and_operations(fake, compute):
    fake.compute.op_polls = 2
    op = compute["disks"].insert(project=P, zone=Z, disk_resource=compute_v1.Disk(name="d", size_gb=20))
    statuses = [compute["zone_ops"].get(project=P, zone=Z, operation=op.name).status for _ in range(3)]
    assert statuses == [
        compute_v1.Operation.Status.RUNNING,
        compute_v1.Operation.Status.RUNNING,
        compute_v1.Operation.Status.DONE,
    ]
    assert compute["disks"].get(project=P, zone=Z, disk="d").size_gb == 20
    compute["disks"].delete(project=P, zone=Z, disk="d")
    with pytest.raises(gexc.NotFound):
        compute["disks"].get(project=P, zone=Z, disk="d")


def test_http_failure_injection(fake, compute):
    fake.fail("compute.disks.get", status=403, message="no")
    with pytest.raises(gexc.Forbidden, match="no"):
        compute["disks"].get(project=P, zone=Z, disk="x")
    with pytest.raises(gexc.NotFound):  # only once
        compute["disks"].get(project=P, zone=Z, disk="x")


def test_operation_failure_injection(fake, compute):
    fake.fail("compute.disks.insert", in_operation=True, status=403, message="quota")
    op = compute["disks"].insert(project=P, zone=Z, disk_resource=compute_v1.Disk(name="d", size_gb=10))
    done = compute["zone_ops"].get(project=P, zone=Z, operation=op.name)
    assert done.http_error_status_code == 403
    assert done.error.errors[0].message == "quota"
    assert fake.compute.disks == {}


def test_attached_disk_cannot_be_deleted_or_imaged(fake, compute):
    compute["disks"].insert(project=P, zone=Z, disk_resource=compute_v1.Disk(name="data", size_gb=10))
    vm = compute_v1.Instance(
        name="vm",
        disks=[
            compute_v1.AttachedDisk(
                boot=True,
                auto_delete=True,
                initialize_params=compute_v1.AttachedDiskInitializeParams(
                    source_image="projects/debian-cloud/global/images/family/debian-12"
                ),
            ),
            compute_v1.AttachedDisk(source=f"projects/{P}/zones/{Z}/disks/data", device_name="dev"),
        ],
    )
    compute["instances"].insert(project=P, zone=Z, instance_resource=vm)
    with pytest.raises(gexc.BadRequest, match="already being used"):
        compute["disks"].delete(project=P, zone=Z, disk="data")
    image = compute_v1.Image(name="img", source_disk=f"projects/{P}/zones/{Z}/disks/data")
    with pytest.raises(gexc.BadRequest, match="already being used"):
        compute["images"].insert(project=P, image_resource=image)
    compute["instances"].detach_disk(project=P, zone=Z, instance="vm", device_name="dev")
    compute["images"].insert(project=P, image_resource=image)
    assert compute["images"].get(project=P, image="img").disk_size_gb == 10
    compute["instances"].delete(project=P, zone=Z, instance="vm")
    assert set(fake.compute.disks) == {(P, Z, "data")}  # the boot disk went with the VM


def test_serial_port_output_from_an_offset(fake, compute):
    fake.compute.serial_source = lambda instance, read: f"line {read}\n"
    vm = compute_v1.Instance(name="vm", disks=[])
    compute["instances"].insert(project=P, zone=Z, instance_resource=vm)
    request = compute_v1.GetSerialPortOutputInstanceRequest(project=P, zone=Z, instance="vm", port=1, start=0)
    first = compute["instances"].get_serial_port_output(request=request)
    request.start = first.next_
    second = compute["instances"].get_serial_port_output(request=request)
    assert (first.contents, second.contents) == ("line 1\n", "line 2\n")


def test_aggregated_list_with_label_filter(fake, compute):
    for name, labels in (("a", {"run": "1"}), ("b", {"run": "2"}), ("c", {})):
        compute["disks"].insert(project=P, zone=Z, disk_resource=compute_v1.Disk(name=name, size_gb=10, labels=labels))
    request = compute_v1.AggregatedListDisksRequest(project=P, filter='(labels.run:*) (labels.run != "2")')
    found = [d.name for _, scoped in compute["disks"].aggregated_list(request=request) for d in scoped.disks]
    assert found == ["a"]


def test_unknown_zone_is_404(compute):
    with pytest.raises(gexc.NotFound):
        compute["disks"].insert(project=P, zone="mars-north1-a", disk_resource=compute_v1.Disk(name="d"))


def test_filters_reject_what_they_do_not_understand():
    with pytest.raises(filters.FilterError):
        filters.parse("labels.a ~ b")
    assert filters.parse('name = "x"')({"name": "x"})
    assert not filters.parse('(labels.a = "1") AND (labels.b:*)')({"labels": {"a": "1"}})


def test_container_node_pools(fake):
    client = container_v1.ClusterManagerClient(
        credentials=AnonymousCredentials(), transport="rest", client_options={"api_endpoint": fake.endpoint}
    )
    fake.container.add_cluster(P, "us-central1", "c")
    fake.container.op_polls = 1
    parent = f"projects/{P}/locations/us-central1/clusters/c"
    op = client.create_node_pool(parent=parent, node_pool=container_v1.NodePool(name="np"))
    name = f"projects/{P}/locations/us-central1/operations/{op.name}"
    assert client.get_operation(name=name).status == container_v1.Operation.Status.RUNNING
    assert client.get_operation(name=name).status == container_v1.Operation.Status.DONE
    assert client.get_node_pool(name=f"{parent}/nodePools/np").status == container_v1.NodePool.Status.RUNNING
    with pytest.raises(gexc.NotFound):
        client.create_node_pool(
            parent=f"projects/{P}/locations/us-central1/clusters/nope", node_pool=container_v1.NodePool(name="np")
        )
