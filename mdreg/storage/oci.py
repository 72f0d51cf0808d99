"""``oci://bucket@namespace`` buckets: OCI Object Storage through the ``oci`` SDK.

- ``put``: a file up to the part size goes up in one streamed ``put_object``; a larger one
  in parallel parts (``oci_multipart``). Either way every body goes with ``Content-MD5``
  (hashed from the file before it is sent), so the service rejects a body damaged on
  the way, and a reader sees the old object or the whole new one, never a part.
- ``put_stream``: what a writer (the zip writer) writes goes up as it is written, cut into
  parts held in memory (``oci_stream``): no file at all.
- ``get``: streamed into a temp file beside ``dest`` in 1 MiB chunks (constant memory); a
  connection cut mid-way resumes with a ``Range`` request pinned to the object's ETag;
  the length and, for single-part objects, the ``Content-MD5`` are checked before the
  rename into place.
- ``head``/``delete``/``list``: one call each (``list`` pages through ``nextStartWith``).

What a response must carry and what may be missing (an emulator's): ``mdreg.oci.responses``.

The sha256 of an object is known after this process ``put`` or ``get`` it (kept per
ETag, so ``head`` reports it while the object is unchanged); Object Storage itself does
not store one.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, TypeVar

from mdreg._files import (
    CHUNK,
    ProgressFn,
    SliceReader,
    b64,
    fsync_dir,
    md5_hasher,
    temp_name,
    unlink_quietly,
)
from mdreg._streams import StreamSink
from mdreg.errors import InputError, MdregError, RemoteError
from mdreg.oci import retry
from mdreg.oci.clients import OciClients
from mdreg.oci.errors import is_network_error, translated
from mdreg.oci.responses import content_length, header, log, required, tolerated
from mdreg.oci.settings import OciSettings, resolve
from mdreg.storage.base import Bucket, ObjectInfo, ObjectNotFoundError, check_key
from mdreg.storage.oci_multipart import slice_md5, upload_multipart
from mdreg.storage.oci_parts import UploadTarget, put_whole

T = TypeVar("T")

LIST_FIELDS = "name,size,etag,md5,timeModified"


class OciBucket(Bucket):
    """The Object Storage bucket ``name`` in ``namespace``."""

    scheme = "oci"

    def __init__(
        self,
        name: str,
        namespace: str,
        *,
        settings: OciSettings | None = None,
        clients: OciClients | None = None,
    ) -> None:
        self.name = name
        self.namespace = namespace
        self.settings = settings or (clients.settings if clients else resolve())
        self.clients = clients or OciClients(self.settings)
        self._sha256: dict[tuple[str, str], str] = {}  # (key, etag) -> sha256

    def __repr__(self) -> str:
        return f"OciBucket({self.uri!r})"

    @property
    def uri(self) -> str:
        return f"oci://{self.name}@{self.namespace}"

    @property
    def client(self) -> Any:
        return self.clients.object_storage

    @property
    def region(self) -> str | None:
        return self.clients.region

    def close(self) -> None:
        self.clients.close()

    # -- put ------------------------------------------------------------------------------
    def _target(self, key: str) -> UploadTarget:
        return UploadTarget(
            self.client, self.namespace, self.name, key, self.uri_for(key), self.settings
        )

    def put(self, key: str, src: Path, *, progress: ProgressFn | None = None) -> ObjectInfo:
        key = check_key(key)
        try:
            size = os.stat(src).st_size
        except FileNotFoundError:
            raise InputError(f"no such file: {src}") from None
        if size > self.settings.part_size:
            done = upload_multipart(self._target(key), Path(src), size, progress)
            etag, modified, sha = done.etag, done.last_modified, done.sha256
        else:
            etag, modified, sha = self._put_single(key, Path(src), size, progress)
        return self._stored(key, size, etag, modified, sha)

    def put_stream(
        self, key: str, fill: Callable[[StreamSink], T], *, size_hint: int | None = None
    ) -> tuple[ObjectInfo, T]:
        """What ``fill(sink)`` writes, uploaded while it is written (``oci_stream``): a
        multipart upload, or one put_object when it all fits in one part. A failure (or
        an interrupt) aborts the upload: no object, no stray parts."""
        from mdreg.storage.oci_stream import StreamUpload

        key = check_key(key)
        upload = StreamUpload(self._target(key), size_hint=size_hint)
        try:
            result = fill(upload)
            done = upload.finish()
        except BaseException as exc:
            upload.abort(exc)
            raise
        return self._stored(key, upload.size, done.etag, done.last_modified, done.sha256), result

    def _stored(
        self, key: str, size: int, etag: str | None, modified: str | None, sha: str
    ) -> ObjectInfo:
        if etag:
            self._sha256[(key, etag)] = sha
        return ObjectInfo(key=key, size=size, modified=_http_date(modified), etag=etag, sha256=sha)

    def _put_single(
        self, key: str, src: Path, size: int, progress: ProgressFn | None
    ) -> tuple[str | None, str | None, str]:
        md5, sha = _hash(src)  # Content-MD5 goes before the body
        seen = [0]

        def on_pos(pos: int) -> None:
            if progress is not None and pos > seen[0]:
                progress(pos - seen[0])
                seen[0] = pos

        etag, modified = put_whole(
            self._target(key),
            size,
            md5,
            lambda: SliceReader(src, 0, size, on_pos=on_pos, md5=False),
            rehash=lambda: slice_md5(src, 0, size),
        )
        return etag, modified, sha

    # -- get ------------------------------------------------------------------------------
    def get(self, key: str, dest: Path, *, progress: ProgressFn | None = None) -> ObjectInfo:
        key = check_key(key)
        dest = Path(dest)
        uri = self.uri_for(key)
        with translated(
            f"downloading {uri}", not_found=lambda e: ObjectNotFoundError(f"{uri}: no such object")
        ):
            resp = self.client.get_object(self.namespace, self.name, key)
        headers = resp.headers
        length = content_length(headers)  # None (an emulator's chunked reply): read to the end
        etag = tolerated(headers, "etag", f"downloading {uri}", "a resumed download is unpinned")
        tmp = temp_name(dest)
        try:
            size, sha, md5 = self._stream_into(tmp, resp, key, length, etag, progress)
            expected_md5 = header(headers, "content-md5")
            if expected_md5 and not header(headers, "opc-multipart-md5") and expected_md5 != md5:
                raise RemoteError(
                    f"{uri}: the downloaded bytes' MD5 {md5} differs from the "
                    f"object's {expected_md5}; nothing was written"
                )
            os.replace(tmp, dest)
        except BaseException:
            unlink_quietly(tmp)
            raise
        fsync_dir(dest.parent)
        if etag:
            self._sha256[(key, etag)] = sha
        return ObjectInfo(
            key=key,
            size=size,
            modified=_http_date(headers.get("last-modified")),
            etag=etag,
            sha256=sha,
        )

    def _stream_into(
        self,
        tmp: Path,
        resp: Any,
        key: str,
        size: int | None,
        etag: str | None,
        progress: ProgressFn | None,
    ) -> tuple[int, str, str]:
        """Write the object into ``tmp``; on a cut connection, resume from where it
        stopped (``Range``, ``If-Match`` the ETag) up to ``max_attempts`` times. (size,
        sha256 hex, MD5 base64); ``size`` None: the body's end is the object's."""
        sha, md5 = hashlib.sha256(), md5_hasher()
        done, attempt = 0, 1
        try:
            with open(tmp, "xb") as out:
                while True:
                    try:
                        for chunk in resp.data.raw.stream(CHUNK, decode_content=False):
                            out.write(chunk)
                            sha.update(chunk)
                            md5.update(chunk)
                            done += len(chunk)
                            if progress is not None:
                                progress(len(chunk))
                        if size is None or done == size:
                            break
                        raise ConnectionError(f"the body ended after {done} of {size} bytes")
                    except Exception as exc:  # noqa: BLE001 - only network errors are resumed
                        if not is_network_error(exc):
                            raise
                        if attempt >= self.settings.max_attempts:
                            raise RemoteError(
                                f"downloading {self.uri_for(key)} failed after {done} of "
                                f"{size if size is not None else 'an unknown number of'} "
                                f"bytes, {attempt} times: {exc}"
                            ) from exc
                        resp.data.close()
                        attempt += 1
                        resp = self._resume(key, done, etag, attempt, exc)
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            if is_network_error(exc):
                raise RemoteError(
                    f"downloading {self.uri_for(key)} failed after {done} of {size} bytes: {exc}"
                ) from exc
            raise MdregError(f"cannot write {tmp.parent}: {exc.strerror or exc}") from exc
        finally:
            resp.data.close()
        return done, sha.hexdigest(), b64(md5.digest())

    def _resume(
        self, key: str, offset: int, etag: str | None, attempt: int, cause: BaseException
    ) -> Any:
        import time

        time.sleep(retry.backoff(attempt - 1, self.settings, cause))
        kwargs: dict[str, Any] = {"range": f"bytes={offset}-"}
        if etag:
            kwargs["if_match"] = etag
        with translated(f"resuming the download of {self.uri_for(key)} at byte {offset}"):
            return self.client.get_object(self.namespace, self.name, key, **kwargs)

    # -- head / delete / list -------------------------------------------------------------
    def head(self, key: str) -> ObjectInfo | None:
        key = check_key(key)
        try:
            with translated(f"looking up {self.uri_for(key)}", not_found=lambda e: _Missing()):
                resp = self.client.head_object(self.namespace, self.name, key)
        except _Missing:
            return None
        h = resp.headers
        etag = header(h, "etag")
        size = content_length(h)
        if size is None:
            size = self._listed_size(key)
        return ObjectInfo(
            key=key,
            size=size,
            modified=_http_date(header(h, "last-modified")),
            etag=etag,
            sha256=self._sha256.get((key, etag)) if etag else None,
        )

    def _listed_size(self, key: str) -> int:
        """The size ListObjects gives ``key``, for a HEAD reply without Content-Length."""
        what = f"looking up {self.uri_for(key)}"
        log.debug("%s: the HEAD response has no Content-Length; asking ListObjects", what)
        with translated(what):
            page = self.client.list_objects(
                self.namespace, self.name, prefix=key, fields="name,size", limit=1
            ).data
        sizes = [o.size for o in page.objects or [] if o.name == key]
        return int(required(sizes[0] if sizes else None, "Content-Length", what, "gives its size"))

    def delete(self, key: str) -> None:
        key = check_key(key)
        uri = self.uri_for(key)
        with translated(
            f"deleting {uri}", not_found=lambda e: ObjectNotFoundError(f"{uri}: no such object")
        ):
            self.client.delete_object(self.namespace, self.name, key)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        found: list[ObjectInfo] = []
        start: str | None = None
        with translated(f"listing {self.uri}/{prefix}"):
            while True:
                kwargs: dict[str, Any] = {"fields": LIST_FIELDS}
                if prefix:
                    kwargs["prefix"] = prefix
                if start:
                    kwargs["start"] = start
                page = self.client.list_objects(self.namespace, self.name, **kwargs).data
                for o in page.objects or []:
                    found.append(
                        ObjectInfo(
                            key=o.name,
                            size=o.size or 0,
                            modified=o.time_modified,
                            etag=o.etag,
                            sha256=self._sha256.get((o.name, o.etag)) if o.etag else None,
                        )
                    )
                start = page.next_start_with
                if not start:
                    break
        return iter(sorted(found, key=lambda o: o.key))


class _Missing(MdregError):
    """Internal: head() turns a 404 into None."""


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


def _hash(src: Path) -> tuple[bytes, str]:
    """(MD5 digest, sha256 hex) of a file, read once."""
    md5, sha = md5_hasher(), hashlib.sha256()
    buf = memoryview(bytearray(CHUNK))
    try:
        with open(src, "rb", buffering=0) as f:
            while n := f.readinto(buf):
                md5.update(buf[:n])
                sha.update(buf[:n])
    except OSError as exc:
        raise MdregError(f"cannot read {src}: {exc.strerror or exc}") from exc
    return md5.digest(), sha.hexdigest()
