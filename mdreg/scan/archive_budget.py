"""The budgets that bound the work on one file's nested archives, and the streams that
spend them.

Two budgets: how deep archives and compression layers nest (``NEST_DEPTH``) and how
many bytes are read out of them (``NEST_BYTES``, or the caller's ``max_bytes``). An
archive that cannot be read (``UNREADABLE``) or a depth past the budget marks the file
incomplete and the rest is still read; the size budget running out ends the file.
"""

from __future__ import annotations

import io
import lzma
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable

from mdreg.scan.containers import HEAD_BYTES
from mdreg.scan.report import PickleReport, shown
from mdreg.scan.stream import ByteReader, ReadStream

#: Archives and compression layers inside a file, one in another, that are opened.
NEST_DEPTH = 4
#: Bytes read out of nested archives and compression layers of one file, when the
#: caller gives no ``max_bytes``.
NEST_BYTES = 2 << 30

#: a member or an archive that cannot be read (encrypted, unknown method, corrupt)
UNREADABLE = (
    tarfile.TarError,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    RuntimeError,
    NotImplementedError,
    OSError,
    EOFError,
    ValueError,
    struct.error,
    zlib.error,
    lzma.LZMAError,
)


class OutOfBudget(Exception):
    """The size budget ran out: nothing more of the file is read."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.where: str | None = None


class Budget:
    """The budgets left for one file, and the report its findings go to."""

    def __init__(self, report: PickleReport, max_bytes: int | None, max_depth: int) -> None:
        self.report = report
        self.limit = NEST_BYTES if max_bytes is None else max_bytes
        self.left = self.limit
        self.max_depth = max_depth

    def spend(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise OutOfBudget(f"more than {self.limit} bytes in nested archives (the size budget)")

    def note(self, where: str, why: str) -> None:
        """The file cannot be read fully: the first reason is kept."""
        if self.report.incomplete is None:
            self.report.incomplete = shown(f"{where}: {why}" if where else why, 400)

    def allows(self, depth: int, where: str) -> bool:
        if depth <= self.max_depth:
            return True
        self.note(where, f"archives nested more than {self.max_depth} deep (the depth budget)")
        return False

    def guard(self, where: str, read: Callable[[], None]) -> None:
        """Run ``read``: an archive at ``where`` that cannot be read makes the file
        incomplete, and the rest of the file is still read. The size budget running
        out stops the whole file (see ``run``)."""
        try:
            read()
        except OutOfBudget as exc:
            if exc.where is None:
                exc.where = where
            raise
        except UNREADABLE as exc:
            self.note(where, f"cannot be read: {exc}")

    def run(self, where: str, read: Callable[[], None]) -> None:
        """``guard`` for a whole file's archive: the size budget running out ends here."""
        try:
            self.guard(where, read)
        except OutOfBudget as exc:
            self.note(exc.where or where, str(exc))


class CountedStream(ReadStream):
    """A member, a decompressed stream or a window onto a file: reads are counted
    against the size budget (``budget``; None where the bytes were counted already,
    as for a tar member read out of a counted tar stream), and a peeked head is
    read again."""

    def __init__(self, raw: ByteReader, budget: Budget | None, pending: bytes = b"") -> None:
        self._raw = raw
        self._budget = budget
        self._pending = pending

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            return b"".join(iter(lambda: self.read(1 << 20), b""))
        parts = []
        if self._pending:
            parts.append(self._pending[:n])
            self._pending = self._pending[n:]
            n -= len(parts[0])
        while n > 0:
            want = n if self._budget is None else min(n, max(self._budget.left, 0) + 1)
            data = self._raw.read(want)
            if not data:
                break
            if self._budget is not None:
                self._budget.spend(len(data))
            parts.append(data)
            n -= len(data)
        return b"".join(parts)

    def peek_head(self) -> bytes:
        """The first HEAD_BYTES (fewer: the whole stream), read again by the next read."""
        need = HEAD_BYTES - len(self._pending)
        if need > 0:
            pending, self._pending = self._pending, b""
            self._pending = pending + self.read(need)
        return self._pending[:HEAD_BYTES]

    # Seeks are passed on: used only where they are cheap (see read_entry's ``seekable``).
    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset -= len(self._pending)
        self._pending = b""
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell() - len(self._pending)
