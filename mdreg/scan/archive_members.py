"""An archive's members, read as streams at some nesting depth: zip members (zips in
zips), tar, 7z, and gzip, bz2 or xz wrapped around any of them or around a pickle.

``read_entry`` tells what one member is (a pickle, an archive, a compressed stream, or
nothing to read) and ``open_archive`` reads an archive's members through it again,
within the budgets of ``archive_budget``. py7zr is imported when a 7z archive is met.
"""

from __future__ import annotations

import contextlib
import io
import struct
import tarfile
import zipfile
from functools import partial
from typing import BinaryIO

from mdreg.scan.archive_budget import UNREADABLE, Budget, CountedStream, OutOfBudget
from mdreg.scan.containers import (
    _PICKLE_SUFFIXES,
    NPY_MAGIC,
    TORCH_LEGACY_MAGIC,
    TORCH_LEGACY_STREAMS,
    ZIP_MAGIC,
    _decompressor,
    _npy_object_data,
    _walk,
    compression_of,
    starts_like_pickle,
)
from mdreg.scan.stream import ByteReader, ReadStream, Source

SEVEN_Z_MAGIC = b"7z\xbc\xaf\x27\x1c"
#: Compressions that wrap archives (single-file .gz, .bz2, .xz); joblib's other ones
#: (zlib, lzma-alone, lz4) are followed only in members named like pickles.
WRAPPERS = ("gzip", "bz2", "xz")
_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, then the name and extra lengths


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


def join_where(where: str, name: str) -> str:
    return f"{where} > {name}" if where else name


# -- a member: a pickle, an archive, a compressed stream, or nothing to read ---------------


def read_entry(
    b: Budget,
    stream: CountedStream,
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
    except UNREADABLE as exc:
        b.note(where, f"cannot be read: {exc}")
        return
    kind = archive_kind(head)
    if kind:
        inner = depth if layer else depth + 1  # a .tar.gz is one level, as a .tar
        if b.allows(inner, where):
            if seekable:
                stream.seek(0)
            b.guard(where, lambda: open_archive(b, kind, stream, where, inner, seekable=seekable))
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
    if compression in WRAPPERS or (named and compression not in (None, "compat")):
        if not b.allows(depth + 1, where):
            return
        try:
            inner_stream = CountedStream(_decompressor(stream, compression), b)
        except UNREADABLE as exc:
            b.note(where, f"cannot be read: {exc}")
            return
        read_entry(b, inner_stream, name, where, depth + 1, layer=compression)
        return
    if (
        named
        or (head[:1] == b"\x80" and starts_like_pickle(head))
        or (layer and starts_like_pickle(head))
    ):
        _walk(
            b.report, Source(stream), f"{where} > {layer} stream" if layer else where, joblib=True
        )


def open_archive(
    b: Budget, kind: str, stream: CountedStream, where: str, depth: int, *, seekable: bool
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
    b: Budget, tar: tarfile.TarFile, where: str, depth: int, *, seekable: bool
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
        read_entry(
            b,
            CountedStream(member, None),
            info.name,
            join_where(where, info.name),
            depth,
            seekable=seekable,
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


def _zip_members(b: Budget, zf: zipfile.ZipFile, where: str, depth: int) -> None:
    infos = zf.infolist()
    torch_kind = zip_kind([i.filename for i in infos]) in ("torch-zip", "torchscript-zip")
    for info in infos:
        name = info.filename
        if info.is_dir() or (torch_kind and not name.endswith(_PICKLE_SUFFIXES)):
            continue  # storages and code: torch never unpickles them
        here = join_where(where, name)
        b.guard(here, partial(read_zip_entry, b, zf, info, here, depth, torch_kind=torch_kind))


def read_zip_entry(
    b: Budget,
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
        stream = CountedStream(raw, b)
        if torch_kind:  # data.pkl, read by torch's own unpickler
            _walk(b.report, Source(stream), where, joblib=False)
        else:
            read_entry(b, stream, info.filename, where, depth, seekable=window is not None)


def _7z_members(b: Budget, source: BinaryIO, where: str, depth: int) -> None:
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
    except OutOfBudget:
        raise
    except Exception as exc:  # noqa: BLE001 - py7zr's errors (password, method, corrupt) vary
        b.note(where, f"cannot be read: {type(exc).__name__}: {exc}")
        return
    for name, member in collect.members:
        member.buf.seek(0)
        # counted already, as py7zr wrote the bytes
        read_entry(
            b, CountedStream(member.buf, None), name, join_where(where, name), depth, seekable=True
        )
