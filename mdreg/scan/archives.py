"""Archives in model files: zip members (zips in zips), tar, 7z, and gzip, bz2 or xz
wrapped around any of them or around a pickle.

Members are read as streams, never extracted to disk. Two budgets bound the work on
one file: how deep archives nest (``NEST_DEPTH``) and how many bytes are read out of
nested archives and compression layers (``NEST_BYTES``, or the caller's ``max_bytes``).
What cannot be read fully (a budget ran out, an encrypted member, an unknown
compression, a corrupt archive, 7z without py7zr) sets ``PickleReport.incomplete``:
the scanner calls such a file "unknown", never safe. A pickle inside that does not
parse is an error as anywhere else (dangerous).

Importing this module imports only the standard library (py7zr is imported when a 7z
archive is met).
"""

from __future__ import annotations

import contextlib
import io
import lzma
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import BinaryIO

from mdreg.scan.containers import (
    _PICKLE_SUFFIXES,
    HEAD_BYTES,
    NPY_MAGIC,
    TORCH_LEGACY_MAGIC,
    TORCH_LEGACY_STREAMS,
    ZIP_MAGIC,
    _decompressor,
    _npy_object_data,
    _read_head,
    _walk,
    compression_of,
    starts_like_pickle,
)
from mdreg.scan.report import PickleReport, shown
from mdreg.scan.stream import OPCODE_BYTES, ByteReader, ReadStream, Source

#: Archives and compression layers inside a file, one in another, that are opened.
NEST_DEPTH = 4
#: Bytes read out of nested archives and compression layers of one file, when the
#: caller gives no ``max_bytes``.
NEST_BYTES = 2 << 30

SEVEN_Z_MAGIC = b"7z\xbc\xaf\x27\x1c"
#: Compressions that wrap archives (single-file .gz, .bz2, .xz); joblib's other ones
#: (zlib, lzma-alone, lz4) are followed only in members named like pickles.
_WRAPPERS = ("gzip", "bz2", "xz")
_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, then the name and extra lengths

#: a member or an archive that cannot be read (encrypted, unknown method, corrupt)
_UNREADABLE = (
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


class _OutOfBudget(Exception):
    """The size budget ran out: nothing more of the file is read."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.where: str | None = None


class _Budget:
    """The budgets left for one file, and the report its findings go to."""

    def __init__(self, report: PickleReport, max_bytes: int | None, max_depth: int) -> None:
        self.report = report
        self.limit = NEST_BYTES if max_bytes is None else max_bytes
        self.left = self.limit
        self.max_depth = max_depth

    def spend(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise _OutOfBudget(f"more than {self.limit} bytes in nested archives (the size budget)")

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
        except _OutOfBudget as exc:
            if exc.where is None:
                exc.where = where
            raise
        except _UNREADABLE as exc:
            self.note(where, f"cannot be read: {exc}")

    def run(self, where: str, read: Callable[[], None]) -> None:
        """``guard`` for a whole file's archive: the size budget running out ends here."""
        try:
            self.guard(where, read)
        except _OutOfBudget as exc:
            self.note(exc.where or where, str(exc))


class _Stream(ReadStream):
    """A member, a decompressed stream or a window onto a file: reads are counted
    against the size budget (``budget``; None where the bytes were counted already,
    as for a tar member read out of a counted tar stream), and a peeked head is
    read again."""

    def __init__(self, raw: ByteReader, budget: _Budget | None, pending: bytes = b"") -> None:
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

    # Seeks are passed on: used only where they are cheap (see _entry's ``seekable``).
    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset -= len(self._pending)
        self._pending = b""
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell() - len(self._pending)


class _Window(ReadStream):
    """``length`` bytes of a seekable file from ``start``: a stored zip member in place."""

    def __init__(self, raw: ByteReader, start: int, length: int) -> None:
        self._raw = raw
        self._start = start
        self._length = length
        self._pos = 0

    def seekable(self) -> bool:
        return True

    def read(self, n: int | None = -1) -> bytes:
        left = self._length - self._pos
        n = left if n is None or n < 0 else min(n, left)
        if n <= 0:
            return b""
        self._raw.seek(self._start + self._pos)
        data = self._raw.read(n)
        self._pos += len(data)
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos


def is_tar(head: bytes) -> bool:
    """The first 512 bytes are a tar header with a valid checksum (ustar, GNU or v7)."""
    if len(head) < tarfile.BLOCKSIZE:
        return False
    try:
        tarfile.TarInfo.frombuf(head[: tarfile.BLOCKSIZE], "utf-8", "surrogateescape")
    except (tarfile.TarError, ValueError, UnicodeError):
        return False
    return True


def archive_kind(head: bytes) -> str | None:
    """The archive the bytes begin: "zip", "tar", "7z", or None."""
    if head.startswith(ZIP_MAGIC):
        return "zip"
    if head.startswith(SEVEN_Z_MAGIC):
        return "7z"
    return "tar" if is_tar(head) else None


def _join(where: str, name: str) -> str:
    return f"{where} > {name}" if where else name


# -- a member: a pickle, an archive, a compressed stream, or nothing to read ---------------


def _entry(
    b: _Budget,
    stream: _Stream,
    name: str,
    where: str,
    depth: int,
    *,
    seekable: bool = False,
    layer: str | None = None,
) -> None:
    """Read one member of an archive at nesting ``depth`` (``layer``: the compression
    just taken off it). ``seekable``: ``stream`` seeks cheaply (a plain file, a tar
    member in one, a stored zip member in place, bytes in memory)."""
    try:
        head = stream.peek_head()
    except _UNREADABLE as exc:
        b.note(where, f"cannot be read: {exc}")
        return
    kind = archive_kind(head)
    if kind:
        inner = depth if layer else depth + 1  # a .tar.gz is one level, as a .tar
        if b.allows(inner, where):
            if seekable:
                stream.seek(0)
            b.guard(where, lambda: _open(b, kind, stream, where, inner, seekable=seekable))
        return
    named = name.endswith(_PICKLE_SUFFIXES)
    if TORCH_LEGACY_MAGIC.match(head):  # raw storages follow torch's 5th stream
        _walk(b.report, Source(stream), where, joblib=False, max_streams=TORCH_LEGACY_STREAMS)
        return
    if head.startswith(NPY_MAGIC):
        is_pickle, error = _npy_object_data(stream)
        if error and b.report.error is None:
            b.report.error = f"{where}: {error}"
        if is_pickle:
            _walk(b.report, Source(stream), where, joblib=False, max_streams=1)
        return
    compression = compression_of(head)
    if compression in _WRAPPERS or (named and compression not in (None, "compat")):
        if not b.allows(depth + 1, where):
            return
        try:
            inner_stream = _Stream(_decompressor(stream, compression), b)
        except _UNREADABLE as exc:
            b.note(where, f"cannot be read: {exc}")
            return
        _entry(b, inner_stream, name, where, depth + 1, layer=compression)
        return
    if (
        named
        or (head[:1] == b"\x80" and starts_like_pickle(head))
        or (layer and starts_like_pickle(head))
    ):
        _walk(
            b.report, Source(stream), f"{where} > {layer} stream" if layer else where, joblib=True
        )


def _open(
    b: _Budget, kind: str, stream: _Stream, where: str, depth: int, *, seekable: bool
) -> None:
    """Read the members of an archive at ``depth``."""
    if kind == "tar":
        # a tar in a forward-only stream is read in stream mode, members in order
        with tarfile.open(fileobj=stream, mode="r:" if seekable else "r|") as tar:
            _tar_members(b, tar, where, depth, seekable=seekable)
        return
    # A zip's directory is at its end, and zipfile seeks back and forth: a zip that is
    # not in a seekable place (a compressed zip member, a tar member in a compressed tar)
    # is read into memory, counted against the size budget. ZipExtFile.seek would do
    # without the copy, but re-decompresses from the start on every backward seek. A
    # stored zip member (how torch and most tools nest zips) is opened in place instead.
    source = stream if seekable else io.BytesIO(stream.read())
    if kind == "zip":
        with zipfile.ZipFile(source) as zf:
            _zip_members(b, zf, where, depth)
    else:
        _7z_members(b, source, where, depth)  # type: ignore[arg-type]


def _tar_members(
    b: _Budget, tar: tarfile.TarFile, where: str, depth: int, *, seekable: bool
) -> None:
    while True:
        info = tar.next()
        if info is None:
            return
        if not info.isreg():
            continue  # folders, links, devices: no bytes of their own
        member = tar.extractfile(info)
        if member is None:
            continue
        # counted already: the bytes come out of the (counted) tar stream
        _entry(
            b, _Stream(member, None), info.name, _join(where, info.name), depth, seekable=seekable
        )


def zip_kind(names: list[str]) -> str:
    if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
        if any("/code/" in n or n.endswith("constants.pkl") for n in names):
            return "torchscript-zip"
        return "torch-zip"
    base = {n.rsplit("/", 1)[-1] for n in names}
    if "config.json" in base and ("metadata.json" in base or "model.weights.h5" in base):
        return "keras-zip"
    return "zip"


def _stored_window(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> _Window | None:
    """A stored, unencrypted member as a window onto the zip's own file, or None."""
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1 or zf.fp is None:
        return None
    fp = zf.fp
    fp.seek(info.header_offset)
    header = fp.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size:
        return None
    magic, name_len, extra_len = _LOCAL_HEADER.unpack(header)
    if magic != ZIP_MAGIC[0]:
        return None
    start = info.header_offset + _LOCAL_HEADER.size + name_len + extra_len
    return _Window(fp, start, info.compress_size)


def _zip_members(b: _Budget, zf: zipfile.ZipFile, where: str, depth: int) -> None:
    infos = zf.infolist()
    torch_kind = zip_kind([i.filename for i in infos]) in ("torch-zip", "torchscript-zip")
    for info in infos:
        name = info.filename
        if info.is_dir() or (torch_kind and not name.endswith(_PICKLE_SUFFIXES)):
            continue  # storages and code: torch never unpickles them
        here = _join(where, name)
        b.guard(here, partial(_zip_entry, b, zf, info, here, depth, torch_kind=torch_kind))


def _zip_entry(
    b: _Budget,
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    where: str,
    depth: int,
    *,
    torch_kind: bool = False,
) -> None:
    window = _stored_window(zf, info)
    with contextlib.ExitStack() as stack:
        raw = window if window is not None else stack.enter_context(zf.open(info))
        stream = _Stream(raw, b)
        if torch_kind:  # data.pkl, read by torch's own unpickler
            _walk(b.report, Source(stream), where, joblib=False)
        else:
            _entry(b, stream, info.filename, where, depth, seekable=window is not None)


def _7z_members(b: _Budget, source: BinaryIO, where: str, depth: int) -> None:
    try:
        import py7zr  # optional, only for 7z archives
        from py7zr.io import Py7zIO, WriterFactory
    except ImportError:
        b.note(where, "a 7z archive: reading it needs the py7zr package (>= 1.0)")
        return

    class Member(Py7zIO):  # one member's bytes, in memory, counted as they come
        def __init__(self) -> None:
            self.buf = io.BytesIO()

        def write(self, s: bytes | bytearray) -> int:
            b.spend(len(s))
            return self.buf.write(s)

        def read(self, size: int | None = None) -> bytes:
            return self.buf.read(size)

        def seek(self, offset: int, whence: int = 0) -> int:
            return self.buf.seek(offset, whence)

        def flush(self) -> None:
            pass

        def size(self) -> int:
            return self.buf.getbuffer().nbytes

    class Collect(WriterFactory):
        def __init__(self) -> None:
            self.members: list[tuple[str, Member]] = []

        def create(self, filename: str) -> Py7zIO:
            self.members.append((filename, Member()))
            return self.members[-1][1]

    collect = Collect()
    try:
        # a file object (not a path): py7zr reads it in this thread, no worker processes
        with py7zr.SevenZipFile(source, mode="r") as archive:
            archive.extractall(factory=collect)  # noqa: S202 - a factory: nothing goes to disk
    except _OutOfBudget:
        raise
    except Exception as exc:  # noqa: BLE001 - py7zr's errors (password, method, corrupt) vary
        b.note(where, f"cannot be read: {type(exc).__name__}: {exc}")
        return
    for name, member in collect.members:
        member.buf.seek(0)
        # counted already, as py7zr wrote the bytes
        _entry(b, _Stream(member.buf, None), name, _join(where, name), depth, seekable=True)


# -- whole files -------------------------------------------------------------------------


def read_zip(path: Path, max_bytes: int | None, max_depth: int) -> PickleReport:
    """A zip file: its pickle members walked in place, its archive members opened."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        return PickleReport(path, "zip", error=f"not a readable zip archive: {exc}")
    with zf:
        infos = zf.infolist()
        kind = zip_kind([i.filename for i in infos])
        report = PickleReport(path, kind)
        nest = _Budget(report, max_bytes, max_depth)
        budget = max_bytes
        torch_kind = kind in ("torch-zip", "torchscript-zip")
        for info in infos:
            name = info.filename
            if info.is_dir() or (torch_kind and not name.endswith(_PICKLE_SUFFIXES)):
                continue  # storages and code: torch never unpickles them
            try:
                with zf.open(info) as member:
                    head = member.read(HEAD_BYTES)
            except _UNREADABLE as exc:
                if name.endswith(_PICKLE_SUFFIXES):
                    if report.error is None:
                        report.error = f"{name}: cannot be read: {exc}"
                else:
                    nest.note(name, f"cannot be read: {exc}")
                continue
            if not torch_kind and archive_kind(head):
                if nest.left >= 0:  # once the size budget is spent, only pickles are walked
                    nest.run(name, partial(_zip_entry, nest, zf, info, info.filename, 0))
                continue
            budget = _zip_member(report, nest, zf, info, head, budget, torch_kind=torch_kind)
        return report


def _zip_member(
    report: PickleReport,
    nest: _Budget,
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    head: bytes,
    budget: int | None,
    *,
    torch_kind: bool,
) -> int | None:
    """Walk one member of a zip file that is not an archive; return the budget left."""
    name = info.filename
    compression = None if torch_kind else compression_of(head)
    looks_pickled = head[:1] == b"\x80" and starts_like_pickle(head)
    if head.startswith(NPY_MAGIC):  # .npz archives: object arrays are pickles
        with zf.open(info) as member:
            is_pickle, error = _npy_object_data(member)
            if error and report.error is None:
                report.error = f"{name}: {error}"
            if is_pickle:
                src = Source(member, max_bytes=budget)
                _walk(report, src, name, joblib=False, max_streams=1)
        return budget
    if not (name.endswith(_PICKLE_SUFFIXES) or compression or looks_pickled):
        return budget
    with zf.open(info) as member:
        stream: ByteReader = member
        where = name
        prefix = b""
        if compression:
            where = f"{name} > {compression} stream"
            named = name.endswith(_PICKLE_SUFFIXES)
            try:
                stream = _decompressor(member, compression)
                prefix = _read_head(stream)
            except (OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
                if named:
                    if report.error is None:
                        report.error = f"{where} is corrupt: {exc}"
                elif compression in _WRAPPERS:
                    nest.note(name, f"cannot be read: {exc}")
                return budget  # else: text that starts like a zlib or lzma header
            kind = archive_kind(prefix)
            if compression in _WRAPPERS and kind:  # a .tar.gz member, say
                if nest.left >= 0 and nest.allows(1, name):
                    inner = _Stream(stream, nest, prefix)
                    nest.run(name, lambda: _open(nest, kind, inner, name, 1, seekable=False))
                return budget
            if not (named or starts_like_pickle(prefix)):
                return budget  # a .csv.gz, say: no pickle, as for a whole compressed file
        src = Source(stream, max_bytes=budget, prefix=prefix)
        # torch reads data.pkl with its own unpickler; other members may be joblib dumps
        _walk(report, src, where, joblib=not torch_kind and compression != "compat")
        return None if budget is None else max(0, budget - src.produced)


def read_archive(
    path: Path,
    raw: ByteReader,
    head: bytes,
    kind: str,
    max_bytes: int | None,
    max_depth: int,
    *,
    compression: str | None = None,
) -> PickleReport:
    """A tar or 7z file, or a zip, tar or 7z in a gzip, bz2 or xz (or other joblib)
    compression: ``head`` is the archive's first bytes, ``raw`` the file at offset 0."""
    report = PickleReport(path, kind)
    nest = _Budget(report, max_bytes, max_depth)
    if kind == "tar" and head[0] in OPCODE_BYTES:
        raw.seek(0)
        _tar_header(report, raw, head, max_bytes, compression)
    raw.seek(0)
    if compression is None:
        stream = _Stream(raw, nest)  # a plain file: tarfile and py7zr seek in it
        nest.run("", lambda: _open(nest, kind, stream, "", 0, seekable=True))
        return report

    def read() -> None:
        inner = _Stream(_decompressor(raw, compression), nest)
        _open(nest, kind, inner, "", 0, seekable=False)

    nest.run(f"{compression} stream", read)
    return report


def _tar_header(
    report: PickleReport,
    raw: ByteReader,
    head: bytes,
    max_bytes: int | None,
    compression: str | None,
) -> None:
    """A tar's first bytes are its first member's name, which may read as pickle opcodes:
    pickle.load (or joblib.load, which decompresses first) handed the file unpickles
    them. A head that parses like a pickle is walked as one, errors and all; any other
    head fails to parse within its 512 bytes, and so does the unpickler: the globals it
    imports before that are kept, the parse error is not (the file is a tar)."""
    where = f"{compression} stream" if compression else ""
    joblib = compression != "compat"
    if starts_like_pickle(head):
        stream = raw if compression is None else _decompressor(raw, compression)
        _walk(report, Source(stream, max_bytes=max_bytes), where, joblib=joblib)
        return
    scratch = PickleReport(report.path, report.container)
    _walk(scratch, Source(io.BytesIO(head)), where, joblib=joblib, max_streams=1)
    report.globals.extend(scratch.globals)
