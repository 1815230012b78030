"""One bake run: its labels and content hash, the Baker that creates its resources, reuse and leftovers.

Every resource carries the hash of what its disk holds (``vllm-serving-bake-content``); temporary ones
also carry the run's id (``vllm-serving-bake``). An output that already holds the same content is reused
unless --force, and what crashed runs left behind is found (and swept) by those labels.

The Baker creates the resources of one run, records each in a ledger, and cleans up at the end:

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
import hashlib
import json
import secrets
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from google.cloud import compute_v1

from vllm_serving.bake import build_vm
from vllm_serving.errors import CloudError, UsageError, VllmServingError
from vllm_serving.gcp.api import CLOUD_PLATFORM_SCOPE
from vllm_serving.gcp.clock import format_duration
from vllm_serving.gcp.compute import Gce
from vllm_serving.gcp.ledger import Ledger, Resource, State
from vllm_serving.gcp.progress import Progress
from vllm_serving.gcp.runtime import Runtime

# Bumped when the layout written on the disk changes, so that older images are not reused.
FORMAT = "1"

RUN_LABEL = "vllm-serving-bake"  # on temporary resources only: the run that created them
CONTENT_LABEL = "vllm-serving-bake-content"  # on everything: the hash of what the disk holds
KIND_LABEL = "vllm-serving-bake-kind"  # image-cache | weights
RESERVED_LABELS = (RUN_LABEL, CONTENT_LABEL, KIND_LABEL)


def content_hash(kind: str, **sources: object) -> str:
    """A label-safe hash (24 hex digits) of what a bake puts on its disk."""
    document = json.dumps({"kind": kind, "format": FORMAT, **sources}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(document.encode()).hexdigest()[:24]


def new_run_id() -> str:
    """``20250101-120000-a1b2``: sortable, unique enough, usable in resource names and label values."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def temporary_filter(content: str | None = None, run_id: str | None = None) -> str:
    """A Compute Engine list filter for temporary resources of one bake content, one run, or all runs."""
    terms = [f'(labels.{RUN_LABEL} = "{run_id}")' if run_id else f"(labels.{RUN_LABEL}:*)"]
    if content:
        terms.append(f'(labels.{CONTENT_LABEL} = "{content}")')
    return " ".join(terms)


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
        items = [compute_v1.Items(key=k, value=v) for k, v in build_vm.metadata_items(args).items()]
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
                    device_name=build_vm.DEVICE_NAME,
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
        watcher = build_vm.SerialWatcher(
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
            self.gce.detach_disk(run.zone, name, build_vm.DEVICE_NAME)
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


# -- reuse -------------------------------------------------------------------------------------------


def existing_image(
    gce: Gce, name: str, content: str, *, force: bool, progress: Progress
) -> tuple[compute_v1.Image | None, bool]:
    """``(image, reuse)``: the image named ``name`` if it exists, and whether it can be used as it is.

    An image with other content is a conflict unless ``force`` (then the caller replaces it).
    """
    with progress.step(f"Looking for an existing image {name}"):
        image = gce.get_image(name)
    if image is None:
        return None, False
    found = image.labels.get(CONTENT_LABEL, "")
    if found == content and image.status == "READY" and not force:
        progress.info(f"    image {name} already holds this content: reusing it (--force rebuilds it)")
        return image, True
    if found != content and not force:
        raise UsageError(
            f"--image-name: image {name} already exists with other content "
            f"({CONTENT_LABEL}={found or 'none'}, this bake is {content}); choose another "
            "--image-name or pass --force to replace it"
        )
    return image, False


def existing_disk(
    gce: Gce, zone: str, name: str, content: str, *, force: bool, progress: Progress
) -> tuple[compute_v1.Disk | None, bool]:
    """``(disk, reuse)`` for the output disk ``name`` in ``zone``; refuses to replace a disk in use."""
    disk = gce.get_disk(zone, name)
    if disk is None:
        return None, False
    found = disk.labels.get(CONTENT_LABEL, "")
    if found == content and not force:
        progress.info(f"    disk {name} in {zone} already holds this content: reusing it")
        return disk, True
    if found != content and not force:
        raise UsageError(
            f"--disk-name: disk {name} in {zone} already exists with other content "
            f"({CONTENT_LABEL}={found or 'none'}); choose another --disk-name or pass --force "
            "to replace it"
        )
    if disk.users:
        raise CloudError(
            f"disk {name} in {zone} is in use by {', '.join(disk.users)}; it cannot be replaced "
            "while attached: scale the workload down or choose another --disk-name"
        )
    return disk, False


# -- leftovers of crashed runs -----------------------------------------------------------------------


def find_leftovers(gce: Gce, filter_: str) -> list[tuple[str, str, str | None]]:
    """``(kind, name, zone)`` of the VMs, disks and images matching ``filter_``, VMs first."""
    found: list[tuple[str, str, str | None]] = []
    found += [("instance", vm.name, zone) for zone, vm in gce.find_instances(filter_)]
    found += [("disk", disk.name, zone) for zone, disk in gce.find_disks(filter_)]
    found += [("image", image.name, None) for image in gce.find_images(filter_)]
    return found


def sweep(gce: Gce, filter_: str, progress: Progress, *, skip_run: str | None = None) -> list[str]:
    """Delete every leftover matching ``filter_`` (except those of run ``skip_run``); return their names."""
    leftovers = [r for r in find_leftovers(gce, filter_) if not (skip_run and skip_run in r[1])]
    if not leftovers:
        return []
    removed, failures = [], []
    with progress.step(f"Removing {len(leftovers)} leftover resource(s) of earlier runs (label {RUN_LABEL})"):
        for kind, name, zone in leftovers:
            label = f"{kind} {name}" + (f" in {zone}" if zone else "")
            try:
                if kind == "instance":
                    gce.delete_instance(zone, name)
                elif kind == "disk":
                    gce.delete_disk(zone, name)
                else:
                    gce.delete_image(name)
            except VllmServingError as err:
                failures.append(f"{label}: {err}")
                continue
            removed.append(label)
            progress.info(f"    removed {label}")
        if failures:
            raise CloudError("could not remove leftovers of earlier runs:\n" + "\n".join(f"  {f}" for f in failures))
    return removed
