"""The server's ASGI application: the model deployment's HTTP contract.

    POST /predict   a JSON body (``application/json``) reaches score.py's predict
                    decoded, any other as raw bytes; the answer is predict's return
                    value as JSON, with an ``opc-request-id`` header
    GET  /health    200 once the model is loaded, 503 while it loads

Errors have the service's status codes and its error body, ``{"code": ..., "message":
...}`` with a one-line message: 400 for a body that is not what its content type says
(malformed JSON, empty), 404 for another path, 405 for another method, 411 without
Content-Length (a chunked body has none: the service's load balancer refuses those
too), 413 above 10 MB, 500 when predict raises, returns something JSON cannot hold, or
overstays the timeout (60 s), or when its worker dies (pool.py), 503 while the model
loads or while every worker stays busy past the timeout.

Plain ASGI, no web framework: the whole request path is this module, and its cost is
measured in benchmarks/serve_bench.py.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from mdreg.server.access_log import AccessLog
from mdreg.server.pool import READY, PoolError, WorkerPool
from mdreg.server.settings import ServeOptions

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# status -> the service's error code (OCI API errors)
_CODES = {
    400: "InvalidParameter",
    404: "NotAuthorizedOrNotFound",
    405: "MethodNotAllowed",
    411: "LengthRequired",
    413: "PayloadTooLarge",
    500: "InternalServerError",
    503: "ServiceUnavailable",
}


class Reply(Exception):
    """An error answer, raised from anywhere in the request path."""

    def __init__(self, status: int, message: str, headers: list[tuple[bytes, bytes]] = []):  # noqa: B006 - never mutated
        super().__init__(message)
        self.status = status
        self.headers = headers


class App:
    def __init__(
        self, artifact_dir: str, options: ServeOptions, on_fatal: Callable[[str], None]
    ) -> None:
        self.options = options
        self.log = AccessLog(options.json_logs)
        self.pool = WorkerPool(
            artifact_dir, options.workers, options.timeout_s, self.log.event, on_fatal
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            try:
                message = await receive()
            except asyncio.CancelledError:  # a second Ctrl-C: uvicorn exits at once
                self.pool.kill_all()
                return
            if message["type"] == "lifespan.startup":
                # The workers load in the background: until one is ready, the server
                # answers 503, as the deployment's model server does while it starts.
                self.pool.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.pool.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        headers = _headers(scope)
        request_id = headers.get(b"opc-request-id", b"").decode("latin-1") or uuid.uuid4().hex
        path, method = scope["path"], scope["method"]
        reason = None
        try:
            if path == "/predict":
                status, body = await self._predict(method, headers, receive)
            elif path == "/health":
                status, body = self._health(method)
            else:
                raise Reply(404, f"no such path: {path} (there are /predict and /health)")
            extra: list[tuple[bytes, bytes]] = []
        except Reply as reply:
            status, reason, extra = reply.status, str(reply), reply.headers
            body = json.dumps({"code": _CODES[status], "message": reason}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"opc-request-id", request_id.encode("latin-1")),
                    *extra,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body if method != "HEAD" else b""})
        client = scope.get("client") or ("-", 0)
        ms = (time.perf_counter() - start) * 1000
        self.log.request(client[0], method, path, status, len(body), ms, request_id, reason)

    def _health(self, method: str) -> tuple[int, bytes]:
        if method not in ("GET", "HEAD"):
            raise Reply(
                405, f"{method} is not allowed on /health: use GET", [(b"allow", b"GET, HEAD")]
            )
        if self.pool.state != READY:
            raise Reply(503, "the model is loading")
        return 200, json.dumps({"status": READY, "workers": self.pool.ready_workers()}).encode()

    async def _predict(
        self, method: str, headers: dict[bytes, bytes], receive: Receive
    ) -> tuple[int, bytes]:
        if method != "POST":
            raise Reply(
                405, f"{method} is not allowed on /predict: use POST", [(b"allow", b"POST")]
            )
        _content_length(headers, self.options.max_body_bytes)
        body = await _read_body(receive)
        if not body:
            raise Reply(400, "the request body is empty")
        kind = b"J" if _is_json(headers.get(b"content-type", b"")) else b"B"
        try:
            return 200, await self.pool.predict(kind, body)
        except PoolError as exc:
            raise Reply(exc.status, str(exc)) from None


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {k.lower(): v for k, v in scope["headers"]}


def _content_length(headers: dict[bytes, bytes], limit: int) -> int:
    value = headers.get(b"content-length")
    if value is None:
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        why = "a chunked body is refused, as the service does" if chunked else "it is required"
        raise Reply(411, f"no Content-Length header: {why}")
    try:
        size = int(value)
    except ValueError:
        raise Reply(400, f"Content-Length is not a number: {value!r}") from None
    if size > limit:
        raise Reply(413, f"the body is {size:,} bytes; the limit is {limit:,}")
    return size


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Reply(400, "the client went away before sending the whole body")
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _is_json(content_type: bytes) -> bool:
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or media.endswith(b"+json")
