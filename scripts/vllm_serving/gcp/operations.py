"""Waiting for long-running operations of Compute Engine and GKE.

Operations are polled explicitly through our own ZoneOperations/GlobalOperations/ClusterManager
clients rather than with ``ExtendedOperation.result()``: the clients that ``result()`` polls with
are built by the library without the caller's ``client_options``, so they would ignore an
endpoint override. Polling here also gives an injectable clock, a timeout and progress.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vllm_serving.errors import CloudError
from vllm_serving.gcp import api
from vllm_serving.gcp.clock import format_duration
from vllm_serving.gcp.progress import Progress
from vllm_serving.gcp.runtime import Runtime

_SHOW_WAIT_AFTER = 15.0  # seconds; shorter waits are not worth a progress line


class OperationTimeout(CloudError):
    """An operation did not finish within its timeout."""


class Waiter:
    def __init__(self, runtime: Runtime, progress: Progress):
        self.runtime = runtime
        self.progress = progress

    def compute(self, op: Any, *, project: str, zone: str | None, what: str, timeout: float) -> None:
        """Wait for a Compute Engine operation (zonal if ``zone``, else global); raise CloudError if it failed."""
        from google.cloud import compute_v1

        clients, name = self.runtime.clients, op.name
        if zone:

            def refresh() -> Any:
                return clients.zone_operations.get(project=project, zone=zone, operation=name)
        else:

            def refresh() -> Any:
                return clients.global_operations.get(project=project, operation=name)

        def failure(current: Any) -> str:
            errors = "; ".join(e.message for e in current.error.errors if e.message)
            code = getattr(current, "http_error_status_code", 0)
            if not errors and not code:
                return ""
            return f"{code} {errors}".strip() if code else errors

        self._wait(op, refresh, lambda o: o.status == compute_v1.Operation.Status.DONE, failure, what, timeout)

    def container(self, op: Any, *, project: str, location: str, what: str, timeout: float) -> None:
        """Wait for a GKE operation; raise CloudError if it failed."""
        from google.cloud import container_v1

        name = f"projects/{project}/locations/{location}/operations/{op.name}"
        client = self.runtime.clients.cluster_manager

        def failure(current: Any) -> str:
            return current.error.message or (current.status_message if current.error.code else "")

        self._wait(
            op,
            lambda: client.get_operation(name=name),
            lambda o: o.status == container_v1.Operation.Status.DONE,
            failure,
            what,
            timeout,
        )

    def _wait(
        self,
        current: Any,
        refresh: Callable[[], Any],
        is_done: Callable[[Any], bool],
        failure: Callable[[Any], str],
        what: str,
        timeout: float,
    ) -> None:
        clock = self.runtime.clock
        started = clock.now()
        while not is_done(current):
            elapsed = clock.now() - started
            if elapsed >= timeout:
                raise OperationTimeout(
                    f"{what}: operation {current.name} not finished after "
                    f"{format_duration(timeout)}; raise --operation-timeout or look at it in "
                    "the Cloud console"
                )
            if elapsed >= _SHOW_WAIT_AFTER:
                self.progress.wait(elapsed, timeout, "waiting for the operation")
            clock.sleep(min(self.runtime.poll_interval, timeout - elapsed))
            current = api.call(f"{what} (polling its operation)", refresh, clock=clock, delay=self.runtime.retry_delay)
        message = failure(current)
        if message:
            raise CloudError(f"{what} failed: {message}")
