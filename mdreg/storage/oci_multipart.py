"""The parallel multipart upload to OCI Object Storage (each part read by
``mdreg._files.SliceReader``).

Multipart upload of a file of N bytes in parts of P bytes:

1. ``create_multipart_upload`` gives an upload id;
2. ``parallelism`` threads upload parts (``upload_part``), each read straight from the
   file at its offset (constant memory: one 1 MiB chunk per connection in flight). Each
   part is retried on its own (``mdreg.oci.retry.call``: 429, 5xx, resets, timeouts, and
   a service MD5 that differs from the one computed while sending);
3. meanwhile one thread computes the whole file's sha256, in order;
4. ``commit_multipart_upload`` with every part's ETag; the ``opc-multipart-md5`` the
   service returns is checked against the parts' MD5s.

A part that fails for good, or an interrupt (Ctrl-C), stops the other parts and aborts
the upload (``abort_multipart_upload``), so no half object and no stray parts stay
behind. Uploads are not resumed across runs: a rerun starts a fresh upload.
"""

from __future__ import annotations

import base64
import hashlib
import math
import threading
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mdreg._files import CHUNK, ProgressFn, SliceReader
from mdreg.errors import MdregError, RemoteError
from mdreg.oci import retry
from mdreg.oci.errors import translated
from mdreg.oci.settings import MAX_PARTS, OciSettings


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


@dataclass
class Committed:
    etag: str
    last_modified: str | None
    sha256: str


def plan_parts(size: int, part_size: int) -> list[tuple[int, int, int]]:
    """(part number from 1, offset, length) for each part; the part size grows when
    ``size`` would need more than Object Storage's 10,000 parts."""
    part_size = max(part_size, math.ceil(size / MAX_PARTS))
    return [
        (i + 1, off, min(part_size, size - off)) for i, off in enumerate(range(0, size, part_size))
    ]


def multipart_md5(md5s: list[bytes]) -> str:
    """What Object Storage reports as ``opc-multipart-md5``: the MD5 of the parts' binary
    MD5s, base64, then ``-`` and the number of parts."""
    digest = hashlib.md5(b"".join(md5s)).digest()  # noqa: S324
    return f"{base64.b64encode(digest).decode()}-{len(md5s)}"


@dataclass(frozen=True)
class UploadTarget:
    """Where a multipart upload goes: the object, and what is needed to send it there."""

    client: Any  # the SDK's ObjectStorageClient
    namespace: str
    bucket: str
    key: str
    uri: str  # the object's URI, for messages
    settings: OciSettings


def upload_multipart(
    target: UploadTarget, src: Path, size: int, progress: ProgressFn | None
) -> Committed:
    """Upload ``src`` to ``target`` in parallel parts; see the module docstring."""
    import oci

    parts = plan_parts(size, target.settings.part_size)
    with translated(f"starting the multipart upload of {target.uri}"):
        upload_id = target.client.create_multipart_upload(
            target.namespace,
            target.bucket,
            oci.object_storage.models.CreateMultipartUploadDetails(object=target.key),
        ).data.upload_id
    stop = threading.Event()
    tracker = PartProgress(progress)
    sha: dict[str, str] = {}
    hasher = threading.Thread(
        target=_sha256_of, args=(src, stop, sha), name="mdreg-sha256", daemon=True
    )
    hasher.start()
    pool = ThreadPoolExecutor(
        max_workers=min(target.settings.parallelism, len(parts)), thread_name_prefix="mdreg-part"
    )
    try:
        futures: dict[Future[tuple[str, bytes]], int] = {
            pool.submit(_upload_part, target, upload_id, src, part, tracker, stop): part[0]
            for part in parts
        }
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for fut in done:
            fut.result()  # the first part that failed for good raises here
        results = {futures[f]: f.result() for f in futures}
        hasher.join()
        if "sha256" not in sha:
            raise RemoteError(f"cannot read {src} to hash it: {sha.get('error', 'unknown error')}")
        etag, modified = _commit(target, upload_id, results)
    except BaseException as exc:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        _abort(target, upload_id, exc)
        raise
    pool.shutdown(wait=True)
    return Committed(etag, modified, sha["sha256"])


def _upload_part(
    target: UploadTarget,
    upload_id: str,
    src: Path,
    part: tuple[int, int, int],
    tracker: PartProgress,
    stop: threading.Event,
) -> tuple[str, bytes]:
    number, offset, length = part

    def attempt(_: int) -> tuple[str, bytes]:
        reader = SliceReader(src, offset, length, on_pos=tracker.for_part(number), stop=stop)
        try:
            resp = target.client.upload_part(
                target.namespace,
                target.bucket,
                target.key,
                upload_id,
                number,
                reader,
                content_length=length,
                retry_strategy=retry.no_retries(),
            )
        finally:
            reader.close()
        if resp.headers.get("opc-content-md5") != reader.md5_b64():
            raise retry.Corrupted(f"part {number}: the service's MD5 differs from what was sent")
        return resp.headers["etag"], reader.md5.digest()

    with translated(f"uploading part {number} of {target.uri}"):
        try:
            return retry.call(attempt, target.settings, stop=stop)
        except retry.Corrupted as exc:
            raise RemoteError(
                f"uploading part {number} of {target.uri}: {exc}, "
                f"{target.settings.max_attempts} times"
            ) from exc


def _commit(
    target: UploadTarget, upload_id: str, results: dict[int, tuple[str, bytes]]
) -> tuple[str, str | None]:
    import oci

    models = oci.object_storage.models
    numbers = sorted(results)
    details = models.CommitMultipartUploadDetails(
        parts_to_commit=[
            models.CommitMultipartUploadPartDetails(part_num=n, etag=results[n][0]) for n in numbers
        ]
    )
    expected = multipart_md5([results[n][1] for n in numbers])
    with translated(f"committing the multipart upload of {target.uri}"):
        resp = target.client.commit_multipart_upload(
            target.namespace, target.bucket, target.key, upload_id, details
        )
    got = resp.headers.get("opc-multipart-md5")
    if got is not None and got != expected:
        raise RemoteError(
            f"{target.uri}: the committed object's MD5 {got} differs from "
            f"the parts sent ({expected})"
        )
    return resp.headers["etag"], resp.headers.get("last-modified")


def _abort(target: UploadTarget, upload_id: str, cause: BaseException) -> None:
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


def _sha256_of(path: Path, stop: threading.Event, out: dict[str, str]) -> None:
    sha = hashlib.sha256()
    try:
        with open(path, "rb", buffering=0) as f:
            buf = bytearray(CHUNK)
            view = memoryview(buf)
            while n := f.readinto(view):
                if stop.is_set():
                    return
                sha.update(view[:n])
    except OSError as exc:
        out["error"] = str(exc)
        return
    out["sha256"] = sha.hexdigest()
