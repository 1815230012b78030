"""GKE (container.googleapis.com v1) in memory: clusters, node pools and their operations."""

from __future__ import annotations

import itertools
import json
import re

from support.fakegcp.server import ApiError, Request, Route, route

BASE = "https://container.googleapis.com/v1/"
_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$")
Key = tuple[str, str, str]


def _node_pool_problems(pool: dict) -> list[str]:
    """What GKE refuses in a NodePool: fields its v1 API does not have (read with the API's own message
    types from google-cloud-container), and the combinations its capacity guides rule out:
    https://cloud.google.com/kubernetes-engine/docs/how-to/spot-vms (Spot consumes no reservation),
    https://cloud.google.com/kubernetes-engine/docs/concepts/dws (flex-start: no Spot, no reservation),
    https://cloud.google.com/kubernetes-engine/docs/how-to/provisioningrequest (queued provisioning:
    flex-start, autoscaled from zero, no reservation)."""
    from google.cloud import container_v1

    try:
        parsed = container_v1.NodePool.from_json(json.dumps(pool))
    except Exception as err:  # the message types raise ParseError for unknown fields and bad values
        return [f"Invalid JSON payload received. {err}"]
    # Enums by name, whichever encoding the client chose.
    pool = json.loads(container_v1.NodePool.to_json(parsed, use_integers_for_enums=False))
    config = pool.get("config") or {}
    reservation = (config.get("reservationAffinity") or {}).get("consumeReservationType", "UNSPECIFIED")
    consumes = reservation in ("ANY_RESERVATION", "SPECIFIC_RESERVATION", "ANY_RESERVATION_THEN_FAIL")
    problems = []
    if config.get("spot") and config.get("flexStart"):
        problems.append("Spot VMs and flex-start VMs cannot be used together.")
    if consumes and (config.get("spot") or config.get("flexStart")):
        problems.append("Spot and flex-start VMs cannot consume reservations.")
    if (pool.get("queuedProvisioning") or {}).get("enabled"):
        if not config.get("flexStart"):
            problems.append("Queued provisioning requires flex-start.")
        if reservation != "NO_RESERVATION":
            problems.append("Queued provisioning requires reservation affinity NO_RESERVATION.")
        if not (pool.get("autoscaling") or {}).get("enabled") or int(pool.get("initialNodeCount") or 0):
            problems.append("Queued provisioning requires autoscaling from 0 nodes.")
    return problems


class Container:
    """The state and the handlers of the fake GKE API. Tests add clusters with ``add_cluster``."""

    def __init__(self) -> None:
        self.clusters: dict[Key, dict] = {}  # (project, location, name)
        self.node_pools: dict[tuple[str, str, str, str], dict] = {}  # (project, location, cluster, name)
        self.operations: dict[Key, dict] = {}  # (project, location, name)
        self.op_polls = 0
        self._ids = itertools.count(1)
        self._polls_left: dict[Key, int] = {}

    def add_cluster(self, project: str, location: str, name: str, **fields: object) -> dict:
        cluster = {
            "name": name,
            "location": location,
            "status": "RUNNING",
            "selfLink": f"{BASE}projects/{project}/locations/{location}/clusters/{name}",
            **fields,
        }
        self.clusters[(project, location, name)] = cluster
        return cluster

    def _cluster(self, request: Request) -> Key:
        key = (request.params["project"], request.params["location"], request.params["cluster"])
        if key not in self.clusters:
            raise ApiError(404, f"Not found: projects/{key[0]}/locations/{key[1]}/clusters/{key[2]}.")
        return key

    def _operation(self, request: Request, key: Key, kind: str, target: str, effect) -> dict:
        name = f"operation-{next(self._ids)}"
        op = {
            "name": name,
            "zone": key[1],
            "location": key[1],
            "operationType": kind,
            "status": "RUNNING",
            "selfLink": f"{BASE}projects/{key[0]}/locations/{key[1]}/operations/{name}",
            "targetLink": target,
        }
        if request.op_error is None:
            effect()
        else:
            op["error"] = {"code": 13, "message": request.op_error.message}
            op["statusMessage"] = request.op_error.message
        op_key = (key[0], key[1], name)
        self.operations[op_key] = op
        self._polls_left[op_key] = self.op_polls
        if self.op_polls <= 0:
            self._finish(op_key)
        return dict(op)

    def _finish(self, key: Key) -> None:
        self.operations[key]["status"] = "DONE"

    def _advance(self, key: Key) -> None:
        """One poll: RUNNING for the first ``op_polls`` polls, then DONE."""
        if self._polls_left[key] <= 0:
            self._finish(key)
        self._polls_left[key] -= 1

    def get_operation(self, request: Request) -> dict:
        key = (request.params["project"], request.params["location"], request.params["operation"])
        if key not in self.operations:
            raise ApiError(404, f"Not found: operation {key[2]}.")
        if self.operations[key]["status"] != "DONE":
            self._advance(key)
        return dict(self.operations[key])

    def get_cluster(self, request: Request) -> dict:
        return dict(self.clusters[self._cluster(request)])

    def create_node_pool(self, request: Request) -> dict:
        key = self._cluster(request)
        pool = dict(request.body.get("nodePool") or {})
        name = pool.get("name") or ""
        if not _NAME.match(name):
            raise ApiError(400, f"Invalid node pool name {name!r}.")
        for problem in _node_pool_problems(pool):
            raise ApiError(400, problem)
        pool_key = (*key, name)
        if pool_key in self.node_pools:
            raise ApiError(409, f"Already exists: node pool {name!r}.")
        pool.update(status="RUNNING", selfLink=f"{self.clusters[key]['selfLink']}/nodePools/{name}")
        return self._operation(
            request, key, "CREATE_NODE_POOL", pool["selfLink"], lambda: self.node_pools.__setitem__(pool_key, pool)
        )

    def _pool(self, request: Request) -> tuple[tuple[str, str, str, str], dict]:
        key = (*self._cluster(request), request.params["pool"])
        if key not in self.node_pools:
            raise ApiError(404, f"Not found: node pool {key[3]!r}.")
        return key, self.node_pools[key]

    def get_node_pool(self, request: Request) -> dict:
        return dict(self._pool(request)[1])

    def list_node_pools(self, request: Request) -> dict:
        key = self._cluster(request)
        return {"nodePools": [dict(p) for k, p in self.node_pools.items() if k[:3] == key]}

    def delete_node_pool(self, request: Request) -> dict:
        key, pool = self._pool(request)
        return self._operation(
            request, key[:3], "DELETE_NODE_POOL", pool["selfLink"], lambda: self.node_pools.pop(key, None)
        )

    def routes(self) -> list[Route]:
        c = "/v1/projects/{project}/locations/{location}/clusters/{cluster}"
        return [
            route("GET", c, "container.clusters.get", self.get_cluster),
            route("POST", f"{c}/nodePools", "container.nodePools.create", self.create_node_pool, starts_operation=True),
            route("GET", f"{c}/nodePools", "container.nodePools.list", self.list_node_pools),
            route("GET", f"{c}/nodePools/{{pool}}", "container.nodePools.get", self.get_node_pool),
            route(
                "DELETE",
                f"{c}/nodePools/{{pool}}",
                "container.nodePools.delete",
                self.delete_node_pool,
                starts_operation=True,
            ),
            route(
                "GET",
                "/v1/projects/{project}/locations/{location}/operations/{operation}",
                "container.operations.get",
                self.get_operation,
            ),
        ]
