"""The loopback HTTP server: routing, signature checks, fault injection, replies.

One ``ThreadingHTTPServer`` serves every service on one port, under the paths the real
services use, so each SDK client is pointed at it with ``service_endpoint``:

    /20190101/...             Data Science (models, version sets, model deployments,
                              work requests)
    /{deploymentId}/predict   a model deployment's predict (a real ``mdreg serve`` behind it)
    /n/...                    Object Storage (objects, multipart uploads)
    /opc/v2/...               the instance metadata service (OCI_METADATA_BASE_URL)
    /v1/x509                  the auth service's federation endpoint (instance principals)
    /_admin/...               test control (faults, stats): unsigned, loopback only

Every request to a service path must carry a valid OCI HTTP signature (draft-cavage,
``rsa-sha256``, ``date (request-target) host``, plus ``content-length content-type
x-content-sha256`` on JSON bodies, whose sha256 is checked); else 401 NotAuthenticated.
Errors are the services' JSON bodies (``{"code", "message"}``) with an ``opc-request-id``.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import shutil
import socket
import struct
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.oci_server.faults import Faults
from tests.oci_server.identity import (
    AuthError,
    Identity,
    Principal,
    verify_signature,
    write_user_files,
)
from tests.oci_server.store import ApiError, Blob, Store

CHUNK = 1 << 20


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    op: str
    fn: Callable[..., Reply]
    body: str  # "json" (read whole, signed), "stream" (read by fn, unsigned), "none"
    auth: str = "signed"  # "signed", "imds", "federation", "none"


@dataclass
class Request:
    method: str
    target: str
    path: str
    query: dict[str, str]
    params: dict[str, str]
    headers: Any
    op: str
    principal: Principal | None
    body: bytes | None
    handler: _Handler

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"{}")
        except json.JSONDecodeError as exc:
            raise ApiError(
                400, "CannotParseRequest", f"The request body is not valid JSON: {exc}"
            ) from exc

    def read_to_file(self, path: Path) -> tuple[int, str]:
        """Stream the body into ``path``: (size, base64 MD5)."""
        return self.handler.read_body_to_file(path)


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-able, or bytes
    headers: dict[str, str] = field(default_factory=dict)
    blob: Blob | None = None  # streamed for GET; its size for HEAD
    range: tuple[int, int] | None = None  # inclusive byte range of ``blob``


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(
        self,
        method: str,
        path: str,
        op: str,
        fn: Callable[..., Reply],
        body: str = "none",
        auth: str = "signed",
    ) -> None:
        regex = (
            "^"
            + re.sub(r"\{(\w+)\+\}", r"(?P<\1>.+)", re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path))
            + "$"
        )
        self.routes.append(Route(method, re.compile(regex), op, fn, body, auth))

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        for route in self.routes:
            if route.method == method:
                m = route.pattern.match(path)
                if m:
                    return route, {k: unquote(v) for k, v in m.groupdict().items()}
        return None, {}


class OciTestServer:
    """A Data Science + Object Storage stand-in on ``127.0.0.1``; see the module docstring.

    ``work_request_polls``: how many ``get_work_request`` calls a work request takes to end.
    ``min_part_size``: the smallest part a commit takes but the last, as the service's
    ``mdreg.oci.settings.MIN_PART_SIZE`` (0: any size; tests upload in small parts).
    """

    def __init__(
        self,
        root: Path | None = None,
        *,
        namespace: str = "testns",
        port: int = 0,
        work_request_polls: int = 3,
        identity: Identity | None = None,
        min_part_size: int = 0,
    ) -> None:
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="oci-server-")) if root is None else Path(root)
        self.namespace = namespace
        self.identity = identity or Identity()
        self.store = Store(self.root)
        self.faults = Faults()
        self.work_request_polls = work_request_polls
        self.min_part_size = min_part_size
        self.calls: Counter[str] = Counter()
        self.principals: Counter[tuple[str, str]] = Counter()  # (kind, id) of signed requests
        self.log: list[tuple[str, int]] = []
        self.bandwidth: float | None = None  # bytes/s per connection for uploads, None: unlimited
        self._log_lock = threading.Lock()
        self.router = Router()
        from tests.oci_server import ds_api, md_api, os_api
        from tests.oci_server.md_hosts import Hosts

        self.md_store: dict[str, dict[str, Any]] = {}  # model deployments, by id
        self.md_hosts = Hosts(self.root / "deployments")  # their model servers
        ds_api.register(self.router)
        md_api.register(self.router)
        os_api.register(self.router)
        _register_auth_routes(self.router)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.app = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> OciTestServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            name="oci-test-server",
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self.md_hosts.stop_all()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> OciTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- set-up ---------------------------------------------------------------------------
    def add_bucket(self, name: str, namespace: str | None = None) -> str:
        with self.store.lock:
            self.store.buckets.setdefault((namespace or self.namespace, name), {})
        return f"oci://{name}@{namespace or self.namespace}"

    def user_files(self, folder: Path, private_key: Any = None) -> Any:
        """An OCI config file (DEFAULT: api_key, SESSION: security_token) for a new user
        whose key this server knows."""
        return write_user_files(self.identity, folder, private_key)

    def endpoints_env(self) -> dict[str, str]:
        """The environment that points mdreg at this server."""
        return {
            "MDREG_OCI_DATA_SCIENCE_ENDPOINT": self.url,
            "MDREG_OCI_OBJECT_STORAGE_ENDPOINT": self.url,
            "MDREG_OCI_AUTH_ENDPOINT": self.url,
            "OCI_METADATA_BASE_URL": f"{self.url}/opc/v2",
        }

    def record(self, op: str, status: int) -> None:
        with self._log_lock:
            self.log.append((op, status))

    def statuses(self, op: str) -> list[int]:
        with self._log_lock:
            return [s for o, s in self.log if o == op]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mdreg-oci-test/1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        return

    def do_GET(self) -> None:  # noqa: N802
        self._handle("GET")

    def do_HEAD(self) -> None:  # noqa: N802
        self._handle("HEAD")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")

    @property
    def app(self) -> OciTestServer:
        return self.server.app  # type: ignore[attr-defined]

    # -- one request ----------------------------------------------------------------------
    def _handle(self, method: str) -> None:
        app = self.app
        own = secrets.token_hex(16).upper()
        client = self.headers.get("opc-request-id")
        self._rid = f"{client}/{own}" if client else own
        self._left = int(self.headers.get("content-length") or 0)
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        route, params = app.router.match(method, parts.path)
        op = route.op if route else "unknown"
        self._op = op
        app.calls[op] += 1
        self._cut_after: int | None = None
        try:
            if route is None:
                raise ApiError(
                    404,
                    "NotFound",
                    "There is no operation supported at the URI path and "
                    "HTTP method you specified in the request",
                )
            for action in app.faults.actions(op, query):
                if action.kind == "delay":
                    time.sleep(action.seconds)
                elif action.kind == "reset":
                    app.record(op, 0)
                    self._reset(action.after_bytes)
                    return
                elif action.kind == "truncate":
                    self._cut_after = action.after_bytes
                else:
                    headers = (
                        {}
                        if action.retry_after is None
                        else {"retry-after": str(action.retry_after)}
                    )
                    raise ApiError(action.status, action.code, action.message, headers)
            body = self._read_all() if route.body == "json" else None
            principal = self._authenticate(route, method, body)
            req = Request(
                method,
                self.path,
                parts.path,
                query,
                params,
                self.headers,
                op,
                principal,
                body,
                self,
            )
            reply = route.fn(app, req)
            self._drain()
            app.record(op, reply.status)
            self._send(reply, method)
        except ApiError as exc:
            self._drain()
            app.record(op, exc.status)
            self._send(
                Reply(exc.status, {"code": exc.code, "message": exc.message}, dict(exc.headers)),
                method,
            )
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception as exc:  # noqa: BLE001 - a bug in the server: say so, as a 500
            import traceback

            traceback.print_exc()
            self._drain()
            app.record(op, 500)
            self._send(
                Reply(
                    500,
                    {
                        "code": "InternalServerError",
                        "message": f"test server bug: {type(exc).__name__}: {exc}",
                    },
                ),
                method,
            )

    def _authenticate(self, route: Route, method: str, body: bytes | None) -> Principal | None:
        app = self.app
        try:
            if route.auth == "none":
                return None
            if route.auth == "imds":
                if self.headers.get("authorization") != "Bearer Oracle":
                    raise AuthError("the metadata service needs 'Authorization: Bearer Oracle'")
                return None
            if route.auth == "federation":
                payload = json.loads(body or b"{}")
                from tests.oci_server.identity import parse_authorization

                key_id = parse_authorization(self.headers.get("authorization", ""))["keyId"]
                public_key, token = app.identity.federate(key_id, payload)
                principal = Principal(key_id, "federation", app.identity.tenancy)
                verify_signature(
                    app.identity,
                    method,
                    self.path,
                    self.headers,
                    body,
                    require_body_headers=True,
                    require_host=False,
                    key_override=(public_key, principal),
                )
                self._federation_token = token
                return principal
            signed_body = route.body == "json" and method in ("POST", "PUT")
            principal, _ = verify_signature(
                app.identity,
                method,
                self.path,
                self.headers,
                body if route.body == "json" else None,
                require_body_headers=signed_body,
            )
            app.principals[(principal.kind, principal.id)] += 1
            return principal
        except (AuthError, ValueError, KeyError) as exc:
            raise ApiError(
                401,
                "NotAuthenticated",
                f"The required information to complete authentication was not provided "
                f"or was incorrect ({exc})",
            ) from exc

    # -- bodies ---------------------------------------------------------------------------
    def _read_all(self) -> bytes:
        if self._left > 64 << 20:
            raise ApiError(400, "InvalidParameter", "The request body is too large")
        data = self.rfile.read(self._left) if self._left else b""
        self._left -= len(data)
        if self._left:
            raise ConnectionError("the body ended early")
        return data

    def read_body_to_file(self, path: Path) -> tuple[int, str]:
        if "content-length" not in self.headers:
            raise ApiError(411, "MissingContentLength", "The Content-Length header is required")
        md5 = hashlib.md5()  # noqa: S324
        size = 0
        limit = self.app.bandwidth
        start = time.monotonic()
        with open(path, "wb") as out:
            while self._left > 0:
                chunk = self.rfile.read(min(CHUNK, self._left))
                if not chunk:
                    out.close()
                    path.unlink(missing_ok=True)
                    raise ConnectionError("the client closed the connection mid-body")
                self._left -= len(chunk)
                size += len(chunk)
                out.write(chunk)
                md5.update(chunk)
                if limit:
                    ahead = size / limit - (time.monotonic() - start)
                    if ahead > 0:
                        time.sleep(ahead)
        import base64

        return size, base64.b64encode(md5.digest()).decode()

    def _drain(self) -> None:
        while self._left > 0:
            chunk = self.rfile.read(min(CHUNK, self._left))
            if not chunk:
                self._left = 0
                self.close_connection = True
                return
            self._left -= len(chunk)

    def _reset(self, after_bytes: int | None) -> None:
        """Read part of the body, then drop the connection with a TCP RST."""
        want = self._left // 2 if after_bytes is None else min(after_bytes, self._left)
        while want > 0:
            chunk = self.rfile.read(min(CHUNK, want))
            if not chunk:
                break
            want -= len(chunk)
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    # -- replies --------------------------------------------------------------------------
    def _send(self, reply: Reply, method: str) -> None:
        headers = {"opc-request-id": self._rid, "date": formatdate(usegmt=True), **reply.headers}
        payload = b""
        if reply.blob is not None:
            start, end = reply.range or (0, reply.blob.size - 1)
            length = max(0, end - start + 1)
            headers["content-length"] = str(length)
            headers.setdefault("content-type", "application/octet-stream")
        else:
            if reply.body is not None:
                if isinstance(reply.body, bytes):
                    payload = reply.body
                else:
                    payload = json.dumps(reply.body).encode()
                    headers.setdefault("content-type", "application/json")
            headers["content-length"] = str(len(payload))
        if "content-length" in self.app.faults.omitted(getattr(self, "_op", "")):
            # An emulator that sends no length: the body then ends where the connection
            # does (HTTP/1.1 allows it), so this connection is closed after the reply.
            del headers["content-length"]
            headers["connection"] = "close"
            self.close_connection = True
        self.send_response(reply.status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if method == "HEAD" or reply.status in (204, 304):
            return
        if reply.blob is not None:
            self._write_blob(reply.blob, *(reply.range or (0, reply.blob.size - 1)))
        elif self._cut_after is not None:  # a fault: part of the reply, then a reset
            self.wfile.write(payload[: self._cut_after])
            self._reset(0)
        elif payload:
            self.wfile.write(payload)

    def _write_blob(self, blob: Blob, start: int, end: int) -> None:
        if self._cut_after is not None:  # a fault: part of the body, then a reset
            end = min(end, start + self._cut_after - 1)
            self._write_range(blob, start, end)
            self._reset(0)
            return
        self._write_range(blob, start, end)

    def _write_range(self, blob: Blob, start: int, end: int) -> None:
        offset = 0
        for path, size in blob.segments:
            lo, hi = max(start, offset), min(end, offset + size - 1)
            if lo <= hi:
                with open(path, "rb") as f:
                    f.seek(lo - offset)
                    left = hi - lo + 1
                    while left > 0:
                        chunk = f.read(min(CHUNK, left))
                        if not chunk:
                            raise ConnectionError("a stored segment is shorter than recorded")
                        self.wfile.write(chunk)
                        left -= len(chunk)
            offset += size


# -- instance metadata, federation, admin ------------------------------------------------------


def _register_auth_routes(router: Router) -> None:
    router.add("GET", "/opc/v2/instance/region", "imds_region", _imds_region, auth="imds")
    router.add("GET", "/opc/v2/identity/{name}", "imds_identity", _imds_identity, auth="imds")
    router.add("POST", "/v1/x509", "federation", _federation, body="json", auth="federation")
    router.add("POST", "/_admin/faults", "admin_faults", _admin_faults, body="json", auth="none")
    router.add(
        "POST", "/_admin/faults/clear", "admin_clear", _admin_clear, body="json", auth="none"
    )
    router.add("GET", "/_admin/stats", "admin_stats", _admin_stats, auth="none")
    router.add(
        "POST", "/_admin/bandwidth", "admin_bandwidth", _admin_bandwidth, body="json", auth="none"
    )


def _imds_region(app: OciTestServer, req: Request) -> Reply:
    return Reply(200, b"us-ashburn-1", {"content-type": "text/plain"})


def _imds_identity(app: OciTestServer, req: Request) -> Reply:
    inst = app.identity.instance
    if inst is None:
        raise ApiError(404, "NotFound", "This machine has no instance identity")
    try:
        return Reply(200, inst.pem(req.params["name"]), {"content-type": "text/plain"})
    except KeyError:
        raise ApiError(
            404, "NotFound", f"No such identity document: {req.params['name']}"
        ) from None


def _federation(app: OciTestServer, req: Request) -> Reply:
    return Reply(200, {"token": req.handler._federation_token})  # noqa: SLF001


def _admin_faults(app: OciTestServer, req: Request) -> Reply:
    doc = req.json()
    method = doc.get("method")
    if method not in ("fail", "reset", "truncate", "slow", "fail_parts", "fail_work_requests"):
        raise ApiError(400, "InvalidParameter", f"unknown fault method {method!r}")
    getattr(app.faults, method)(**(doc.get("args") or {}))
    return Reply(200, {"ok": True})


def _admin_clear(app: OciTestServer, req: Request) -> Reply:
    app.faults.clear()
    return Reply(200, {"ok": True})


def _admin_bandwidth(app: OciTestServer, req: Request) -> Reply:
    app.bandwidth = req.json().get("bytes_per_second")
    return Reply(200, {"ok": True})


def _admin_stats(app: OciTestServer, req: Request) -> Reply:
    with app.store.lock:
        uploads = len(app.store.uploads)
    return Reply(
        200,
        {
            "calls": dict(app.calls),
            "open_uploads": uploads,
            "injected": {f"{k[0]}:{k[1]}": v for k, v in app.faults.injected.items()},
        },
    )
