"""The parallel multipart upload of a local file to OCI Object Storage.

Multipart upload of a file of N bytes in parts of P bytes:

1. ``create_multipart_upload`` gives an upload id;
2. one thread reads the file once, in order: the whole file's sha256 and, as it passes
   each part's end, that part's MD5 (what ``Content-MD5`` needs before the part is sent);
3. ``parallelism`` threads upload parts (``upload_part``) as their MD5 is ready, each
   read straight from the file at its offset (``mdreg._files.SliceReader``: constant
   memory, one 1 MiB chunk per connection in flight). Each part is retried on its own
   (``mdreg.oci.retry.call``: 429, 5xx, resets, timeouts, and a body the service
   received damaged: its 400 for a Content-MD5 that does not match, or an
   ``opc-content-md5`` that differs). A part whose file bytes no longer hash as before
   fails at once: the file changed while it was being uploaded;
4. ``commit_multipart_upload`` with every part's ETag; the ``opc-multipart-md5`` the
   service returns (when it does) is checked against the parts' MD5s.

A part that fails for good, or an interrupt (Ctrl-C), stops the other parts and aborts
the upload (``abort_multipart_upload``), so no half object and no stray parts stay
behind. Uploads are not resumed across runs: a rerun starts a fresh upload.

The calls themselves (checks, retries) are ``oci_parts``'s, shared with the streamed
upload of a zip being written (``oci_stream``).
"""

from __future__ import annotations

import hashlib
import math
import threading
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from pathlib import Path

from mdreg._files import CHUNK, ProgressFn, SliceReader, Stopped, md5_hasher
from mdreg.errors import MdregError
from mdreg.oci.settings import MAX_PARTS
from mdreg.storage.oci_parts import (
    Committed,
    UploadTarget,
    abort,
    commit,
    create_upload,
    multipart_md5,
    send_part,
)

__all__ = ["Committed", "PartProgress", "UploadTarget", "multipart_md5", "plan_parts"]


class PartProgress:
    """Feeds ``progress`` each byte once, however often a part is retried: per part, only
    what goes past the furthest point any attempt reached is reported."""

    def __init__(self, progress: ProgressFn | None) -> None:
        self._progress = progress
        self._seen: dict[int, int] = {}
        self._lock = threading.Lock()

    def for_part(self, part: int) -> ProgressFn | None:
        if self._progress is None:
            return None

        def on_pos(pos: int) -> None:
            with self._lock:
                seen = self._seen.get(part, 0)
                if pos > seen:
                    self._seen[part] = pos
                    self._progress(pos - seen)  # type: ignore[misc]

        return on_pos


def plan_parts(size: int, part_size: int) -> list[tuple[int, int, int]]:
    """(part number from 1, offset, length) for each part; the part size grows when
    ``size`` would need more than Object Storage's 10,000 parts."""
    part_size = max(part_size, math.ceil(size / MAX_PARTS))
    return [
        (i + 1, off, min(part_size, size - off)) for i, off in enumerate(range(0, size, part_size))
    ]


def slice_md5(src: Path, offset: int, length: int) -> bytes:
    """The MD5 of ``length`` bytes of ``src`` from ``offset``, read now."""
    md5 = md5_hasher()
    buf = memoryview(bytearray(CHUNK))
    with open(src, "rb", buffering=0) as f:
        f.seek(offset)
        left = length
        while left > 0:
            n = f.readinto(buf[: min(CHUNK, left)])
            if not n:
                break
            md5.update(buf[:n])
            left -= n
    return md5.digest()


class FileHashes:
    """Reads ``src`` once, in order, in a thread of its own: its sha256, and each part's
    MD5 as soon as the read passes the part's end (``md5(number)`` waits for it)."""

    def __init__(self, src: Path, parts: list[tuple[int, int, int]], stop: threading.Event):
        self._src, self._parts, self._stop = src, parts, stop
        self._thread = threading.Thread(target=self._run, name="mdreg-hash", daemon=True)
        self._md5: dict[int, bytes] = {}
        self._cond = threading.Condition()
        self._error: str | None = None
        self._sha256: str | None = None

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        sha = hashlib.sha256()
        buf = memoryview(bytearray(CHUNK))
        try:
            with open(self._src, "rb", buffering=0) as f:
                for number, _, length in self._parts:
                    md5, left = md5_hasher(), length
                    while left > 0:
                        if self._stop.is_set():
                            return
                        n = f.readinto(buf[: min(CHUNK, left)])
                        if not n:
                            raise OSError(f"{self._src} shrank while it was being uploaded")
                        md5.update(buf[:n])
                        sha.update(buf[:n])
                        left -= n
                    with self._cond:
                        self._md5[number] = md5.digest()
                        self._cond.notify_all()
            self._sha256 = sha.hexdigest()
        except OSError as exc:
            self._error = str(exc)
        finally:
            with self._cond:
                self._error = self._error or (None if self._sha256 else "stopped")
                self._cond.notify_all()

    def md5(self, number: int) -> bytes:
        with self._cond:
            while number not in self._md5:
                if self._stop.is_set():
                    raise Stopped()
                if self._error is not None:
                    raise MdregError(f"cannot read {self._src} to hash it: {self._error}")
                self._cond.wait(0.5)
            return self._md5[number]

    def sha256(self) -> str:
        self._thread.join()
        if self._sha256 is None:
            raise MdregError(f"cannot read {self._src} to hash it: {self._error}")
        return self._sha256


def upload_multipart(
    target: UploadTarget, src: Path, size: int, progress: ProgressFn | None
) -> Committed:
    """Upload ``src`` to ``target`` in parallel parts; see the module docstring."""
    parts = plan_parts(size, target.settings.part_size)
    upload_id = create_upload(target)
    stop = threading.Event()
    tracker = PartProgress(progress)
    hashes = FileHashes(src, parts, stop)
    hashes.start()
    pool = ThreadPoolExecutor(
        max_workers=min(target.settings.parallelism, len(parts)), thread_name_prefix="mdreg-part"
    )
    try:
        futures: dict[Future[tuple[str, bytes]], int] = {
            pool.submit(_upload_part, target, upload_id, src, part, hashes, tracker, stop): part[0]
            for part in parts
        }
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for fut in done:
            fut.result()  # the first part that failed for good raises here
        results = {futures[f]: f.result() for f in futures}
        sha256 = hashes.sha256()
        etag, modified = commit(target, upload_id, results)
    except BaseException as exc:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        abort(target, upload_id, exc)
        raise
    pool.shutdown(wait=True)
    return Committed(etag, modified, sha256)


def _upload_part(
    target: UploadTarget,
    upload_id: str,
    src: Path,
    part: tuple[int, int, int],
    hashes: FileHashes,
    tracker: PartProgress,
    stop: threading.Event,
) -> tuple[str, bytes]:
    number, offset, length = part
    md5 = hashes.md5(number)
    etag = send_part(
        target,
        upload_id,
        number,
        length,
        md5,
        lambda: SliceReader(
            src, offset, length, on_pos=tracker.for_part(number), stop=stop, md5=False
        ),
        rehash=lambda: slice_md5(src, offset, length),
        stop=stop,
    )
    return etag, md5
