"""A zip being written, uploaded as it is written: ``StreamUpload``, the ``StreamSink``
behind ``OciBucket.put_stream``. Nothing touches the local disk.

- Parts: the bytes written are copied into part buffers of ``part_size``; a full buffer
  is sealed as the next part and sent by one of ``parallelism`` threads
  (``oci_parts.send_part``: its ``Content-MD5`` hashed from the buffer, which a retry
  sends again). The multipart upload is created when the first part is sealed; a
  stream that ends within one part goes up in one ``put_object``. ``finish`` commits
  with the parts' ETags; ``abort`` stops the parts and aborts the upload.
- Memory: at most ``max(2, parallelism)`` buffers (``oci_parts.PartBuffers``, which
  counts them; each grows as it is first filled); the writer waits for a free one, so a
  slow network slows the zip writer down.
- Patched headers: zipfile writes an entry's local header, then its data, then seeks
  back to fill in the header's CRC and sizes. The part holding the open entry's header
  is sealed like any other but kept (not sent) until ``end_entry``; a header is never
  split between two parts: the part before it is sealed a few bytes short, or, when that
  would leave it under ``min_part_size``, grows past ``part_size`` to hold it whole.
- Part sizes: Object Storage refuses a commit with a part but the last under its
  minimum (``mdreg.oci.settings.MIN_PART_SIZE``), so no part is sealed early below it.
- sha256, in order: every byte outside an open entry is final when written and hashed
  then. An entry's bytes after its header are kept for the hash as long as buffers
  allow; when the writer needs their buffers they are let go (once sent), and at
  ``end_entry`` the entry is hashed from ``replay()``: the zip writer reads (and
  deflates) the file again, from the page cache, checked against the CRC and sizes it
  wrote. So a model file larger than the buffers is read twice, never written. While
  it is replayed, the part with its header and the part with its last bytes (sealed
  early when at least half full and no shorter than ``min_part_size``) are already on
  their way.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from mdreg._files import Stopped, md5_hasher
from mdreg._streams import Replay
from mdreg.errors import MdregError, RemoteError
from mdreg.oci.settings import MAX_PARTS
from mdreg.storage.oci_parts import (
    BufferReader,
    Committed,
    PartBuffers,
    UploadTarget,
    abort,
    commit,
    create_upload,
    put_whole,
    send_part,
)


@dataclass(eq=False)
class _Part:
    number: int
    start: int
    buf: bytearray
    length: int = 0
    sealed: bool = False
    held: bool = False  # holds the open entry's header: sent at end_entry
    in_flight: bool = False
    sent: bool = False
    unhashed: bool = False  # of an entry hashed from its replay: never fed to the sha256

    @property
    def end(self) -> int:
        return self.start + self.length


@dataclass
class _Entry:
    start: int  # its local header's offset
    header_end: int | None = None  # known once the header is written
    replay: bool = False  # its data bytes were let go: hashed from replay() at the end


class StreamUpload:
    """The ``StreamSink`` whose bytes become the object ``target``; see the module
    docstring. ``size_hint``: about how many bytes will be written (the part size grows
    if 10,000 parts would not hold them)."""

    def __init__(self, target: UploadTarget, *, size_hint: int | None = None) -> None:
        s = target.settings
        self._target = target
        part_size = s.part_size
        if size_hint:  # a few short parts (before headers): leave room for twice as many
            part_size = max(part_size, math.ceil(2 * size_hint / MAX_PARTS))
        self.part_size = part_size
        self.min_part = s.min_part_size  # a part sealed early (not full) is no shorter
        self.buffers = PartBuffers(max(2, s.parallelism), part_size)
        self._parts: list[_Part] = []  # in memory, in order
        self._next = 1
        self._pos = self._end = 0
        self._sha = hashlib.sha256()
        self._hashed_to = 0
        self._entry: _Entry | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._pool = ThreadPoolExecutor(max_workers=s.parallelism, thread_name_prefix="mdreg-part")
        self._futures: list[Future[None]] = []
        self._results: dict[int, tuple[str, bytes]] = {}  # number -> (etag, md5)
        self._upload_id: str | None = None
        self._dead = False  # failed and said so: zipfile's writes while unwinding are dropped
        self.replayed = 0  # entries hashed from their replay (what tests look at)

    @property
    def size(self) -> int:
        return self._end

    # -- the file zipfile writes into -------------------------------------------------------
    def write(self, data: Any, /) -> int:
        view = memoryview(data).cast("B")
        n = len(view)
        if self._dead:
            return n
        if self._pos < self._end:
            self._patch(view)
            return n
        entry = self._entry
        limit = self.part_size
        if entry is not None and entry.header_end is None:  # the entry's local header
            cur = self._current()
            if cur.length + n > limit:  # never split between parts: it starts the next,
                if cur.length and cur.length >= self.min_part:
                    self._seal(cur)
                else:  # or this one, too short to seal, grows to hold it
                    limit = cur.length + n
            entry.header_end = self._end + n
        while view:
            cur = self._current()
            k = min(limit - cur.length, len(view))
            try:
                cur.buf[cur.length : cur.length + k] = view[:k]  # grows a new buffer
            except BufferError:  # a view of its last use still alive: never shared, copy
                cur.buf = bytearray(cur.buf[: cur.length])
                cur.buf[cur.length : cur.length + k] = view[:k]
            cur.length += k
            self._end = self._pos = self._end + k
            view = view[k:]
            if cur.length >= limit:
                self._seal(cur)
                limit = self.part_size
        self._pos = self._end
        return n

    def seek(self, offset: int, whence: int = 0, /) -> int:
        pos = {0: 0, 1: self._pos, 2: self._end}[whence] + offset
        if self._dead:
            return pos
        if not 0 <= pos <= self._end:
            raise ValueError(f"cannot seek to {pos} in a stream of {self._end} bytes")
        self._pos = pos
        return pos

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        self._raise_if_failed()

    def seekable(self) -> bool:
        return True

    def begin_entry(self) -> None:
        self._raise_if_failed()
        self._hash_to(self._end)  # all before it is final
        self._entry = _Entry(self._end)

    def end_entry(self, replay: Replay | None) -> None:
        entry, self._entry = self._entry, None
        if entry is None:
            raise MdregError("internal error: end_entry without begin_entry")
        header_end = self._end if entry.header_end is None else entry.header_end
        with self._cond:  # its header is final: the part holding it goes (while we hash)
            for part in self._parts:
                if part.held:
                    part.held = False
                    if part.sealed:
                        self._submit(part)
        if not entry.replay:
            self._hash_to(self._end)
            return
        self._hash_to(header_end)
        if replay is None:
            raise MdregError("internal error: an entry too large to hold has no replay")
        cur = self._parts[-1] if self._parts and not self._parts[-1].sealed else None
        early = max(self.part_size // 2, self.min_part)
        if cur is not None and cur.start >= header_end and cur.length >= early:
            with self._cond:  # the entry's last bytes go while it is replayed
                cur.sealed = cur.unhashed = True
                self._submit(cur)
        self.replayed += 1
        n = self._hash_replay(replay)
        if n != self._end - header_end:
            raise MdregError(
                f"internal error: an entry replayed as {n} bytes, "
                f"{self._end - header_end} were written"
            )
        with self._cond:
            self._hashed_to = self._end
            self._release()

    # -- the end ----------------------------------------------------------------------------
    def finish(self) -> Committed:
        """Send what is left and commit (or, when it all fits in one part and none was
        sent, put it in one ``put_object``)."""
        if self._entry is not None:
            raise MdregError("internal error: the stream ended inside a zip entry")
        self._raise_if_failed()
        self._hash_to(self._end)
        last = self._parts[-1] if self._parts and not self._parts[-1].sealed else None
        if self._upload_id is None and not self._futures:
            view = memoryview(last.buf)[: last.length] if last else memoryview(b"")
            md5 = md5_hasher()
            md5.update(view)
            etag, modified = put_whole(
                self._target, len(view), md5.digest(), lambda: BufferReader(view, self._stop)
            )
        else:
            if last is not None:
                self._seal(last)
            wait(self._futures)
            self._raise_if_failed()  # the first part that failed for good
            assert self._upload_id is not None  # made by the first part sent
            etag, modified = commit(self._target, self._upload_id, self._results)
        self._pool.shutdown(wait=True)
        return Committed(etag, modified, self._sha.hexdigest())

    def abort(self, cause: BaseException) -> None:
        """Stop the parts and abort the multipart upload (if one was started)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._upload_id is not None:
            abort(self._target, self._upload_id, cause)

    # -- parts ------------------------------------------------------------------------------
    def _current(self) -> _Part:
        if self._parts and not self._parts[-1].sealed:
            return self._parts[-1]
        if self._next > MAX_PARTS:
            raise RemoteError(
                f"uploading {self._target.uri}: more than {MAX_PARTS} parts: raise --part-size"
            )
        part = _Part(self._next, self._end, self._take_buffer())
        self._next += 1
        with self._cond:
            self._parts.append(part)
        return part

    def _seal(self, part: _Part) -> None:
        part.sealed = True
        entry = self._entry
        if entry is None:
            self._hash_to(part.end)
        elif part.start < (entry.header_end or part.end) and part.end > entry.start:
            part.held = True
        elif entry.replay:
            part.unhashed = True
        if not part.held:
            with self._cond:
                self._submit(part)

    def _submit(self, part: _Part) -> None:  # with self._cond held
        part.in_flight = True
        self._futures.append(self._pool.submit(self._send, part))

    def _send(self, part: _Part) -> None:
        try:
            view = memoryview(part.buf)[: part.length]
            md5 = md5_hasher()
            md5.update(view)
            digest = md5.digest()
            with self._cond:
                if self._upload_id is None:
                    self._upload_id = create_upload(self._target)
                upload_id = self._upload_id
            etag = send_part(
                self._target,
                upload_id,
                part.number,
                part.length,
                digest,
                lambda: BufferReader(view, self._stop),
                stop=self._stop,
            )
            with self._cond:
                self._results[part.number] = (etag, digest)
                part.in_flight, part.sent = False, True
                self._release()
                self._cond.notify_all()
        except BaseException as exc:
            with self._cond:
                part.in_flight = False
                if self._error is None and not isinstance(exc, Stopped):
                    self._error = exc
                self._stop.set()
                self._cond.notify_all()
            raise

    def _freeable(self, part: _Part) -> bool:
        return part.sealed and (part.unhashed or part.end <= self._hashed_to)

    def _release(self) -> None:  # with self._cond held: give back the buffers of parts done
        for part in [p for p in self._parts if p.sent and self._freeable(p)]:
            self._parts.remove(part)
            self.buffers.give(part.buf)

    def _take_buffer(self) -> bytearray:
        with self._cond:
            while True:
                self._raise_if_failed()
                self._release()
                buf = self.buffers.take()
                if buf is not None:
                    return buf
                if any(p.in_flight and self._freeable(p) for p in self._parts):
                    self._cond.wait()
                    continue
                entry = self._entry
                if entry is not None and entry.header_end is not None and not entry.replay:
                    kept = [p for p in self._parts if p.sealed and p.start >= entry.header_end]
                    if kept:  # the open entry's data: let it go, hash it from its replay
                        entry.replay = True
                        for p in kept:
                            p.unhashed = True
                        continue
                if any(p.in_flight for p in self._parts):
                    self._cond.wait()
                    continue
                raise MdregError("internal error: no part buffer can be freed")

    def _hash_replay(self, replay: Replay) -> int:
        """Feed the sha256 ``replay()``'s bytes; how many there were. (Hashing them in a
        thread of its own, beside the reading, gained nothing on two busy cores.)"""
        n = 0
        for chunk in replay():
            self._sha.update(chunk)
            n += len(chunk)
        return n

    def _hash_to(self, offset: int) -> None:
        """Feed the sha256 the bytes up to ``offset`` (all in memory, final)."""
        with self._cond:
            start = self._hashed_to
            parts = [p for p in self._parts if p.end > start and p.start < offset]
        for chunk in _slices(parts, start, offset):
            self._sha.update(chunk)
        with self._cond:
            self._hashed_to = max(self._hashed_to, offset)
            self._release()

    def _patch(self, view: memoryview) -> None:
        start, stop = self._pos, self._pos + len(view)
        entry = self._entry
        if (
            entry is None
            or entry.header_end is None
            or not entry.start <= start < stop <= (entry.header_end)
        ):
            raise MdregError("internal error: the zip writer rewrote bytes outside a header")
        part = next(p for p in self._parts if p.start <= start and stop <= p.end)
        part.buf[start - part.start : stop - part.start] = view
        self._pos = stop

    def _raise_if_failed(self) -> None:
        if self._error is not None or self._stop.is_set():
            self._dead = True
            raise self._error if self._error is not None else Stopped()


def _slices(parts: list[_Part], start: int, stop: int) -> Iterator[memoryview]:
    for p in parts:
        lo, hi = max(start, p.start), min(stop, p.end)
        if lo < hi:
            yield memoryview(p.buf)[lo - p.start : hi - p.start]
