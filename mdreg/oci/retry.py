"""Retries with exponential backoff and full jitter.

JSON calls use the SDK's own retry strategy (``sdk_strategy``). Streamed uploads (artifact
bodies, multipart parts) are retried here instead: each attempt reopens the file at its
offset, so nothing depends on the SDK rewinding a stream, and progress is never counted
twice.

Retried: HTTP 429, 5xx except 501, 409 IncorrectState/LockConflict, connection errors,
resets and timeouts, and ``Corrupted`` (the service's checksum of what it received
differs from ours). Anything else fails at once.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from mdreg._files import Stopped
from mdreg.oci.settings import OciSettings

T = TypeVar("T")

__all__ = ["Corrupted", "Stopped", "backoff", "call", "is_retryable", "no_retries", "sdk_strategy"]

RETRY_409_CODES = ("IncorrectState", "LockConflict")


class Corrupted(Exception):
    """What the service received differs from what was sent (checksums differ)."""


def is_retryable(exc: BaseException) -> bool:
    import oci

    from mdreg.oci.errors import is_network_error

    if isinstance(exc, Corrupted):
        return True
    if isinstance(exc, oci.exceptions.ServiceError):
        if exc.status == 429 or (exc.status >= 500 and exc.status != 501):
            return True
        return exc.status == 409 and exc.code in RETRY_409_CODES
    return is_network_error(exc)


def backoff(attempt: int, settings: OciSettings, exc: BaseException | None = None) -> float:
    """Seconds to wait before try ``attempt + 1`` (attempt counts from 1): full jitter
    below ``base * 2**(attempt-1)``, capped, and at least a 429's ``retry-after``."""
    cap = min(settings.retry_max_seconds, settings.retry_base_seconds * 2 ** (attempt - 1))
    wait = random.uniform(0, cap)  # noqa: S311 - jitter, not a secret
    headers = getattr(exc, "headers", None) or {}
    after = headers.get("retry-after") if hasattr(headers, "get") else None
    if after:
        try:
            wait = max(wait, min(float(after), settings.retry_max_seconds))
        except ValueError:
            pass
    return wait


def call(
    fn: Callable[[int], T],
    settings: OciSettings,
    *,
    stop: threading.Event | None = None,
    on_retry: Callable[[int, BaseException], None] | None = None,
) -> T:
    """``fn(attempt)`` until it succeeds, a non-retryable error, or ``max_attempts``."""
    attempt = 1
    while True:
        if stop is not None and stop.is_set():
            raise Stopped()
        try:
            return fn(attempt)
        except Exception as exc:  # noqa: BLE001 - sorted by is_retryable
            if (
                isinstance(exc, Stopped)
                or attempt >= settings.max_attempts
                or not is_retryable(exc)
            ):
                raise
            if on_retry is not None:
                on_retry(attempt, exc)
            wait = backoff(attempt, settings, exc)
            if stop is not None:
                if stop.wait(wait):
                    raise Stopped() from exc
            else:
                time.sleep(wait)
            attempt += 1


def sdk_strategy(settings: OciSettings) -> Any:
    """The SDK retry strategy for JSON calls, with the same limits as ``call``."""
    import oci

    return oci.retry.RetryStrategyBuilder(
        max_attempts_check=True,
        max_attempts=settings.max_attempts,
        total_elapsed_time_check=True,
        total_elapsed_time_seconds=600,
        service_error_check=True,
        service_error_retry_on_any_5xx=True,
        service_error_retry_config={429: [], 409: list(RETRY_409_CODES)},
        retry_base_sleep_time_seconds=settings.retry_base_seconds,
        retry_max_wait_between_calls_seconds=settings.retry_max_seconds,
        backoff_type=oci.retry.BACKOFF_FULL_JITTER_VALUE,
    ).get_retry_strategy()


def no_retries() -> Any:
    import oci

    return oci.retry.NoneRetryStrategy()
