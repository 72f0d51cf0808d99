"""SDK exceptions translated at the edge into mdreg errors.

    oci.exceptions.ServiceError (an HTTP error with a JSON body)
        404 where the caller names what is missing   -> that error (ModelNotFoundError, ...)
        anything else                                 -> OciServiceError (RemoteError, exit 5)
    connection errors, timeouts                       -> RemoteError (exit 5)
    oci.exceptions.ClientError (config, keys)         -> UsageError (exit 2)

Every message names the operation, and for service errors the HTTP status, the
service's code and message and its ``opc-request-id`` (what Oracle support asks for).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from mdreg.errors import MdregError, RemoteError, UsageError

_HINTS = {
    401: "the service refused the request's signature: check the key, profile and auth mode, "
    "and that this machine's clock is right",
    403: "the principal lacks the IAM policy for this operation",
    429: "throttled by the service: try again later",
}


class OciServiceError(RemoteError):
    """An OCI service answered with an error."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None,
        service_message: str | None,
        opc_request_id: str | None,
        operation: str,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.service_message = service_message
        self.opc_request_id = opc_request_id
        self.operation = operation


def describe(exc: Any) -> str:
    """``HTTP 404 NotAuthorizedOrNotFound: message (opc-request-id X)`` for a ServiceError."""
    rid = getattr(exc, "request_id", None) or (getattr(exc, "headers", None) or {}).get(
        "opc-request-id"
    )
    text = f"HTTP {exc.status} {exc.code or ''}".rstrip()
    if exc.message:
        text += f": {exc.message}"
    if rid:
        text += f" (opc-request-id {rid})"
    return text


def service_error(exc: Any, operation: str) -> OciServiceError:
    rid = getattr(exc, "request_id", None) or (getattr(exc, "headers", None) or {}).get(
        "opc-request-id"
    )
    message = f"{operation} failed: {describe(exc)}"
    hint = _HINTS.get(exc.status)
    if hint:
        message += f"; {hint}"
    return OciServiceError(
        message,
        status=exc.status,
        code=exc.code,
        service_message=exc.message,
        opc_request_id=rid,
        operation=operation,
    )


def is_not_found(exc: BaseException) -> bool:
    import oci

    return isinstance(exc, oci.exceptions.ServiceError) and exc.status == 404


@contextmanager
def translated(
    operation: str, *, not_found: Callable[[Any], MdregError] | None = None
) -> Iterator[None]:
    """Run the block; turn SDK and network exceptions into mdreg errors.

    ``not_found(exc)`` builds the error for an HTTP 404 (the request id is appended).
    """
    import oci

    try:
        yield
    except oci.exceptions.ServiceError as exc:
        if exc.status == 404 and not_found is not None:
            err = not_found(exc)
            rid = getattr(exc, "request_id", None)
            if rid and err.args:
                err.args = (f"{err.args[0]} (opc-request-id {rid})",)
            raise err from exc
        raise service_error(exc, operation) from exc
    except MdregError:
        raise
    except oci.exceptions.ClientError as exc:
        raise UsageError(f"{operation}: {exc}") from exc
    except Exception as exc:
        if is_network_error(exc):
            raise network_error(exc, operation) from exc
        raise


def is_network_error(exc: BaseException) -> bool:
    """Connection refused/reset, timeouts, a body cut short: worth another try."""
    import http.client

    import oci
    import urllib3  # the SDK vendors requests but uses this urllib3
    from oci._vendor import requests

    return isinstance(
        exc,
        (
            oci.exceptions.RequestException,
            oci.exceptions.ConnectTimeout,
            requests.exceptions.RequestException,
            urllib3.exceptions.HTTPError,
            http.client.HTTPException,
            ConnectionError,
            TimeoutError,
        ),
    )


def network_error(exc: BaseException, operation: str) -> RemoteError:
    return RemoteError(
        f"{operation} failed: cannot reach the service ({_first_line(exc)}); "
        "check the network, the region and any endpoint override"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc.args[0]) if getattr(exc, "args", None) else str(exc)
    text = text.split("\n", 1)[0]
    return (text[:200] + "...") if len(text) > 200 else text or type(exc).__name__
