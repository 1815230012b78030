"""A GKE node pool for vLLM: the CreateNodePool request a Spec makes, its gcloud twin, and the call that
creates it (the command that fills the Spec is vllm_serving.commands.nodepool)."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

from vllm_serving.gcp import api
from vllm_serving.gcp.operations import Waiter
from vllm_serving.gcp.progress import Progress
from vllm_serving.gcp.runtime import Runtime

API_BASE = "https://container.googleapis.com/v1"
SPOT_TAINT = ("cloud.google.com/gke-spot", "true")
RESERVATION_KEY = "compute.googleapis.com/reservation-name"


@dataclass
class Spec:
    project: str
    location: str
    cluster: str
    name: str
    machine_type: str
    accelerator: str
    accelerator_count: int
    gpu_driver_version: str
    min_nodes: int
    max_nodes: int
    num_nodes: int
    node_locations: list[str]
    secondary_boot_disk: str | None
    image_streaming: bool
    spot: bool
    reservation_affinity: str
    reservation: str | None
    flex_start: bool
    queued_provisioning: bool
    max_run_duration: int | None
    disk_type: str
    disk_size_gb: int
    service_account: str | None
    node_labels: dict[str, str]
    location_policy: str | None
    max_surge: int
    max_unavailable: int

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}/clusters/{self.cluster}"


# -- the request and its gcloud twin -------------------------------------------------------------


def build_request(spec: Spec) -> Any:
    from google.cloud import container_v1 as gke

    driver = {"default": "DEFAULT", "latest": "LATEST", "disabled": "INSTALLATION_DISABLED"}[spec.gpu_driver_version]
    config = gke.NodeConfig(
        machine_type=spec.machine_type,
        disk_type=spec.disk_type,
        disk_size_gb=spec.disk_size_gb,
        oauth_scopes=[api.CLOUD_PLATFORM_SCOPE],
        labels=spec.node_labels,
        spot=spec.spot,
        accelerators=[
            gke.AcceleratorConfig(
                accelerator_count=spec.accelerator_count,
                accelerator_type=spec.accelerator,
                gpu_driver_installation_config=gke.GPUDriverInstallationConfig(
                    gpu_driver_version=gke.GPUDriverInstallationConfig.GPUDriverVersion[driver]
                ),
            )
        ],
        gcfs_config=gke.GcfsConfig(enabled=spec.image_streaming),
    )
    if spec.service_account:
        config.service_account = spec.service_account
    if spec.spot:
        config.taints = [gke.NodeTaint(key=SPOT_TAINT[0], value=SPOT_TAINT[1], effect=gke.NodeTaint.Effect.NO_SCHEDULE)]
    if spec.reservation_affinity:
        kind = {"any": "ANY_RESERVATION", "none": "NO_RESERVATION", "specific": "SPECIFIC_RESERVATION"}
        config.reservation_affinity = gke.ReservationAffinity(
            consume_reservation_type=gke.ReservationAffinity.Type[kind[spec.reservation_affinity]]
        )
        if spec.reservation:
            config.reservation_affinity.key = RESERVATION_KEY
            config.reservation_affinity.values = [spec.reservation]
    if spec.flex_start:
        config.flex_start = True
    if spec.max_run_duration:
        config.max_run_duration = f"{spec.max_run_duration}s"
    if spec.secondary_boot_disk:
        config.secondary_boot_disks = [
            gke.SecondaryBootDisk(
                disk_image=spec.secondary_boot_disk, mode=gke.SecondaryBootDisk.Mode.CONTAINER_IMAGE_CACHE
            )
        ]
    autoscaling = gke.NodePoolAutoscaling(enabled=True, min_node_count=spec.min_nodes, max_node_count=spec.max_nodes)
    if spec.location_policy:
        autoscaling.location_policy = gke.NodePoolAutoscaling.LocationPolicy[spec.location_policy]
    pool = gke.NodePool(
        name=spec.name,
        config=config,
        initial_node_count=spec.num_nodes,
        locations=spec.node_locations,
        autoscaling=autoscaling,
        # GKE's flex-start guide creates its pools without auto-repair: "The --no-enable-autorepair flag
        # disables automatic repairs, which could disrupt workloads" (how-to/provisioningrequest).
        management=gke.NodeManagement(auto_repair=not spec.flex_start, auto_upgrade=True),
        upgrade_settings=gke.NodePool.UpgradeSettings(max_surge=spec.max_surge, max_unavailable=spec.max_unavailable),
    )
    if spec.queued_provisioning:
        pool.queued_provisioning = gke.NodePool.QueuedProvisioning(enabled=True)
    return gke.CreateNodePoolRequest(parent=spec.parent, node_pool=pool)


def request_json(request: Any) -> dict:
    from google.cloud import container_v1 as gke

    body = json.loads(
        gke.CreateNodePoolRequest.to_json(
            request, use_integers_for_enums=False, always_print_fields_with_no_presence=False
        )
    )
    body.pop("parent", None)  # in the URL
    return body


def gcloud_command(spec: Spec) -> list[str]:
    accelerator = f"type={spec.accelerator},count={spec.accelerator_count}"
    if spec.gpu_driver_version != "disabled":
        accelerator += f",gpu-driver-version={spec.gpu_driver_version}"
    argv = [
        "gcloud",
        "container",
        "node-pools",
        "create",
        spec.name,
        f"--project={spec.project}",
        f"--cluster={spec.cluster}",
        f"--location={spec.location}",
        f"--machine-type={spec.machine_type}",
        f"--accelerator={accelerator}",
        f"--disk-type={spec.disk_type}",
        f"--disk-size={spec.disk_size_gb}",
        f"--scopes={api.CLOUD_PLATFORM_SCOPE}",
        "--enable-autoscaling",
        f"--num-nodes={spec.num_nodes}",
        f"--min-nodes={spec.min_nodes}",
        f"--max-nodes={spec.max_nodes}",
        "--no-enable-autorepair" if spec.flex_start else "--enable-autorepair",
        "--enable-autoupgrade",
        f"--max-surge-upgrade={spec.max_surge}",
        f"--max-unavailable-upgrade={spec.max_unavailable}",
    ]
    taint = f"--node-taints={SPOT_TAINT[0]}={SPOT_TAINT[1]}:NoSchedule"
    optional = [
        (spec.location_policy, f"--location-policy={spec.location_policy}"),
        (spec.node_locations, f"--node-locations={','.join(spec.node_locations)}"),
        (
            spec.secondary_boot_disk,
            f"--secondary-boot-disk=disk-image={spec.secondary_boot_disk},mode=CONTAINER_IMAGE_CACHE",
        ),
        (spec.image_streaming, "--enable-image-streaming"),
        (spec.spot, "--spot"),
        (spec.spot, taint),
        (spec.reservation_affinity, f"--reservation-affinity={spec.reservation_affinity}"),
        (spec.reservation, f"--reservation={spec.reservation}"),
        (spec.flex_start, "--flex-start"),
        (spec.queued_provisioning, "--enable-queued-provisioning"),
        (spec.max_run_duration, f"--max-run-duration={spec.max_run_duration}s"),
        (spec.service_account, f"--service-account={spec.service_account}"),
        (spec.node_labels, "--node-labels=" + ",".join(f"{k}={v}" for k, v in spec.node_labels.items())),
    ]
    argv += [flag for wanted, flag in optional if wanted]
    return argv


def render_command(argv: list[str]) -> str:
    head = shlex.join(argv[:5])
    return " \\\n  ".join([head, *(shlex.quote(a) for a in argv[5:])])


def create(spec: Spec, runtime: Runtime, *, dry_run: bool, timeout: float) -> dict:
    """The request, its URL and gcloud twin; with ``dry_run`` nothing is called, else the pool is created."""
    request = build_request(spec)
    result = {
        "nodePool": f"{spec.parent}/nodePools/{spec.name}",
        "created": False,
        "request": {"method": "POST", "url": f"{API_BASE}/{spec.parent}/nodePools", "body": request_json(request)},
        "gcloud": gcloud_command(spec),
    }
    if dry_run:
        return result
    progress = Progress(runtime.stderr, runtime.clock, tty=runtime.tty)
    client = runtime.clients.cluster_manager
    what = f"creating node pool {spec.name} in cluster {spec.cluster}"
    with progress.step(
        f"Creating node pool {spec.name} ({spec.accelerator_count} x {spec.accelerator} on "
        f"{spec.machine_type}) in {spec.location}/{spec.cluster}"
    ):
        op = api.call(
            what, lambda: client.create_node_pool(request=request), clock=runtime.clock, delay=runtime.retry_delay
        )
        Waiter(runtime, progress).container(
            op, project=spec.project, location=spec.location, what=what, timeout=timeout
        )
    result["created"] = True
    return result
