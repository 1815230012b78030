"""The record of every resource a run creates, so that clean-up knows what to remove and in which order.

A resource is recorded *before* the call that creates it: if the call's outcome is unknown
(a timeout, Ctrl-C, a crash of the operation poll) clean-up still tries to delete it, and a
delete of something that never came to exist is a no-op.

Temporary resources are always removed. Outputs (the image, the per-zone disks) are removed
only if their creation did not finish: a finished output is kept, and a rerun reuses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class State(Enum):
    PENDING = "pending"  # creation requested, outcome unknown
    CREATED = "created"
    DELETED = "deleted"


@dataclass
class Resource:
    kind: str  # "instance", "disk" or "image"
    name: str
    zone: str | None  # None for global resources (images)
    temporary: bool
    state: State = State.PENDING

    def __str__(self) -> str:
        where = f" in {self.zone}" if self.zone else ""
        return f"{self.kind} {self.name}{where}"

    @property
    def needs_cleanup(self) -> bool:
        return self.state is not State.DELETED and (self.temporary or self.state is State.PENDING)


@dataclass
class Ledger:
    resources: list[Resource] = field(default_factory=list)

    def record(self, kind: str, name: str, zone: str | None, *, temporary: bool) -> Resource:
        resource = Resource(kind, name, zone, temporary)
        self.resources.append(resource)
        return resource

    def to_clean(self) -> list[Resource]:
        """What clean-up must remove, newest first (a VM before the disks attached to it)."""
        return [r for r in reversed(self.resources) if r.needs_cleanup]
