"""Calling a served model: ``mdreg serve``, or an OCI model deployment's predict URL.

One POST, retried as the service's documentation asks: 429 (bandwidth or the tenancy's
request rate exceeded) and 503 (the model server is unavailable, or still loading) are
retried with exponential backoff and full jitter, honouring ``Retry-After``; anything
else is final. A deployment's requests are signed (``signer``: an ``oci`` SDK signer,
from the same auth settings as the OCI catalog), afresh for each attempt since the
signature covers the date. The transport is the standard library's ``http.client``;
the SDK is used only to compute the signature headers.
"""

from __future__ import annotations

import http.client
import json
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mdreg.errors import InputError, RemoteError

RETRIED = (429, 503)
# Predict has 60 s on the service; the answer may take a little longer to arrive.
DEFAULT_TIMEOUT_S = 65.0
OCI_DOMAINS = (".oci.customer-oci.com", ".oraclecloud.com")


class InvokeError(RemoteError):
    """The server answered with an error (``status`` > 0) or not at all (``status`` 0)."""

    def __init__(
        self, message: str, status: int = 0, code: str = "", request_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.request_id = request_id


@dataclass
class Answer:
    url: str
    status: int
    body: Any  # the JSON answer (text when the server sent something else)
    attempts: int
    ms: float  # the last attempt's round trip
    request_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "status": self.status,
            "attempts": self.attempts,
            "ms": round(self.ms, 3),
            "request_id": self.request_id,
            "answer": self.body,
        }


def predict_url(target: str) -> str:
    """``target``'s predict endpoint: a server's base URL gets ``/predict``."""
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"not an http(s) URL: {target!r}")
    if parts.path.rstrip("/").endswith("/predict"):
        return target
    return target.rstrip("/") + "/predict"


def is_oci_url(url: str) -> bool:
    """Whether ``url`` is on an OCI service domain (its requests must be signed)."""
    host = (urlsplit(url).hostname or "").lower()
    return host.endswith(OCI_DOMAINS)


def invoke(
    url: str,
    body: bytes,
    content_type: str,
    *,
    signer: Any = None,
    retries: int = 4,
    timeout: float = DEFAULT_TIMEOUT_S,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[int, float, str], None] | None = None,
) -> Answer:
    """POST ``body`` to ``url``; the answer, or RemoteError with the service's status,
    code and one-line message. ``on_retry(attempt, delay, reason)`` hears each wait."""
    attempt = 0
    while True:
        attempt += 1
        headers = {"content-type": content_type, "accept": "application/json"}
        if signer is not None:
            headers = _signed(signer, url, body, headers)
        start = time.perf_counter()
        status, response_headers, raw = _post(url, body, headers, timeout)
        ms = (time.perf_counter() - start) * 1000
        if status in RETRIED and attempt <= retries:
            delay = _backoff(attempt, response_headers.get("retry-after"))
            if on_retry is not None:
                on_retry(attempt, delay, f"{status} {_message(raw)}")
            sleep(delay)
            continue
        request_id = response_headers.get("opc-request-id")
        if status >= 400:
            code, message = _error(raw)
            raise InvokeError(
                f"{url}: {status} {code}: {message}"
                + (f" (after {attempt} attempts)" if attempt > 1 else ""),
                status=status,
                code=code,
                request_id=request_id,
            )
        return Answer(url, status, _decode(raw), attempt, ms, request_id)


def _post(
    url: str, body: bytes, headers: dict[str, str], timeout: float
) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(
            parts.hostname or "", parts.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, raw
    except (OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise InvokeError(f"{url}: no answer: {reason}") from None
    finally:
        conn.close()


def _signed(signer: Any, url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
    """The headers with the OCI request signature (date, host, content-length,
    x-content-sha256 and content-type are signed, as the SDK signs a POST)."""
    from oci._vendor import requests  # the SDK's own requests: what its signers sign

    prepared = requests.Request("POST", url, data=body, headers=headers).prepare()
    signer(prepared)
    return {k: v.decode() if isinstance(v, bytes) else str(v) for k, v in prepared.headers.items()}


def _backoff(attempt: int, retry_after: str | None) -> float:
    if retry_after:
        try:
            return min(max(float(retry_after), 0.0), 60.0)
        except ValueError:
            pass  # an HTTP date: rare from these services; fall back to the backoff
    return random.uniform(0, min(8.0, 0.5 * 2 ** (attempt - 1)))  # noqa: S311 - jitter


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return raw.decode("utf-8", errors="replace")


def _error(raw: bytes) -> tuple[str, str]:
    doc = _decode(raw)
    if isinstance(doc, dict):
        code = str(doc.get("code") or "Error")
        message = doc.get("message") or doc.get("error") or doc.get("detail") or json.dumps(doc)
        return code, _first_line(str(message))
    return "Error", _first_line(str(doc)) or "(no body)"


def _message(raw: bytes) -> str:
    return _error(raw)[1]


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0][:300] if lines else ""
