"""Compute Engine in memory: disks, instances, images, serial port output and operations.

Mutations take effect when the call is made; the operation that reports them answers RUNNING
to the first ``op_polls`` polls and DONE from then on (0: it is DONE in the call's own answer).
An operation failed by injection ends with the error and leaves no trace of its effect.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

from support.fakegcp import filters
from support.fakegcp.server import ApiError, Request, Route, route

BASE = "https://www.googleapis.com/compute/v1/"
_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_DISK_REF = re.compile(r"(?:projects/(?P<project>[^/]+)/)?zones/(?P<zone>[^/]+)/disks/(?P<name>[^/]+)$")
_IMAGE_REF = re.compile(r"(?:projects/(?P<project>[^/]+)/)?global/images/(?:family/)?(?P<name>[^/]+)$")
DEFAULT_ZONES = frozenset(
    f"{region}-{letter}"
    for region in ("us-central1", "us-east4", "europe-west4", "asia-southeast1")
    for letter in "abcf"
)

# (instance JSON, number of this serial read starting at 1) -> text the console prints next
SerialSource = Callable[[dict, int], str]
Key = tuple[str, str, str]


def _int(value: object, default: int = 0) -> int:
    return default if value in (None, "") else int(value)  # JSON int64 fields arrive as strings


class Compute:
    """The state and the handlers of the fake Compute Engine API (v1)."""

    def __init__(self) -> None:
        self.zones: set[str] = set(DEFAULT_ZONES)
        self.disks: dict[Key, dict] = {}  # (project, zone, name)
        self.instances: dict[Key, dict] = {}  # (project, zone, name)
        self.images: dict[tuple[str, str], dict] = {}  # (project, name)
        self.operations: dict[Key, dict] = {}  # (project, "zones/Z" | "global", name)
        self.serial: dict[Key, dict] = {}  # instance key -> {"text": str, "reads": int}
        self.serial_source: SerialSource = lambda instance, read: ""
        self.op_polls = 0
        self._ids = itertools.count(1000)
        self._polls_left: dict[Key, int] = {}
        self._requests: dict[str, dict] = {}  # requestId -> operation (retried inserts are idempotent)

    # -- helpers -------------------------------------------------------------------------------

    def _zone(self, zone: str) -> str:
        if zone not in self.zones:
            raise ApiError(404, f"The resource 'projects/-/zones/{zone}' was not found")
        return zone

    @staticmethod
    def _check_name(kind: str, name: str | None) -> str:
        if not name or not _NAME.match(name):
            raise ApiError(
                400,
                f"Invalid value for field 'resource.name': '{name}'. Must be a match of regex "
                "'(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'",
            )
        return name

    def _operation(
        self, request: Request, project: str, scope: str, kind: str, target: str, effect: Callable[[], None]
    ) -> dict:
        request_id = request.query.get("requestId")
        if request_id and request_id in self._requests:
            return self._requests[request_id]
        name = f"operation-{next(self._ids)}"
        op = {
            "kind": "compute#operation",
            "id": str(next(self._ids)),
            "name": name,
            "operationType": kind,
            "targetLink": BASE + target,
            "status": "RUNNING",
            "progress": 0,
            "selfLink": f"{BASE}projects/{project}/{scope}/operations/{name}",
        }
        if scope.startswith("zones/"):
            op["zone"] = BASE + f"projects/{project}/{scope}"
        if request.op_error is None:
            effect()
        else:
            error = request.op_error
            op["httpErrorStatusCode"] = error.status
            op["httpErrorMessage"] = error.reason.upper()
            op["error"] = {"errors": [{"code": error.reason.upper(), "message": error.message}]}
        key = (project, scope, name)
        self.operations[key] = op
        self._polls_left[key] = self.op_polls
        if self.op_polls <= 0:
            self._finish(key)
        if request_id:
            self._requests[request_id] = op
        return dict(op)

    def _finish(self, key: Key) -> None:
        self.operations[key].update(status="DONE", progress=100)

    def _advance(self, key: Key) -> None:
        """One poll: RUNNING while polls are left, then DONE."""
        if self._polls_left[key] <= 0:
            self._finish(key)
        self._polls_left[key] -= 1

    def _get_operation(self, request: Request, scope: str) -> dict:
        key = (request.params["project"], scope, request.params["operation"])
        if key not in self.operations:
            raise ApiError(404, f"The resource '{'/'.join(key)}' was not found")
        if self.operations[key]["status"] != "DONE":
            self._advance(key)
        return dict(self.operations[key])

    def _disk_key(self, project: str, zone: str, ref: str) -> Key:
        match = _DISK_REF.search(ref)
        if match:
            return (match["project"] or project, match["zone"], match["name"])
        return (project, zone, ref.rsplit("/", 1)[-1])

    def _image(self, project: str, ref: str) -> dict:
        match = _IMAGE_REF.search(ref)
        if not match:
            raise ApiError(400, f"Invalid value for field 'sourceImage': '{ref}'")
        owner = match["project"] or project
        if owner.endswith("-cloud"):  # public images (debian-cloud, ...) always exist
            return {"name": match["name"], "diskSizeGb": "10", "status": "READY", "selfLink": BASE + ref}
        for (image_project, _), image in self.images.items():
            if image_project == owner and (image["name"] == match["name"] or image.get("family") == match["name"]):
                return image
        raise ApiError(404, f"The resource 'projects/{owner}/global/images/{match['name']}' was not found")

    @staticmethod
    def _listing(kind: str, items: list[dict], query: dict[str, str]) -> dict:
        try:
            keep = filters.parse(query.get("filter"))
        except filters.FilterError as err:
            raise ApiError(400, str(err)) from None
        return {"kind": f"compute#{kind}List", "items": [dict(i) for i in items if keep(i)]}

    def _aggregated(self, kind: str, plural: str, store: dict[Key, dict], request: Request) -> dict:
        project = request.params["project"]
        by_zone: dict[str, list[dict]] = {}
        for (p, zone, _), item in store.items():
            if p == project:
                by_zone.setdefault(zone, []).append(item)
        items = {}
        for zone, found in sorted(by_zone.items()):
            kept = self._listing(kind, found, request.query)["items"]
            if kept:
                items[f"zones/{zone}"] = {plural: kept}
        return {"kind": f"compute#{kind}AggregatedList", "items": items}

    # -- disks ---------------------------------------------------------------------------------

    def insert_disk(self, request: Request) -> dict:
        project, zone = request.params["project"], self._zone(request.params["zone"])
        body = request.body
        name = self._check_name("disk", body.get("name"))
        key = (project, zone, name)
        if key in self.disks:
            raise ApiError(409, f"The resource 'projects/{project}/zones/{zone}/disks/{name}' already exists")
        source = request.query.get("sourceImage") or body.get("sourceImage")
        size = _int(body.get("sizeGb"))
        if source:
            image = self._image(project, source)
            minimum = _int(image.get("diskSizeGb"))
            size = size or minimum
            if size < minimum:
                raise ApiError(400, f"Requested disk size cannot be smaller than the image size ({minimum} GB)")
        size = size or 10
        disk_type = (body.get("type") or "pd-standard").rsplit("/", 1)[-1]
        disk = {
            "kind": "compute#disk",
            "id": str(next(self._ids)),
            "name": name,
            "zone": f"{BASE}projects/{project}/zones/{zone}",
            "sizeGb": str(size),
            "type": f"{BASE}projects/{project}/zones/{zone}/diskTypes/{disk_type}",
            "status": "READY",
            "labels": dict(body.get("labels") or {}),
            "labelFingerprint": "42WmSpB8rSM=",
            "selfLink": f"{BASE}projects/{project}/zones/{zone}/disks/{name}",
        }
        if source:
            disk["sourceImage"] = BASE + source.removeprefix(BASE)
        target = f"projects/{project}/zones/{zone}/disks/{name}"
        return self._operation(
            request, project, f"zones/{zone}", "insert", target, lambda: self.disks.__setitem__(key, disk)
        )

    def _find_disk(self, request: Request) -> tuple[Key, dict]:
        key = (request.params["project"], request.params["zone"], request.params["disk"])
        if key not in self.disks:
            raise ApiError(404, f"The resource 'projects/{key[0]}/zones/{key[1]}/disks/{key[2]}' was not found")
        return key, self.disks[key]

    def get_disk(self, request: Request) -> dict:
        return dict(self._find_disk(request)[1])

    def delete_disk(self, request: Request) -> dict:
        key, disk = self._find_disk(request)
        if disk.get("users"):
            raise ApiError(
                400,
                f"The disk resource '{disk['selfLink']}' is already being used by '{disk['users'][0]}'",
                reason="resourceInUseByAnotherResource",
            )
        return self._operation(
            request,
            key[0],
            f"zones/{key[1]}",
            "delete",
            disk["selfLink"].removeprefix(BASE),
            lambda: self.disks.pop(key, None),
        )

    def list_disks(self, request: Request) -> dict:
        p, z = request.params["project"], self._zone(request.params["zone"])
        return self._listing("disk", [d for k, d in self.disks.items() if k[:2] == (p, z)], request.query)

    def aggregated_disks(self, request: Request) -> dict:
        return self._aggregated("disk", "disks", self.disks, request)

    # -- instances -----------------------------------------------------------------------------

    def insert_instance(self, request: Request) -> dict:
        project, zone = request.params["project"], self._zone(request.params["zone"])
        body = request.body
        name = self._check_name("instance", body.get("name"))
        key = (project, zone, name)
        if key in self.instances:
            raise ApiError(409, f"The resource 'projects/{project}/zones/{zone}/instances/{name}' already exists")
        link = f"{BASE}projects/{project}/zones/{zone}/instances/{name}"
        attached, new_disks = [], {}
        for index, spec in enumerate(body.get("disks") or []):
            params = spec.get("initializeParams")
            if params:
                disk_name = params.get("diskName") or name
                image = self._image(project, params.get("sourceImage") or "")
                disk_key = (project, zone, disk_name)
                if disk_key in self.disks:
                    raise ApiError(
                        409, f"The resource 'projects/{project}/zones/{zone}/disks/{disk_name}' already exists"
                    )
                new_disks[disk_key] = {
                    "name": disk_name,
                    "zone": f"{BASE}projects/{project}/zones/{zone}",
                    "sizeGb": str(_int(params.get("diskSizeGb")) or _int(image.get("diskSizeGb"), 10)),
                    "status": "READY",
                    "labels": dict(params.get("labels") or {}),
                    "selfLink": f"{BASE}projects/{project}/zones/{zone}/disks/{disk_name}",
                    "sourceImage": image["selfLink"],
                    "users": [link],
                }
                disk_key_used = disk_key
            else:
                disk_key_used = self._disk_key(project, zone, spec.get("source") or "")
                if disk_key_used not in self.disks:
                    raise ApiError(404, f"The resource '{spec.get('source')}' was not found")
                if self.disks[disk_key_used].get("users") and spec.get("mode", "READ_WRITE") == "READ_WRITE":
                    raise ApiError(
                        400,
                        f"The disk resource '{spec.get('source')}' is already being used by "
                        f"'{self.disks[disk_key_used]['users'][0]}'",
                        reason="resourceInUseByAnotherResource",
                    )
            attached.append(
                {
                    "deviceName": spec.get("deviceName") or disk_key_used[2],
                    "source": f"{BASE}projects/{disk_key_used[0]}/zones/{disk_key_used[1]}/disks/{disk_key_used[2]}",
                    "boot": bool(spec.get("boot")),
                    "autoDelete": bool(spec.get("autoDelete")),
                    "mode": spec.get("mode", "READ_WRITE"),
                    "index": index,
                }
            )
        instance = {
            "kind": "compute#instance",
            "id": str(next(self._ids)),
            "name": name,
            "zone": f"{BASE}projects/{project}/zones/{zone}",
            "machineType": body.get("machineType"),
            "status": "RUNNING",
            "labels": dict(body.get("labels") or {}),
            "metadata": body.get("metadata") or {},
            "serviceAccounts": body.get("serviceAccounts") or [],
            "networkInterfaces": body.get("networkInterfaces") or [],
            "disks": attached,
            "selfLink": link,
        }

        def effect() -> None:
            self.disks.update(new_disks)
            for spec in attached:
                disk = self.disks[self._disk_key(project, zone, spec["source"])]
                if link not in disk.setdefault("users", []):
                    disk["users"].append(link)
            self.instances[key] = instance
            self.serial[key] = {"text": "", "reads": 0}

        return self._operation(request, project, f"zones/{zone}", "insert", link.removeprefix(BASE), effect)

    def _find_instance(self, request: Request) -> tuple[Key, dict]:
        key = (request.params["project"], request.params["zone"], request.params["instance"])
        if key not in self.instances:
            raise ApiError(404, f"The resource 'projects/{key[0]}/zones/{key[1]}/instances/{key[2]}' was not found")
        return key, self.instances[key]

    def get_instance(self, request: Request) -> dict:
        return dict(self._find_instance(request)[1])

    def delete_instance(self, request: Request) -> dict:
        key, instance = self._find_instance(request)

        def effect() -> None:
            for spec in instance["disks"]:
                disk_key = self._disk_key(key[0], key[1], spec["source"])
                disk = self.disks.get(disk_key)
                if disk is None:
                    continue
                disk["users"] = [u for u in disk.get("users", []) if u != instance["selfLink"]]
                if spec["autoDelete"]:
                    self.disks.pop(disk_key)
            self.instances.pop(key)
            self.serial.pop(key, None)

        return self._operation(
            request, key[0], f"zones/{key[1]}", "delete", instance["selfLink"].removeprefix(BASE), effect
        )

    def detach_disk(self, request: Request) -> dict:
        key, instance = self._find_instance(request)
        device = request.query.get("deviceName")
        spec = next((d for d in instance["disks"] if d["deviceName"] == device), None)
        if spec is None:
            raise ApiError(400, f"No attached disk found with device name '{device}'")

        def effect() -> None:
            instance["disks"].remove(spec)
            disk = self.disks.get(self._disk_key(key[0], key[1], spec["source"]))
            if disk is not None:
                disk["users"] = [u for u in disk.get("users", []) if u != instance["selfLink"]]

        return self._operation(
            request, key[0], f"zones/{key[1]}", "detachDisk", instance["selfLink"].removeprefix(BASE), effect
        )

    def serial_port_output(self, request: Request) -> dict:
        key, instance = self._find_instance(request)
        console = self.serial[key]
        console["reads"] += 1
        console["text"] += self.serial_source(instance, console["reads"])
        start = _int(request.query.get("start"))
        text = console["text"]
        return {
            "kind": "compute#serialPortOutput",
            "contents": text[start:],
            "start": str(start),
            "next": str(len(text)),
            "selfLink": instance["selfLink"] + "/serialPort",
        }

    def list_instances(self, request: Request) -> dict:
        p, z = request.params["project"], self._zone(request.params["zone"])
        return self._listing("instance", [i for k, i in self.instances.items() if k[:2] == (p, z)], request.query)

    def aggregated_instances(self, request: Request) -> dict:
        return self._aggregated("instance", "instances", self.instances, request)

    # -- images --------------------------------------------------------------------------------

    def insert_image(self, request: Request) -> dict:
        project = request.params["project"]
        body = request.body
        name = self._check_name("image", body.get("name"))
        if (project, name) in self.images:
            raise ApiError(409, f"The resource 'projects/{project}/global/images/{name}' already exists")
        source = body.get("sourceDisk") or ""
        disk_key = self._disk_key(project, "", source)
        disk = self.disks.get(disk_key)
        if disk is None:
            raise ApiError(404, f"The resource '{source}' was not found")
        if disk.get("users") and request.query.get("forceCreate") not in ("true", "True"):
            raise ApiError(
                400,
                f"The disk resource '{disk['selfLink']}' is already being used by '{disk['users'][0]}'",
                reason="resourceInUseByAnotherResource",
            )
        image = {
            "kind": "compute#image",
            "id": str(next(self._ids)),
            "name": name,
            "family": body.get("family") or None,
            "description": body.get("description") or "",
            "labels": dict(body.get("labels") or {}),
            "sourceDisk": disk["selfLink"],
            "diskSizeGb": disk["sizeGb"],
            "status": "READY",
            "storageLocations": body.get("storageLocations") or ["us"],
            "selfLink": f"{BASE}projects/{project}/global/images/{name}",
        }
        image = {k: v for k, v in image.items() if v is not None}
        return self._operation(
            request,
            project,
            "global",
            "insert",
            f"projects/{project}/global/images/{name}",
            lambda: self.images.__setitem__((project, name), image),
        )

    def _find_image(self, request: Request) -> tuple[tuple[str, str], dict]:
        key = (request.params["project"], request.params["image"])
        if key not in self.images:
            raise ApiError(404, f"The resource 'projects/{key[0]}/global/images/{key[1]}' was not found")
        return key, self.images[key]

    def get_image(self, request: Request) -> dict:
        return dict(self._find_image(request)[1])

    def delete_image(self, request: Request) -> dict:
        key, image = self._find_image(request)
        return self._operation(
            request,
            key[0],
            "global",
            "delete",
            image["selfLink"].removeprefix(BASE),
            lambda: self.images.pop(key, None),
        )

    def list_images(self, request: Request) -> dict:
        p = request.params["project"]
        return self._listing("image", [i for k, i in self.images.items() if k[0] == p], request.query)

    # -- routing -------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        z = "/compute/v1/projects/{project}/zones/{zone}"
        g = "/compute/v1/projects/{project}/global"
        a = "/compute/v1/projects/{project}/aggregated"
        return [
            route("POST", f"{z}/disks", "compute.disks.insert", self.insert_disk, starts_operation=True),
            route("GET", f"{z}/disks", "compute.disks.list", self.list_disks),
            route("GET", f"{z}/disks/{{disk}}", "compute.disks.get", self.get_disk),
            route("DELETE", f"{z}/disks/{{disk}}", "compute.disks.delete", self.delete_disk, starts_operation=True),
            route("GET", f"{a}/disks", "compute.disks.aggregatedList", self.aggregated_disks),
            route("POST", f"{z}/instances", "compute.instances.insert", self.insert_instance, starts_operation=True),
            route("GET", f"{z}/instances", "compute.instances.list", self.list_instances),
            route("GET", f"{z}/instances/{{instance}}", "compute.instances.get", self.get_instance),
            route(
                "DELETE",
                f"{z}/instances/{{instance}}",
                "compute.instances.delete",
                self.delete_instance,
                starts_operation=True,
            ),
            route(
                "POST",
                f"{z}/instances/{{instance}}/detachDisk",
                "compute.instances.detachDisk",
                self.detach_disk,
                starts_operation=True,
            ),
            route(
                "GET",
                f"{z}/instances/{{instance}}/serialPort",
                "compute.instances.getSerialPortOutput",
                self.serial_port_output,
            ),
            route("GET", f"{a}/instances", "compute.instances.aggregatedList", self.aggregated_instances),
            route("POST", f"{g}/images", "compute.images.insert", self.insert_image, starts_operation=True),
            route("GET", f"{g}/images", "compute.images.list", self.list_images),
            route("GET", f"{g}/images/{{image}}", "compute.images.get", self.get_image),
            route("DELETE", f"{g}/images/{{image}}", "compute.images.delete", self.delete_image, starts_operation=True),
            route(
                "GET",
                f"{z}/operations/{{operation}}",
                "compute.zoneOperations.get",
                lambda r: self._get_operation(r, f"zones/{r.params['zone']}"),
            ),
            route(
                "POST",
                f"{z}/operations/{{operation}}/wait",
                "compute.zoneOperations.wait",
                lambda r: self._get_operation(r, f"zones/{r.params['zone']}"),
            ),
            route(
                "GET",
                f"{g}/operations/{{operation}}",
                "compute.globalOperations.get",
                lambda r: self._get_operation(r, "global"),
            ),
            route(
                "POST",
                f"{g}/operations/{{operation}}/wait",
                "compute.globalOperations.wait",
                lambda r: self._get_operation(r, "global"),
            ),
        ]
