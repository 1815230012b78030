"""The Baker: creates the resources of one run, records each in a ledger, and cleans up at the end.

    with Baker(gce, run, runtime, progress) as baker:
        disk = baker.scratch_disk("disk", size_gb=100, disk_type="pd-balanced")
        baker.run_build_vm("vm", disk, args, vm_spec)        # the startup script fills the disk
        baker.image_from(disk, name="my-image", ...)          # an output: kept
        baker.release(disk)                                   # a temporary: deleted now

Leaving the ``with`` block by any path (success, error, timeout, Ctrl-C) deletes every temporary
resource still recorded, newest first, and every output whose creation did not finish. SIGTERM
(a cancelled CI job) counts as Ctrl-C; both are held back while clean-up runs. If clean-up itself
fails, the error names what is left and the ``vllm-serving bake cleanup`` command that removes it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from google.cloud import compute_v1

from vllm_serving.bake import startup
from vllm_serving.bake.content import CONTENT_LABEL, KIND_LABEL, RUN_LABEL
from vllm_serving.bake.serial import SerialWatcher
from vllm_serving.errors import CloudError, VllmServingError
from vllm_serving.gcp.clock import format_duration
from vllm_serving.gcp.compute import Gce
from vllm_serving.gcp.ledger import Ledger, Resource, State
from vllm_serving.gcp.progress import Progress
from vllm_serving.gcp.runtime import Runtime

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


@dataclass
class VmSpec:
    """The temporary build VM."""

    machine_type: str = "e2-standard-8"
    boot_image: str = "projects/debian-cloud/global/images/family/debian-12"
    boot_disk_size_gb: int = 200
    boot_disk_type: str = "pd-balanced"
    network: str = "global/networks/default"
    subnet: str | None = None
    external_ip: bool = True
    service_account: str = "default"


@dataclass
class Run:
    """Who and what one bake run is: labels and names derive from it."""

    project: str
    zone: str
    run_id: str
    content: str
    kind: str  # "image-cache" or "weights"
    labels: dict[str, str] = field(default_factory=dict)  # the user's own labels, on everything
    script_timeout: float = 3600.0

    @property
    def output_labels(self) -> dict[str, str]:
        return {**self.labels, CONTENT_LABEL: self.content, KIND_LABEL: self.kind}

    @property
    def temporary_labels(self) -> dict[str, str]:
        return {**self.output_labels, RUN_LABEL: self.run_id}

    def temporary_name(self, suffix: str) -> str:
        return f"vllm-bake-{self.run_id}-{suffix}"

    def disk_url(self, name: str, zone: str | None = None) -> str:
        return f"projects/{self.project}/zones/{zone or self.zone}/disks/{name}"


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def _sigint_held(progress: Progress) -> Iterator[None]:
    """Ignore Ctrl-C and SIGTERM (with a note) while clean-up runs, so that it cannot be cut short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def note(signum: int, frame: Any) -> None:
        progress.warn("clean-up in progress; it stops by itself when the temporary resources are gone")

    previous = signal.signal(signal.SIGINT, note), signal.signal(signal.SIGTERM, note)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])


class Baker:
    def __init__(self, gce: Gce, run: Run, runtime: Runtime, progress: Progress):
        self.gce = gce
        self.run = run
        self.runtime = runtime
        self.progress = progress
        self.ledger = Ledger()

    # -- creating --------------------------------------------------------------------------------

    def scratch_disk(self, suffix: str, *, size_gb: int, disk_type: str, source_image: str | None = None) -> Resource:
        """A temporary disk in the build zone, empty or from ``source_image``."""
        run = self.run
        name = run.temporary_name(suffix)
        resource = self.ledger.record("disk", name, run.zone, temporary=True)
        origin = f" from {source_image}" if source_image else ""
        with self.progress.step(f"Creating scratch disk {name} ({size_gb} GB {disk_type}{origin})"):
            self.gce.create_disk(
                run.zone,
                compute_v1.Disk(
                    name=name,
                    size_gb=size_gb,
                    type_=f"zones/{run.zone}/diskTypes/{disk_type}",
                    labels=run.temporary_labels,
                    source_image=source_image,
                ),
            )
        resource.state = State.CREATED
        return resource

    def _instance(
        self, name: str, data_disk: Resource, args: list[str], vm: VmSpec, read_only: bool
    ) -> compute_v1.Instance:
        run = self.run
        interface = compute_v1.NetworkInterface(network=vm.network)
        if vm.subnet:
            interface.subnetwork = vm.subnet
        if vm.external_ip:
            interface.access_configs = [compute_v1.AccessConfig(name="External NAT", type_="ONE_TO_ONE_NAT")]
        items = [compute_v1.Items(key=k, value=v) for k, v in startup.metadata_items(args).items()]
        return compute_v1.Instance(
            name=name,
            machine_type=f"zones/{run.zone}/machineTypes/{vm.machine_type}",
            labels=run.temporary_labels,
            disks=[
                compute_v1.AttachedDisk(
                    boot=True,
                    auto_delete=True,
                    type_="PERSISTENT",
                    initialize_params=compute_v1.AttachedDiskInitializeParams(
                        disk_name=f"{name}-boot",
                        source_image=vm.boot_image,
                        disk_size_gb=vm.boot_disk_size_gb,
                        disk_type=f"zones/{run.zone}/diskTypes/{vm.boot_disk_type}",
                        labels=run.temporary_labels,
                    ),
                ),
                compute_v1.AttachedDisk(
                    boot=False,
                    auto_delete=False,
                    type_="PERSISTENT",
                    source=run.disk_url(data_disk.name),
                    device_name=startup.DEVICE_NAME,
                    mode="READ_ONLY" if read_only else "READ_WRITE",
                ),
            ],
            network_interfaces=[interface],
            service_accounts=[compute_v1.ServiceAccount(email=vm.service_account, scopes=[CLOUD_PLATFORM_SCOPE])],
            metadata=compute_v1.Metadata(items=items),
        )

    def run_build_vm(
        self, suffix: str, data_disk: Resource, args: list[str], vm: VmSpec, *, read_only: bool = False
    ) -> None:
        """Boot a temporary VM on ``data_disk``, wait for its script's verdict, detach the disk, delete the VM."""
        run = self.run
        name = run.temporary_name(suffix)
        boot = self.ledger.record("disk", f"{name}-boot", run.zone, temporary=True)  # auto-deleted with the VM
        instance = self.ledger.record("instance", name, run.zone, temporary=True)
        with self.progress.step(f"Starting build VM {name} ({vm.machine_type} in {run.zone})"):
            self.gce.create_instance(run.zone, self._instance(name, data_disk, args, vm, read_only))
        boot.state = instance.state = State.CREATED
        watcher = SerialWatcher(
            lambda start: self.gce.serial_output(run.zone, name, start),
            run.run_id,
            clock=self.runtime.clock,
            interval=self.runtime.serial_interval,
            timeout=run.script_timeout,
            progress=self.progress,
            vm=name,
        )
        with self.progress.step(f"Running the startup script (up to {format_duration(run.script_timeout)})"):
            watcher.wait()
        with self.progress.step(f"Detaching {data_disk.name} from {name}"):
            self.gce.detach_disk(run.zone, name, startup.DEVICE_NAME)
        self.release(instance)
        boot.state = State.DELETED

    def image_from(
        self, disk: Resource, *, name: str, family: str | None, description: str, storage_location: str | None = None
    ) -> Resource:
        """An image of ``disk``: an output, kept when the run ends."""
        resource = self.ledger.record("image", name, None, temporary=False)
        image = compute_v1.Image(
            name=name,
            source_disk=self.run.disk_url(disk.name),
            labels=self.run.output_labels,
            description=description[:2048],
        )
        if family:
            image.family = family
        if storage_location:
            image.storage_locations = [storage_location]
        with self.progress.step(f"Creating image {name} from {disk.name}"):
            self.gce.create_image(image)
        resource.state = State.CREATED
        return resource

    def disk_from_image(self, zone: str, *, name: str, image: str, size_gb: int, disk_type: str) -> Resource:
        """A disk in ``zone`` made from ``image``: an output, kept when the run ends."""
        resource = self.ledger.record("disk", name, zone, temporary=False)
        with self.progress.step(f"Creating disk {name} in {zone} ({size_gb} GB {disk_type})"):
            self.gce.create_disk(
                zone,
                compute_v1.Disk(
                    name=name,
                    size_gb=size_gb,
                    type_=f"zones/{zone}/diskTypes/{disk_type}",
                    labels=self.run.output_labels,
                    source_image=image,
                ),
            )
        resource.state = State.CREATED
        return resource

    # -- deleting --------------------------------------------------------------------------------

    def _delete(self, resource: Resource) -> None:
        if resource.kind == "instance":
            self.gce.delete_instance(resource.zone, resource.name)
        elif resource.kind == "disk":
            self.gce.delete_disk(resource.zone, resource.name)
        else:
            self.gce.delete_image(resource.name)
        resource.state = State.DELETED

    def release(self, resource: Resource) -> None:
        """Delete a temporary resource now; if that fails, clean-up at the end tries again."""
        try:
            with self.progress.step(f"Deleting {resource}"):
                self._delete(resource)
        except VllmServingError as err:
            self.progress.warn(f"{err}; trying again at the end of the run")

    def cleanup(self) -> list[str]:
        """Delete what the ledger says must go; return what could not be deleted, with why."""
        failures = []
        for resource in self.ledger.to_clean():
            try:
                self._delete(resource)
                self.progress.info(f"    removed {resource}")
            except VllmServingError as err:
                failures.append(f"{resource}: {err}")
        return failures

    def __enter__(self) -> Baker:
        # A CI job that is cancelled gets SIGTERM: treat it like Ctrl-C, so that clean-up runs.
        self._previous_sigterm = None
        if threading.current_thread() is threading.main_thread():
            self._previous_sigterm = signal.signal(signal.SIGTERM, _raise_interrupt)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> bool:
        try:
            return self._finish(exc)
        finally:
            if self._previous_sigterm is not None:
                signal.signal(signal.SIGTERM, self._previous_sigterm)

    def _finish(self, exc: BaseException | None) -> bool:
        if not self.ledger.to_clean():
            return False
        reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else ("failed" if exc else "finished")
        self.progress.info(f"Run {self.run.run_id} {reason}: removing its temporary resources")
        with _sigint_held(self.progress):
            failures = self.cleanup()
        if not failures:
            return False
        message = (
            "clean-up could not delete:\n"
            + "\n".join(f"  {f}" for f in failures)
            + f"\nremove them with: vllm-serving bake cleanup --project {self.run.project} "
            f"--run-id {self.run.run_id}"
        )
        if exc is None:
            raise CloudError(message)
        if isinstance(exc, VllmServingError):
            raise CloudError(f"{exc}\n{message}") from exc
        self.progress.warn(message)
        return False
