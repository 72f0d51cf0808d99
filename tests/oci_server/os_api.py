"""The Object Storage API (``/n/...``) the way mdreg uses it: objects (put, get with
``Range`` and ``If-Match``, head, delete, list with ``fields``/``start``/``nextStartWith``)
and multipart uploads (create, upload part with ``uploadId``/``uploadPartNum``, list parts,
commit with ``partsToCommit``/``partsToExclude``, abort, list uploads).

As the service: ``etag`` and ``opc-content-md5`` on every stored body, ``content-md5`` on
single-part objects and ``opc-multipart-md5`` (MD5 of the parts' MD5s, ``-N``) on
multipart ones, ``opc-meta-*`` metadata, 404 ``BucketNotFound`` / ``ObjectNotFound`` /
``NoSuchUpload``, 412 ``IfMatchFailed``, a commit refused (400) when a part but the last
is shorter than the server's ``min_part_size``, listings by name with only ``name`` unless
``fields`` asks for more. A body sent with ``Content-MD5`` is checked against it: 400
with the message the API documents for PutObject and UploadPart ("The computed MD5 of
the request body (ACTUAL_MD5) does not match the Content-MD5 header (HEADER_MD5)"; the
documentation names no code: ``InvalidParameter`` here).

Faults of their own (``faults.corrupt``, ``faults.omit_headers``): a body damaged in
flight, and replies without the headers an emulator leaves out.
"""

from __future__ import annotations

import base64
import hashlib
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any

from tests.oci_server.server import Reply, Request, Router
from tests.oci_server.store import MAX_PARTS, ApiError, Blob, Upload, ocid, rfc3339

B = "/n/{namespace}/b/{bucket}"


def register(r: Router) -> None:
    r.add("GET", "/n", "get_namespace", get_namespace)
    r.add("GET", "/n/", "get_namespace", get_namespace)
    r.add("GET", f"{B}/o", "list_objects", list_objects)
    r.add("PUT", f"{B}/o/{{name+}}", "put_object", put_object, body="stream")
    r.add("GET", f"{B}/o/{{name+}}", "get_object", get_object)
    r.add("HEAD", f"{B}/o/{{name+}}", "head_object", get_object)
    r.add("DELETE", f"{B}/o/{{name+}}", "delete_object", delete_object)
    r.add("POST", f"{B}/u", "create_multipart_upload", create_upload, body="json")
    r.add("GET", f"{B}/u", "list_multipart_uploads", list_uploads)
    r.add("PUT", f"{B}/u/{{name+}}", "upload_part", upload_part, body="stream")
    r.add("POST", f"{B}/u/{{name+}}", "commit_multipart_upload", commit_upload, body="json")
    r.add("GET", f"{B}/u/{{name+}}", "list_multipart_upload_parts", list_parts)
    r.add("DELETE", f"{B}/u/{{name+}}", "abort_multipart_upload", abort_upload)


def _reply(app: Any, req: Request, reply: Reply) -> Reply:
    """``reply`` without the headers a fault leaves out, with those a fault rewrites."""
    omit = app.faults.omitted(req.op)
    if omit:
        reply.headers = {k: v for k, v in reply.headers.items() if k.lower() not in omit}
    reply.headers.update(app.faults.replaced(req.op))
    return reply


def _receive(app: Any, req: Request, path: Path) -> tuple[int, str]:
    """Read the body into ``path`` (damaged, if a fault says so) and check its MD5 against
    the request's Content-MD5, as the service does: (size, base64 MD5)."""
    size, md5 = req.read_to_file(path)
    if size and app.faults.corrupts(req.op, req.query):
        with open(path, "r+b") as f:
            f.seek(size // 2)
            byte = f.read(1)
            f.seek(size // 2)
            f.write(bytes([byte[0] ^ 0x55]))
        md5 = base64.b64encode(hashlib.md5(path.read_bytes()).digest()).decode()  # noqa: S324
    sent = req.headers.get("content-md5")
    if sent and sent != md5:
        path.unlink()
        raise ApiError(
            400,
            "InvalidParameter",
            f"The computed MD5 of the request body ({md5}) does not match the "
            f"Content-MD5 header ({sent})",
        )
    return size, md5


def get_namespace(app: Any, req: Request) -> Reply:
    return Reply(200, app.namespace)


def _where(req: Request) -> tuple[str, str]:
    return req.params["namespace"], req.params["bucket"]


def _object_headers(blob: Blob) -> dict[str, str]:
    headers = {
        "etag": blob.etag,
        "last-modified": formatdate(blob.modified, usegmt=True),
        "accept-ranges": "bytes",
    }
    if blob.multipart_md5:
        headers["opc-multipart-md5"] = blob.multipart_md5
    else:
        headers["content-md5"] = blob.md5
    for k, v in blob.metadata.items():
        headers[f"opc-meta-{k}"] = v
    return headers


def put_object(app: Any, req: Request) -> Reply:
    ns, bucket = _where(req)
    with app.store.lock:
        app.store.bucket(ns, bucket)
    path = app.store.new_file()
    size, md5 = _receive(app, req, path)
    meta = {
        k[len("opc-meta-") :]: v
        for k, v in req.headers.items()
        if k.lower().startswith("opc-meta-")
    }
    blob = Blob([(path, size)], md5=md5, metadata=meta)
    with app.store.lock:
        objects = app.store.bucket(ns, bucket)
        if req.headers.get("if-none-match") == "*" and req.params["name"] in objects:
            path.unlink()
            raise ApiError(412, "IfNoneMatchFailed", "The object already exists")
        old = objects.get(req.params["name"])
        objects[req.params["name"]] = blob
    app.store.drop(old)
    return _reply(
        app,
        req,
        Reply(
            200,
            None,
            {
                "etag": blob.etag,
                "opc-content-md5": md5,
                "last-modified": formatdate(blob.modified, usegmt=True),
            },
        ),
    )


def get_object(app: Any, req: Request) -> Reply:
    ns, bucket = _where(req)
    with app.store.lock:
        blob = app.store.object(ns, bucket, req.params["name"])
    if req.headers.get("if-match") and req.headers["if-match"] != blob.etag:
        raise ApiError(412, "IfMatchFailed", "The object's ETag does not match If-Match")
    headers = _object_headers(blob)
    spec = req.headers.get("range")
    if not spec or req.method == "HEAD":
        return _reply(app, req, Reply(200, None, headers, blob=blob))
    start, end = _range(spec, blob.size)
    headers["content-range"] = f"bytes {start}-{end}/{blob.size}"
    return _reply(app, req, Reply(206, None, headers, blob=blob, range=(start, end)))


def _range(spec: str, size: int) -> tuple[int, int]:
    unit, _, rng = spec.partition("=")
    first, _, last = rng.partition("-")
    try:
        if unit.strip() != "bytes" or "," in rng:
            raise ValueError
        if first:
            start, end = int(first), int(last) if last else size - 1
        else:
            start, end = max(0, size - int(last)), size - 1
    except ValueError:
        raise ApiError(400, "InvalidParameter", f"Unsupported Range {spec!r}") from None
    if start >= size or start > end:
        raise ApiError(416, "InvalidRange", f"The range {spec} is outside the object")
    return start, min(end, size - 1)


def delete_object(app: Any, req: Request) -> Reply:
    ns, bucket = _where(req)
    with app.store.lock:
        app.store.object(ns, bucket, req.params["name"])
        blob = app.store.bucket(ns, bucket).pop(req.params["name"])
    app.store.drop(blob)
    return Reply(204, None, {"last-modified": formatdate(time.time(), usegmt=True)})


def list_objects(app: Any, req: Request) -> Reply:
    ns, bucket = _where(req)
    q = req.query
    fields = {"name", *filter(None, (q.get("fields") or "").split(","))}
    unknown = fields - {
        "name",
        "size",
        "etag",
        "md5",
        "timeCreated",
        "timeModified",
        "storageTier",
        "archivalState",
    }
    if unknown:
        raise ApiError(400, "InvalidParameter", f"Unknown fields: {sorted(unknown)}")
    prefix, start, end = q.get("prefix") or "", q.get("start"), q.get("end")
    limit = min(int(q.get("limit") or 1000), 1000)
    with app.store.lock:
        names = sorted(
            n
            for n in app.store.bucket(ns, bucket)
            if n.startswith(prefix) and (start is None or n >= start) and (end is None or n <= end)
        )
        page, rest = names[:limit], names[limit:]
        blobs = {n: app.store.bucket(ns, bucket)[n] for n in page}
    objects = []
    for n in page:
        b = blobs[n]
        full = {
            "name": n,
            "size": b.size,
            "etag": b.etag,
            "md5": b.multipart_md5 or b.md5,
            "timeCreated": rfc3339(b.modified),
            "timeModified": rfc3339(b.modified),
            "storageTier": "Standard",
        }
        objects.append({k: v for k, v in full.items() if k in fields})
    doc: dict[str, Any] = {"objects": objects, "prefixes": []}
    if rest:
        doc["nextStartWith"] = rest[0]
    return Reply(200, doc)


# -- multipart -----------------------------------------------------------------------------


def create_upload(app: Any, req: Request) -> Reply:
    ns, bucket = _where(req)
    b = req.json()
    if not b.get("object"):
        raise ApiError(400, "MissingParameter", "object is required")
    with app.store.lock:
        app.store.bucket(ns, bucket)
        up = Upload(
            ocid("multipartupload").split(".")[-1],
            ns,
            bucket,
            b["object"],
            time.time(),
            dict(b.get("metadata") or {}),
        )
        app.store.uploads[up.id] = up
    return Reply(
        200,
        {
            "namespace": ns,
            "bucket": bucket,
            "object": up.object,
            "uploadId": up.id,
            "timeCreated": rfc3339(up.created),
            "storageTier": "Standard",
        },
        {"location": f"/n/{ns}/b/{bucket}/u/{up.object}?uploadId={up.id}"},
    )


def _upload(app: Any, req: Request) -> Upload:
    ns, bucket = _where(req)
    upload_id = req.query.get("uploadId")
    if not upload_id:
        raise ApiError(400, "MissingParameter", "uploadId is required")
    return app.store.upload(ns, bucket, req.params["name"], upload_id)


def upload_part(app: Any, req: Request) -> Reply:
    with app.store.lock:
        up = _upload(app, req)
    try:
        number = int(req.query.get("uploadPartNum", ""))
    except ValueError:
        raise ApiError(400, "MissingParameter", "uploadPartNum is required") from None
    if not 1 <= number <= MAX_PARTS:
        raise ApiError(400, "InvalidParameter", f"uploadPartNum must be 1 to {MAX_PARTS}")
    path = app.store.new_file()
    size, md5 = _receive(app, req, path)
    etag = ocid("part").split(".")[-1][:32]
    with app.store.lock:
        up = _upload(app, req)
        old = up.parts.get(number)
        up.parts[number] = (path, size, md5, etag)
    if old is not None:
        old[0].unlink(missing_ok=True)
    return _reply(app, req, Reply(200, None, {"etag": etag, "opc-content-md5": md5}))


def list_parts(app: Any, req: Request) -> Reply:
    with app.store.lock:
        up = _upload(app, req)
        parts = [
            {"partNumber": n, "size": s, "etag": e, "md5": m}
            for n, (_, s, m, e) in sorted(up.parts.items())
        ]
    start = int(req.query.get("page") or 0)
    limit = min(int(req.query.get("limit") or 1000), 1000)
    headers = {"opc-next-page": str(start + limit)} if start + limit < len(parts) else {}
    return Reply(200, parts[start : start + limit], headers)


def list_uploads(app: Any, req: Request) -> Reply:
    ns, bucket = _where(req)
    with app.store.lock:
        app.store.bucket(ns, bucket)
        ups = [u for u in app.store.uploads.values() if (u.namespace, u.bucket) == (ns, bucket)]
    return Reply(
        200,
        [
            {
                "namespace": ns,
                "bucket": bucket,
                "object": u.object,
                "uploadId": u.id,
                "timeCreated": rfc3339(u.created),
                "storageTier": "Standard",
            }
            for u in ups
        ],
    )


def commit_upload(app: Any, req: Request) -> Reply:
    b = req.json()
    with app.store.lock:
        up = _upload(app, req)
        blob = app.store.commit(
            up, b.get("partsToCommit") or [], b.get("partsToExclude") or [], app.min_part_size
        )
        objects = app.store.bucket(up.namespace, up.bucket)
        old = objects.get(up.object)
        objects[up.object] = blob
        del app.store.uploads[up.id]
    app.store.drop(old)
    return _reply(
        app,
        req,
        Reply(
            200,
            None,
            {
                "etag": blob.etag,
                "opc-multipart-md5": blob.multipart_md5 or "",
                "last-modified": formatdate(blob.modified, usegmt=True),
            },
        ),
    )


def abort_upload(app: Any, req: Request) -> Reply:
    with app.store.lock:
        up = _upload(app, req)
        del app.store.uploads[up.id]
    for path, *_ in up.parts.values():
        path.unlink(missing_ok=True)
    return Reply(204)
