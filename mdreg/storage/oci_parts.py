"""The Object Storage calls an upload is made of, each retried and checked the same way
whatever feeds it (a file: ``oci_multipart``; a zip being written: ``oci_stream``).

- ``put_whole``: one ``put_object``; ``create_upload``, ``send_part``, ``commit``,
  ``abort``: a multipart upload.
- Every body goes with ``Content-MD5`` (base64 MD5, computed by the caller in the pass
  that already reads or holds the bytes), so the service itself rejects a body damaged
  on the way (HTTP 400); such a rejection is retried like a reset connection, unless the
  caller's ``rehash`` says the source changed since it was hashed (then it fails at once,
  saying so). The service's own MD5 (``opc-content-md5``, ``opc-multipart-md5``) is
  compared when the response has one; see ``mdreg.oci.responses`` for what a response
  must and may leave out.
- Each attempt opens a fresh body (``open_body()``), so a retry never depends on the SDK
  rewinding a stream.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mdreg._files import Stopped, b64
from mdreg.errors import MdregError, RemoteError
from mdreg.oci import retry
from mdreg.oci.errors import translated
from mdreg.oci.responses import check_content_md5, header, log, md5_rejected, required, tolerated
from mdreg.oci.settings import OciSettings

#: Opens a request body for one attempt: an object with ``read(n)``, ``__len__`` and
#: ``close()`` (``mdreg._files.SliceReader``, ``BufferReader`` below).
OpenBody = Callable[[], Any]
#: Hashes the source again: its MD5 digest now (None: the bytes are in memory, unchanged).
Rehash = Callable[[], bytes] | None


@dataclass(frozen=True)
class UploadTarget:
    """Where an upload goes: the object, and what is needed to send it there."""

    client: Any  # the SDK's ObjectStorageClient
    namespace: str
    bucket: str
    key: str
    uri: str  # the object's URI, for messages
    settings: OciSettings


@dataclass
class Committed:
    etag: str | None
    last_modified: str | None
    sha256: str


class SourceChanged(MdregError):
    """The bytes being uploaded changed after they were hashed (not retried)."""


def multipart_md5(md5s: list[bytes]) -> str:
    """What Object Storage reports as ``opc-multipart-md5``: the MD5 of the parts' binary
    MD5s, base64, then ``-`` and the number of parts."""
    digest = hashlib.md5(b"".join(md5s), usedforsecurity=False).digest()
    return f"{b64(digest)}-{len(md5s)}"


def _send(
    target: UploadTarget,
    what: str,
    call: Callable[[Any, str], Any],
    open_body: OpenBody,
    md5: bytes,
    rehash: Rehash,
    stop: threading.Event | None,
) -> Any:
    """``call(body, content_md5)`` until it succeeds (retried, checked); its response."""
    sent = b64(md5)

    def attempt(_: int) -> Any:
        body = open_body()
        try:
            resp = call(body, sent)
        except Exception as exc:
            if md5_rejected(exc):
                if rehash is not None and rehash() != md5:
                    raise SourceChanged(
                        f"{what}: the source changed while it was being uploaded: try again"
                    ) from exc
                log.debug(
                    "%s: the service refused the body's MD5 (%s); sending it again", what, exc
                )
                raise retry.Corrupted(
                    f"{what}: the service received other bytes than were sent (HTTP 400, "
                    f"{getattr(exc, 'message', exc)})"
                ) from exc
            raise
        finally:
            body.close()
        check_content_md5(resp.headers, sent, what)
        return resp

    with translated(f"uploading {what}"):
        try:
            return retry.call(attempt, target.settings, stop=stop)
        except retry.Corrupted as exc:
            raise RemoteError(
                f"uploading {what}: {exc}, {target.settings.max_attempts} times"
            ) from exc


def put_whole(
    target: UploadTarget,
    length: int,
    md5: bytes,
    open_body: OpenBody,
    *,
    rehash: Rehash = None,
) -> tuple[str | None, str | None]:
    """One ``put_object`` of ``length`` bytes: (etag, last-modified)."""

    def call(body: Any, content_md5: str) -> Any:
        return target.client.put_object(
            target.namespace,
            target.bucket,
            target.key,
            body if length else b"",
            content_length=length,
            content_md5=content_md5,
            retry_strategy=retry.no_retries(),
        )

    resp = _send(target, target.uri, call, open_body, md5, rehash, None)
    etag = tolerated(
        resp.headers, "etag", f"uploading {target.uri}", "its sha256 is not remembered"
    )
    return etag, header(resp.headers, "last-modified")


def create_upload(target: UploadTarget) -> str:
    import oci

    what = f"starting the multipart upload of {target.uri}"
    with translated(what):
        data = target.client.create_multipart_upload(
            target.namespace,
            target.bucket,
            oci.object_storage.models.CreateMultipartUploadDetails(object=target.key),
        ).data
    return required(
        getattr(data, "upload_id", None), "uploadId", what, "every call of the upload names"
    )


def send_part(
    target: UploadTarget,
    upload_id: str,
    number: int,
    length: int,
    md5: bytes,
    open_body: OpenBody,
    *,
    rehash: Rehash = None,
    stop: threading.Event | None = None,
) -> str:
    """Upload part ``number``; its ETag."""

    def call(body: Any, content_md5: str) -> Any:
        return target.client.upload_part(
            target.namespace,
            target.bucket,
            target.key,
            upload_id,
            number,
            body,
            content_length=length,
            content_md5=content_md5,
            retry_strategy=retry.no_retries(),
        )

    what = f"part {number} of {target.uri}"
    resp = _send(target, what, call, open_body, md5, rehash, stop)
    return required(
        header(resp.headers, "etag"),
        "ETag header",
        f"uploading {what}",
        "committing the upload needs (partsToCommit)",
    )


def commit(
    target: UploadTarget, upload_id: str, parts: dict[int, tuple[str, bytes]]
) -> tuple[str | None, str | None]:
    """Commit the parts {number: (etag, md5)}; check ``opc-multipart-md5`` when the
    service sends it. (etag, last-modified) of the object."""
    import oci

    models = oci.object_storage.models
    numbers = sorted(parts)
    details = models.CommitMultipartUploadDetails(
        parts_to_commit=[
            models.CommitMultipartUploadPartDetails(part_num=n, etag=parts[n][0]) for n in numbers
        ]
    )
    expected = multipart_md5([parts[n][1] for n in numbers])
    what = f"committing the multipart upload of {target.uri}"
    with translated(what):
        resp = target.client.commit_multipart_upload(
            target.namespace, target.bucket, target.key, upload_id, details
        )
    got = tolerated(resp.headers, "opc-multipart-md5", what, f"not compared with {expected}")
    if got is not None and got != expected:
        raise RemoteError(
            f"{target.uri}: the committed object's MD5 {got} differs from "
            f"the parts sent ({expected})"
        )
    etag = tolerated(resp.headers, "etag", what, "its sha256 is not remembered")
    return etag, header(resp.headers, "last-modified")


def abort(target: UploadTarget, upload_id: str, cause: BaseException) -> None:
    """Abort the upload; if that fails too, say so in ``cause``'s message."""
    try:
        target.client.abort_multipart_upload(
            target.namespace,
            target.bucket,
            target.key,
            upload_id,
            retry_strategy=retry.sdk_strategy(target.settings),
        )
    except Exception as exc:  # noqa: BLE001 - the original failure is what the user needs
        if isinstance(cause, MdregError) and cause.args:
            cause.args = (
                f"{cause.args[0]}; the multipart upload {upload_id} could not be aborted "
                f"either ({type(exc).__name__}): the bucket's lifecycle policy removes "
                "it, or abort it with `oci os multipart abort`",
            )


class PartBuffers:
    """At most ``count`` buffers of ``size`` bytes (or a zip local header more), made when
    first needed (empty: they grow as they are filled, so a small zip costs its size) and
    reused.
    ``made``/``peak_in_use``: how many were ever made / held at once (what tests bound)."""

    def __init__(self, count: int, size: int) -> None:
        self.count, self.size = count, size
        self._free: list[bytearray] = []
        self.made = 0
        self.in_use = 0
        self.peak_in_use = 0

    def take(self) -> bytearray | None:
        if self._free:
            buf = self._free.pop()
        elif self.made < self.count:
            self.made += 1
            buf = bytearray()
        else:
            return None
        self.in_use += 1
        self.peak_in_use = max(self.peak_in_use, self.in_use)
        return buf

    def give(self, buf: bytearray) -> None:
        self.in_use -= 1
        self._free.append(buf)


class BufferReader:
    """A part's bytes in memory as a request body (read by http.client in blocks)."""

    def __init__(self, view: memoryview, stop: threading.Event) -> None:
        self._view, self._pos, self._stop = view, 0, stop

    def __len__(self) -> int:
        return len(self._view)

    def read(self, size: int = -1) -> memoryview:
        if self._stop.is_set():
            raise Stopped()
        end = len(self._view) if size is None or size < 0 else self._pos + size
        out = self._view[self._pos : end]
        self._pos += len(out)
        return out

    def close(self) -> None:  # nothing to close
        return
