"""The Compute Engine calls the bake needs, each waiting for its operation and failing as CloudError.

Inserts carry a request id, so a retry after a transient error cannot create a resource twice.
Deletes of something already gone succeed (they return False).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from google.cloud import compute_v1

from vllm_serving.gcp import api
from vllm_serving.gcp.operations import Waiter
from vllm_serving.gcp.runtime import Runtime

T = TypeVar("T")


class Gce:
    def __init__(self, runtime: Runtime, waiter: Waiter, project: str, *, timeout: float):
        self.runtime = runtime
        self.clients = runtime.clients
        self.waiter = waiter
        self.project = project
        self.timeout = timeout

    def _call(self, what: str, fn: Callable[[], T], *, missing_ok: bool = False) -> T | None:
        return api.call(what, fn, clock=self.runtime.clock, delay=self.runtime.retry_delay, missing_ok=missing_ok)

    def _mutate(self, what: str, zone: str | None, fn: Callable[[], Any], *, missing_ok: bool = False) -> bool:
        op = self._call(what, fn, missing_ok=missing_ok)
        if op is None:
            return False
        self.waiter.compute(op, project=self.project, zone=zone, what=what, timeout=self.timeout)
        return True

    # -- disks ---------------------------------------------------------------------------------

    def get_disk(self, zone: str, name: str) -> compute_v1.Disk | None:
        return self._call(
            f"reading disk {name} in {zone}",
            lambda: self.clients.disks.get(project=self.project, zone=zone, disk=name),
            missing_ok=True,
        )

    def create_disk(self, zone: str, disk: compute_v1.Disk) -> None:
        request_id = str(uuid.uuid4())
        self._mutate(
            f"creating disk {disk.name} in {zone}",
            zone,
            lambda: self.clients.disks.insert(
                request=compute_v1.InsertDiskRequest(
                    project=self.project, zone=zone, disk_resource=disk, request_id=request_id
                )
            ),
        )

    def delete_disk(self, zone: str, name: str) -> bool:
        return self._mutate(
            f"deleting disk {name} in {zone}",
            zone,
            lambda: self.clients.disks.delete(project=self.project, zone=zone, disk=name),
            missing_ok=True,
        )

    def find_disks(self, filter_: str) -> list[tuple[str, compute_v1.Disk]]:
        request = compute_v1.AggregatedListDisksRequest(project=self.project, filter=filter_)
        pages = self._call("listing disks", lambda: list(self.clients.disks.aggregated_list(request=request)))
        return [(scope.rsplit("/", 1)[-1], disk) for scope, listed in pages or [] for disk in listed.disks]

    # -- instances -----------------------------------------------------------------------------

    def create_instance(self, zone: str, instance: compute_v1.Instance) -> None:
        request_id = str(uuid.uuid4())
        self._mutate(
            f"creating VM {instance.name} in {zone}",
            zone,
            lambda: self.clients.instances.insert(
                request=compute_v1.InsertInstanceRequest(
                    project=self.project, zone=zone, instance_resource=instance, request_id=request_id
                )
            ),
        )

    def delete_instance(self, zone: str, name: str) -> bool:
        return self._mutate(
            f"deleting VM {name} in {zone}",
            zone,
            lambda: self.clients.instances.delete(project=self.project, zone=zone, instance=name),
            missing_ok=True,
        )

    def detach_disk(self, zone: str, instance: str, device_name: str) -> None:
        self._mutate(
            f"detaching disk {device_name} from VM {instance}",
            zone,
            lambda: self.clients.instances.detach_disk(
                project=self.project, zone=zone, instance=instance, device_name=device_name
            ),
        )

    def serial_output(self, zone: str, instance: str, start: int) -> tuple[str, int]:
        """The console text from byte ``start`` on, and where the next read starts."""
        out = self._call(
            f"reading the serial console of VM {instance}",
            lambda: self.clients.instances.get_serial_port_output(
                request=compute_v1.GetSerialPortOutputInstanceRequest(
                    project=self.project, zone=zone, instance=instance, port=1, start=start
                )
            ),
        )
        return out.contents, int(out.next_) if out.next_ else start + len(out.contents)

    def find_instances(self, filter_: str) -> list[tuple[str, compute_v1.Instance]]:
        request = compute_v1.AggregatedListInstancesRequest(project=self.project, filter=filter_)
        pages = self._call("listing VMs", lambda: list(self.clients.instances.aggregated_list(request=request)))
        return [(scope.rsplit("/", 1)[-1], vm) for scope, listed in pages or [] for vm in listed.instances]

    # -- images --------------------------------------------------------------------------------

    def get_image(self, name: str) -> compute_v1.Image | None:
        return self._call(
            f"reading image {name}", lambda: self.clients.images.get(project=self.project, image=name), missing_ok=True
        )

    def create_image(self, image: compute_v1.Image) -> None:
        request_id = str(uuid.uuid4())
        self._mutate(
            f"creating image {image.name}",
            None,
            lambda: self.clients.images.insert(
                request=compute_v1.InsertImageRequest(project=self.project, image_resource=image, request_id=request_id)
            ),
        )

    def delete_image(self, name: str) -> bool:
        return self._mutate(
            f"deleting image {name}",
            None,
            lambda: self.clients.images.delete(project=self.project, image=name),
            missing_ok=True,
        )

    def find_images(self, filter_: str) -> list[compute_v1.Image]:
        request = compute_v1.ListImagesRequest(project=self.project, filter=filter_)
        return self._call("listing images", lambda: list(self.clients.images.list(request=request))) or []
