"""What every bake run needs (BakePlan); each bake's Plan extends it."""

from __future__ import annotations

from dataclasses import dataclass

from vllm_serving.bake.baker import VmSpec


@dataclass
class BakePlan:
    """What every bake run needs: where it runs, what it makes, how long it may take."""

    project: str
    zone: str
    content: str  # hash of what goes on the disk: the idempotency label
    image_name: str
    family: str | None
    labels: dict[str, str]
    vm: VmSpec
    script_timeout: float
    operation_timeout: float
    storage_location: str | None
    force: bool
    verify: bool
