"""``mdreg score``'s input and output in OCI Object Storage (``oci://bucket@ns/path``, the
``oci`` extra), through mdreg's own ``OciBucket`` (settings, auth, endpoints, errors).

Input: one object, its format told by its name as for a local file, or a prefix (a path
ending in ``/``, or one that names no object) whose ``.parquet``/``.pq`` objects are read in
key order. Every object is read through ``_Ranged``, a seekable file whose reads are
ranged GETs pinned to the ETag seen when the run started (an object replaced mid-run is
an error, not a mix of two versions), each retried as a whole, body included; a
``BufferedReader`` in front gives a read-ahead of ``READ_AHEAD``. Parquet is read with
``ParquetFile.iter_batches`` without pre-buffering (as local files are, so memory stays
flat); its footers, read when the input is opened, give the row count and a schema check
across a folder's files. CSV and JSON lines are read sequentially, a block at a time.

Output: one object. The scored table is written to a local temp folder (made at the
first write) by the same writers as a local output, then ``put`` at commit: one PUT or
a multipart commit, so no reader ever sees a partial object; the temp folder is removed
whatever happens. An existing object needs ``force``; a folder is refused.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from mdreg._files import CHUNK
from mdreg.batch.tables import (
    FORMATS,
    OutputTable,
    csv_reader,
    jsonl_reader,
    open_parquet,
    parquet_heads,
    rebatch,
)
from mdreg.errors import DestinationExistsError, InputError, RemoteError, UsageError
from mdreg.storage.base import ObjectInfo, ObjectNotFoundError

if TYPE_CHECKING:
    from mdreg.storage.oci import OciBucket

READ_AHEAD = 4 << 20  # bytes read past what is asked for, per open object
MAX_GET = 16 << 20  # one ranged GET at most: a retry repeats no more than this
PARQUET = (".parquet", ".pq")


def _bucket(uri: str) -> tuple[OciBucket, str]:
    """(the bucket, the path in it); the oci SDK's install hint when it is missing."""
    from mdreg.storage.oci import OciBucket
    from mdreg.storage.uri import parse_uri

    parsed = parse_uri(uri)
    return OciBucket(parsed.bucket, parsed.namespace), parsed.path


class _Ranged(io.RawIOBase):
    """One object version as a read-only seekable file; each read is a ranged GET."""

    def __init__(self, bucket: OciBucket, obj: ObjectInfo) -> None:
        self.bucket, self.obj, self.pos = bucket, obj, 0
        self.uri = bucket.uri_for(obj.key)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.obj.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.obj.size - self.pos, MAX_GET)
        if n <= 0:
            return 0
        from mdreg.oci import retry
        from mdreg.oci.errors import OciServiceError, translated

        view = memoryview(buffer).cast("B")
        gone = lambda e: ObjectNotFoundError(f"{self.uri}: the object was deleted mid-run")  # noqa: E731
        try:
            with translated(f"reading {self.uri} at byte {self.pos}", not_found=gone):
                got = retry.call(lambda _: self._get(view, n), self.bucket.settings)
        except OciServiceError as exc:
            if exc.status == 412:
                raise RemoteError(f"{self.uri} was replaced while it was read; run again") from None
            raise
        self.pos += got
        return got

    def _get(self, view: memoryview, n: int) -> int:
        from mdreg.oci import retry

        kwargs: dict[str, Any] = {"range": f"bytes={self.pos}-{self.pos + n - 1}"}
        if self.obj.etag:
            kwargs["if_match"] = self.obj.etag
        b = self.bucket
        resp = b.client.get_object(
            b.namespace, b.name, self.obj.key, retry_strategy=retry.no_retries(), **kwargs
        )
        try:
            if resp.status != 206 and not (self.pos == 0 and n == self.obj.size):
                raise RemoteError(f"{self.uri}: the service ignored the Range header")
            got = 0
            for chunk in resp.data.raw.stream(CHUNK, decode_content=False):
                if got + len(chunk) > n:
                    raise RemoteError(f"{self.uri}: the service sent more than the range asked")
                view[got : got + len(chunk)] = chunk
                got += len(chunk)
        finally:
            resp.data.close()
        if got != n:  # a network error: retried
            raise ConnectionError(f"the body ended after {got} of {n} bytes")
        return got


class RemoteInput:
    """An input in a bucket: the ``Table`` that ``tables.open_input`` gives for oci://."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.bucket, path = _bucket(uri)
        obj = self.bucket.head(path) if path and not path.endswith("/") else None
        if obj is not None:
            self.objects = [obj]
            name = PurePosixPath(path).name
            fmt = FORMATS.get(PurePosixPath(name).suffix.lower())
            if fmt is None:
                raise UsageError(
                    f"{uri}: cannot tell the format from the name; use .parquet, .csv or .jsonl"
                )
            self.format = fmt
        else:
            self.objects = self._parquet_objects(path.rstrip("/") + "/" if path else "")
            self.format = "parquet"
        self.schema: Any = None
        self.rows: int | None = None
        try:
            self._read_heads()
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            text = str(exc).strip()
            why = text.splitlines()[0] if text else type(exc).__name__
            raise InputError(f"{uri}: cannot read it as {self.format}: {why}") from None

    def _parquet_objects(self, prefix: str) -> list[ObjectInfo]:
        """The Parquet objects under ``prefix``, by key; names starting with ``_`` or ``.``
        (``_SUCCESS``, checksums) are skipped, as pyarrow skips them in a local folder."""
        found = [
            o
            for o in self.bucket.list(prefix)
            if o.key.lower().endswith(PARQUET)
            and not o.key.rsplit("/", 1)[-1].startswith(("_", "."))
        ]
        if not found:
            raise ObjectNotFoundError(f"{self.uri}: no such object, nor .parquet objects under it")
        return found

    def _open(self, obj: ObjectInfo) -> Any:
        return io.BufferedReader(_Ranged(self.bucket, obj), buffer_size=READ_AHEAD)

    @contextmanager
    def _parquet(self, obj: ObjectInfo) -> Iterator[Any]:
        import pyarrow as pa

        with self._open(obj) as f, open_parquet(pa.PythonFile(f, mode="r")) as pf:
            yield pf

    def _read_heads(self) -> None:
        """The schema, and the row count from the Parquet footers (a folder's files must
        agree on their columns)."""
        if self.format == "parquet":
            self.schema, self.rows = parquet_heads(
                self.objects, self._parquet, lambda obj: self.bucket.uri_for(obj.key)
            )
        else:
            first = next(self._blocks(), None)
            if first is None:
                raise InputError(f"{self.uri}: no rows")
            self.schema = first.schema

    def _blocks(self) -> Iterator[Any]:
        """CSV or JSON lines record batches, a 4 MiB block at a time (as local files)."""
        with self._open(self.objects[0]) as f:
            reader = csv_reader(f) if self.format == "csv" else jsonl_reader(f)
            yield from reader

    def batches(self, batch_rows: int, columns: list[str] | None) -> Iterator[Any]:
        """Record batches of at most ``batch_rows`` rows, of ``columns`` (all: None)."""
        if self.format != "parquet":
            yield from rebatch(self._blocks(), batch_rows, columns)
            return
        for obj in self.objects:
            with self._parquet(obj) as pf:
                yield from pf.iter_batches(batch_size=batch_rows, columns=columns)


class RemoteOutput:
    """The scored table as one object: written locally, ``put`` by ``commit``."""

    def __init__(self, uri: str, force: bool) -> None:
        self.location = uri
        self.bucket, self.key = _bucket(uri)
        folder = UsageError(
            f"{uri}: an oci:// output is one object, not a folder; name it, "
            "e.g. .../scored.parquet (or .csv, .jsonl)"
        )
        if not self.key or self.key.endswith("/"):
            raise folder
        if self.bucket.head(self.key) is not None and not force:
            raise DestinationExistsError(f"{uri} exists: pass --force to replace it")
        if self._holds_objects(self.key + "/"):
            raise folder
        self.format = FORMATS.get(PurePosixPath(self.key).suffix.lower(), "parquet")
        self._tmp: Path | None = None
        self._local: OutputTable | None = None

    def _holds_objects(self, prefix: str) -> bool:
        from mdreg.oci.errors import translated

        b = self.bucket
        with translated(f"listing {b.uri}/{prefix}"):
            page = b.client.list_objects(b.namespace, b.name, prefix=prefix, limit=1).data
        return bool(page.objects)

    def write(self, batch: Any) -> None:
        if self._local is None:  # made now: nothing is left behind by a run that never starts
            self._tmp = Path(tempfile.mkdtemp(prefix="mdreg-score-"))
            name = PurePosixPath(self.key).name
            self._local = OutputTable(str(self._tmp / name), force=True)  # same suffix
        self._local.write(batch)

    def commit(self) -> None:
        if self._local is None:
            raise InputError("the input has no rows: nothing was written")
        try:
            self._local.commit()
            self.bucket.put(self.key, self._local.path)
        finally:
            self._cleanup()

    def abort(self) -> None:
        if self._local is not None:
            self._local.abort()
        self._cleanup()

    def _cleanup(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        self.bucket.close()
