"""One way to call a Google Cloud API: transient errors retried, the rest turned into CloudError."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exc
from requests import exceptions as req_exc

from vllm_serving.errors import CloudError
from vllm_serving.gcp.clock import Clock

T = TypeVar("T")

# The OAuth scope of the VMs and nodes created here; IAM roles, not scopes, limit what they may do.
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"

TRANSIENT = (
    gexc.ServiceUnavailable,
    gexc.InternalServerError,
    gexc.TooManyRequests,
    gexc.DeadlineExceeded,
    gexc.BadGateway,
    gexc.GatewayTimeout,
    req_exc.ConnectionError,
    req_exc.Timeout,
)

_HINTS = {
    401: "check your credentials: gcloud auth application-default login",
    403: "check that the account may do this in the project (roles/compute.instanceAdmin.v1, "
    "roles/compute.storageAdmin, roles/iam.serviceAccountUser; roles/container.admin for node pools)",
    429: "quota or rate limit reached: wait, pick another zone, or ask for more quota",
}


def describe(err: BaseException) -> str:
    """``403 Forbidden: message (hint)`` for an API error; the text of anything else."""
    if isinstance(err, gexc.GoogleAPICallError):
        code = int(err.code) if isinstance(err.code, int) else err.code
        message = err.message or type(err).__name__
        hint = _HINTS.get(code) if isinstance(code, int) else None
        return f"{code} {message}" + (f" ({hint})" if hint else "")
    return str(err) or type(err).__name__


def call(
    what: str, fn: Callable[[], T], *, clock: Clock, attempts: int = 4, delay: float = 2.0, missing_ok: bool = False
) -> T | None:
    """Run ``fn``; retry transient failures with doubling back-off; NotFound -> None if ``missing_ok``."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except gexc.NotFound as err:
            if missing_ok:
                return None
            raise CloudError(f"{what}: {describe(err)}") from err
        except TRANSIENT as err:
            if attempt == attempts:
                raise CloudError(f"{what}: {describe(err)} (gave up after {attempts} attempts)") from err
            clock.sleep(delay * 2 ** (attempt - 1))
        except gexc.GoogleAPICallError as err:
            raise CloudError(f"{what}: {describe(err)}") from err
        except auth_exc.DefaultCredentialsError as err:
            raise CloudError(
                f"{what}: no Google Cloud credentials found; run "
                "`gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS"
            ) from err
        except auth_exc.GoogleAuthError as err:
            raise CloudError(f"{what}: authentication failed: {err}") from err
    raise AssertionError("unreachable")
