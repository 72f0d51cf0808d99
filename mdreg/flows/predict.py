"""``predict``: data in, a served model's answer out (``mdreg serve`` or an OCI model
deployment).

The body is built as ``verify`` builds it (``checks.verify.request_body``: a JSON file
as it is, CSV/Parquet/.npy samples encoded as the chosen payload format), then POSTed
by ``mdreg.invoke`` with retries. A URL on an OCI domain is signed with the OCI
settings in force (``mdreg.oci.settings``: flags, environment, config file), as the
catalog's calls are; ``sign`` forces signing on or off (a local emulator of a
deployment, a proxy in front of one). A model deployment's OCID is resolved with
``get_model_deployment`` to its ``model_deployment_url`` + ``/predict``, and signed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from mdreg.errors import InputError
from mdreg.invoke import DEFAULT_TIMEOUT_S, Answer, invoke, is_oci_url, predict_url

# A request body above this gets 413 from the service: refused before sending.
MAX_BODY_BYTES = 10 * 1024 * 1024


def predict(
    target: str,
    data: Path | str,
    *,
    payload_format: str = "json",
    response: str | None = None,
    sign: bool | None = None,
    retries: int = 4,
    timeout: float = DEFAULT_TIMEOUT_S,
    on_retry: Callable[[int, float, str], None] | None = None,
) -> Answer:
    """POST ``data`` (a sample file's path, or JSON text) to ``target`` (a server's URL,
    a predict URL or a model deployment's OCID) as ``payload_format``; the decoded answer."""
    from mdreg import payload as codec
    from mdreg.checks.verify import request_body
    from mdreg.oci.deployment_spec import is_deployment_id

    deployment = is_deployment_id(target)
    url = "" if deployment else predict_url(target)
    if isinstance(data, Path) and not data.is_file():
        raise InputError(f"{data}: no such file")
    body = request_body(None, data, payload_format, response)
    if len(body) > MAX_BODY_BYTES:
        raise InputError(
            f"the request body is {len(body):,} bytes; a model deployment refuses bodies "
            f"above {MAX_BODY_BYTES:,} (10 MB): send fewer rows per request"
        )
    signer = None
    if deployment:  # after the body's checks: nothing is called for a body refused
        url, signer = _deployment_url(target)
    signing = (deployment or is_oci_url(url)) if sign is None else sign
    return invoke(
        url,
        body,
        codec.content_type(payload_format),
        signer=(signer or _signer()) if signing else None,
        retries=retries,
        timeout=timeout,
        on_retry=on_retry,
    )


def _deployment_url(deployment_id: str) -> tuple[str, Any]:
    """The deployment's predict URL, and the signer of the credentials that found it."""
    from mdreg.oci.clients import OciClients
    from mdreg.oci.deployments import Deployments
    from mdreg.oci.settings import resolve

    clients = OciClients(resolve())
    try:
        return Deployments(clients).predict_url(deployment_id), clients.credentials.signer
    finally:
        clients.close()


def _signer() -> Any:
    from mdreg.oci.auth import credentials
    from mdreg.oci.settings import resolve

    try:
        import oci  # noqa: F401 - the signer is the SDK's
    except ImportError:
        from mdreg.errors import FrameworkNotInstalledError

        raise FrameworkNotInstalledError(
            "signing for an OCI model deployment", "oci", "oci"
        ) from None
    return credentials(resolve()).signer
