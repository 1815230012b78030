"""A fake of the Compute Engine, GKE and Secret Manager REST APIs on loopback, for tests of the real clients.

    with FakeGcp() as fake:
        client = compute_v1.DisksClient(
            credentials=AnonymousCredentials(), transport="rest",
            client_options={"api_endpoint": fake.endpoint},   # http://127.0.0.1:PORT
        )
        fake.fail("compute.disks.insert")                     # the next insert answers 503
        fake.fail("compute.images.insert", in_operation=True) # the next image operation ends in error

Every call is logged in ``fake.calls`` (its route name, such as ``compute.instances.insert``).
"""

from __future__ import annotations

from support.fakegcp.compute import Compute
from support.fakegcp.container import Container
from support.fakegcp.secretmanager import SecretManager
from support.fakegcp.server import ApiError, Call, Failure, HttpServer, Router

__all__ = ["ApiError", "Call", "Compute", "Container", "Failure", "FakeGcp", "SecretManager"]


class FakeGcp:
    """Compute Engine, GKE and Secret Manager in memory, served over HTTP on 127.0.0.1 at a free port."""

    def __init__(self) -> None:
        self.compute = Compute()
        self.container = Container()
        self.secretmanager = SecretManager()
        routes = [*self.compute.routes(), *self.container.routes(), *self.secretmanager.routes()]
        self.router = Router(routes=routes)
        self._http = HttpServer(self.router)

    @property
    def endpoint(self) -> str:
        return self._http.endpoint

    @property
    def calls(self) -> list[Call]:
        return self.router.calls

    def call_names(self) -> list[str]:
        return [c.name for c in self.calls]

    def fail(
        self,
        call: str,
        *,
        status: int = 503,
        message: str = "injected failure",
        times: int = 1,
        after: int = 0,
        in_operation: bool = False,
    ) -> Failure:
        """Fail the call named ``call`` (after letting ``after`` of them through), ``times`` times (-1: always)."""
        failure = Failure(call, status, message, times, after, in_operation)
        with self.router.lock:
            self.router.failures.append(failure)
        return failure

    def clear_failures(self) -> None:
        with self.router.lock:
            self.router.failures.clear()

    def start(self) -> FakeGcp:
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    def __enter__(self) -> FakeGcp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
