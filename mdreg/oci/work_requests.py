"""Following a Data Science work request (``export_model_artifact``,
``import_model_artifact``, model deployments' create, update, activate, deactivate and
delete) to its end."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from mdreg._files import ProgressFn
from mdreg.errors import RemoteError
from mdreg.oci.errors import translated
from mdreg.oci.responses import required
from mdreg.oci.settings import OciSettings


def follow(
    ds: Any,
    work_request_id: str,
    what: str,
    settings: OciSettings,
    *,
    size: int = 0,
    progress: ProgressFn | None = None,
    on_poll: Callable[[Any], None] | None = None,
) -> None:
    """Poll the work request (``ds``: the Data Science client) until it ends; feed
    ``progress`` its percentage of ``size`` and ``on_poll`` each state read (the SDK's
    ``WorkRequest``); RemoteError with the service's error messages when it does not
    succeed, or when it runs past ``work_request_timeout_seconds``."""
    reported = 0
    deadline = time.monotonic() + settings.work_request_timeout_seconds
    while True:
        with translated(f"{what}: following work request {work_request_id}"):
            wr = ds.get_work_request(work_request_id).data
        required(wr.status, "status", f"{what}: work request {work_request_id}", "says its end")
        if on_poll is not None:
            on_poll(wr)
        done = int(size * min(100.0, float(wr.percent_complete or 0)) / 100)
        if progress is not None and done > reported:
            progress(done - reported)
            reported = done
        if wr.status == "SUCCEEDED":
            if progress is not None and size > reported:
                progress(size - reported)
            return
        if wr.status in ("FAILED", "CANCELED"):
            raise RemoteError(
                f"{what}: work request {work_request_id} {wr.status}{_errors(ds, work_request_id)}"
            )
        if time.monotonic() > deadline:
            raise RemoteError(
                f"{what}: work request {work_request_id} still {wr.status} after "
                f"{settings.work_request_timeout_seconds:.0f} s"
            )
        time.sleep(settings.poll_seconds)


def _errors(ds: Any, work_request_id: str) -> str:
    try:
        errors = ds.list_work_request_errors(work_request_id).data
    except Exception:  # noqa: BLE001 - the failure itself is what matters
        return ""
    return "".join(f"; {e.code}: {e.message}" for e in errors or [])
