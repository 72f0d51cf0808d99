"""Find the pickle streams in a model file: plain, joblib-compressed, torch, zip.

Compressed joblib files are decompressed as a stream into the walker, zip
members are read in place: nothing is extracted to disk or loaded whole.
Zips, tars and 7z archives, nested or compressed, are read by ``archives``.
"""

from __future__ import annotations

import ast
import bz2
import gzip
import io
import lzma
import os
import re
import stat
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from mdreg.errors import InputError
from mdreg.scan.opcodes import Walker, probe
from mdreg.scan.report import PickleReport
from mdreg.scan.stream import OPCODE_BYTES, ByteReader, PickleParseError, ReadStream, Source

HEAD_BYTES = 512

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
NPY_MAGIC = b"\x93NUMPY"
_NPY_HEADER_MAX = 1 << 16
# torch.save(..., _use_new_zipfile_serialization=False): pickle of torch's magic number
# (any pickle protocol: PROTO, a FRAME from protocol 4 on, then LONG1 of the magic number)
TORCH_LEGACY_MAGIC = re.compile(
    rb"\x80[\x02-\x05](?:\x95[\s\S]{8})?\x8a\x0a"
    + re.escape((0x1950A86A20F9469CFC6C).to_bytes(10, "little"))
)
TORCH_LEGACY_STREAMS = 5  # magic, protocol version, sys info, object, storage keys; then raw data

_JOBLIB_ZF_HEADER = 2 + len("0x10000000000000000")  # b"ZF" + hex length (joblib < 0.10)
_PICKLE_SUFFIXES = (".pkl", "_pkl", ".pickle", ".joblib")


def compression_of(head: bytes) -> str | None:
    """The compression joblib.load would detect from these first bytes, if any.

    The checks are joblib's own (``joblib.compressor``, ``numpy_pickle_compat``): a
    stricter check here would let joblib decompress and unpickle a file that this
    calls "not a pickle", past the safety gate.
    """
    if head.startswith(b"ZF") and _zf_length(head):  # joblib < 0.10
        return "compat"
    if len(head) >= 2 and head[0] == 0x78 and (0x7800 | head[1]) % 31 == 0:
        return "zlib"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh"):
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"\x5d\x00"):  # lzma-alone: properties byte, then any dict size
        return "lzma"
    if head.startswith(b"\x04\x22\x4d\x18"):
        return "lz4"
    return None


def _zf_length(head: bytes) -> bool:
    """joblib's compat reader takes any ``int(field, 16)`` as the length field."""
    try:
        int(head[2:_JOBLIB_ZF_HEADER], 16)
    except ValueError:
        return False
    return True


def starts_like_pickle(head: bytes) -> bool:
    """The bytes begin a pickle stream: a PROTO opcode, or protocol 0/1 opcodes that
    parse to STOP or to the end of the head (a head shorter than HEAD_BYTES is
    taken as the whole file)."""
    if not head:
        return False
    if head[0] == 0x80:
        return len(head) < 2 or head[1] <= 5
    return head[0] in OPCODE_BYTES and probe(head, whole=len(head) < HEAD_BYTES)


def is_pickle_like(head: bytes) -> bool:
    """Cheap check on a file's first 512 bytes (fewer: the whole file): could a
    loader unpickle it?

    True for pickles of any protocol, joblib's compressed files (zlib, gzip, bz2,
    lzma, xz, lz4 and the old 'ZF' format) and zip archives (torch.save files).
    Compressed files and zips still need a look inside: see ``read_pickle_globals``.
    """
    if not head or head.startswith(NOT_PICKLE_MAGIC):
        return False
    if head.startswith((*ZIP_MAGIC, NPY_MAGIC)) or compression_of(head):
        return True
    return starts_like_pickle(head)


# Data formats whose first bytes happen to decode as pickle opcodes ('P' is PERSID):
# Parquet, ORC, Avro and Hadoop .crc files, which Spark writes inside every saved model.
NOT_PICKLE_MAGIC = (b"PAR1", b"ORC", b"Obj\x01", b"crc\x00")


def open_regular(path: Path) -> BinaryIO:
    """Open a regular file for reading; anything else is an InputError.

    Opened without blocking, then checked: a FIFO (or a device) named like a model
    file would otherwise hang the scan on its first read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError(f"cannot read {path}: not a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_pickle_globals(
    path: Path, *, max_bytes: int | None = None, max_depth: int | None = None
) -> PickleReport:
    """Walk every pickle stream in ``path`` and list the globals a load would import.

    Never unpickles. ``max_bytes`` bounds the bytes read or decompressed (array
    data that a plain file skips with a seek is not counted); past it the report
    gets an error. A file that is not a pickle gets container "not-pickle" and
    an error saying why. Archives in the file (zips in a zip, tar, 7z, compressed
    ones) are opened ``max_depth`` deep (default ``archive_budget.NEST_DEPTH``) and read
    up to ``max_bytes`` in all (default ``archive_budget.NEST_BYTES``); past either budget,
    or where a member cannot be read, ``incomplete`` says why.
    """
    from mdreg.scan import archives  # the archive modules import this one
    from mdreg.scan.archive_budget import NEST_DEPTH
    from mdreg.scan.archive_members import archive_kind

    path = Path(path)
    depth = NEST_DEPTH if max_depth is None else max_depth
    raw = open_regular(path)
    with raw:
        head = raw.read(HEAD_BYTES)
        raw.seek(0)
        if not head:
            return PickleReport(path, "not-pickle", error="empty file")
        if head.startswith(ZIP_MAGIC):
            return archives.read_zip(path, max_bytes, depth)
        if head.startswith(NPY_MAGIC):
            return _read_npy(path, raw, max_bytes)
        compression = compression_of(head)
        if compression:
            return _read_compressed(path, raw, compression, max_bytes, depth)
        size = os.fstat(raw.fileno()).st_size
        if TORCH_LEGACY_MAGIC.match(head):
            report = PickleReport(path, "torch-legacy")
            # torch's own unpickler: no joblib arrays; raw storages follow the 5th stream
            _walk(
                report,
                Source(raw, size=size, max_bytes=max_bytes),
                "",
                joblib=False,
                max_streams=TORCH_LEGACY_STREAMS,
            )
            return report
        kind = archive_kind(head)
        if kind:  # a tar or 7z file
            return archives.read_archive(path, raw, head, kind, max_bytes, depth)
        if head[0] not in OPCODE_BYTES:
            return PickleReport(
                path,
                "not-pickle",
                error=f"not a pickle: byte 0x{head[0]:02x} at offset 0 is no opcode",
            )
        report = PickleReport(path, "pickle")
        _walk(
            report,
            Source(raw, size=size, max_bytes=max_bytes),
            "",
            joblib=True,
            reopen=lambda: open(path, "rb"),  # noqa: SIM115 - the walker closes it
        )
        return report


def _walk(
    report: PickleReport,
    src: Source,
    where: str,
    *,
    joblib: bool,
    max_streams: int | None = None,
    reopen: Callable[[], BinaryIO] | None = None,
) -> None:
    """Walk ``src`` into ``report``; a parse failure becomes ``report.error``."""
    walker = Walker(src, where=where, found=report.globals, reopen=reopen)
    try:
        walker.walk_all(joblib=joblib, max_streams=max_streams)
    except PickleParseError as exc:
        if report.error is None:
            report.error = f"{where}: {exc}" if where else str(exc)
    except (OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
        # corrupt or truncated compressed data
        if report.error is None:
            report.error = f"{where or 'stream'} is corrupt: {exc}"
    finally:
        report.streams += walker.streams
        if report.protocol is None:
            report.protocol = walker.protocol


class _ZlibReader(ReadStream):
    """Streaming reader of one zlib stream (joblib's BinaryZlibFile format)."""

    def __init__(self, raw: ByteReader) -> None:
        self._raw = raw
        self._z = zlib.decompressobj()
        self._pending = b""

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            n = 1 << 30
        out = []
        got = 0
        while got < n:
            if self._pending:
                data = self._pending
                self._pending = b""
            elif self._z.eof:
                break
            else:
                block = self._raw.read(1 << 16)
                if not block:
                    raise EOFError("compressed stream ended early")
                data = self._z.decompress(block)
                if self._z.unconsumed_tail:
                    raise zlib.error("unexpected unconsumed input")
            part = data[: n - got]
            self._pending = data[n - got :]
            out.append(part)
            got += len(part)
        return b"".join(out)


def _decompressor(raw: ByteReader, compression: str) -> ByteReader:
    if compression == "zlib":
        return _ZlibReader(raw)
    if compression == "compat":
        raw.read(_JOBLIB_ZF_HEADER)
        # python 2 joblib <= 0.8.4 wrote one more (space) byte of header
        if raw.read(1) != b" ":
            raw.seek(-1, io.SEEK_CUR)
        return _ZlibReader(raw)
    if compression == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if compression == "bz2":
        return bz2.BZ2File(raw)
    if compression == "xz":
        return lzma.LZMAFile(raw, format=lzma.FORMAT_XZ)  # type: ignore[arg-type]  # typeshed wants IO[bytes]; lzma reads any object with read()
    if compression == "lzma":
        return lzma.LZMAFile(raw, format=lzma.FORMAT_ALONE)  # type: ignore[arg-type]  # as above
    if compression == "lz4":
        try:
            import lz4.frame  # optional, only for lz4-compressed joblib files
        except ImportError:
            raise OSError("scanning lz4-compressed files needs the 'lz4' package") from None
        return lz4.frame.LZ4FrameFile(raw)
    raise ValueError(compression)


def _read_compressed(
    path: Path, raw: ByteReader, compression: str, max_bytes: int | None, max_depth: int
) -> PickleReport:
    from mdreg.scan import archives  # the archive modules import this one
    from mdreg.scan.archive_members import archive_kind

    container = "joblib-compat" if compression == "compat" else f"joblib+{compression}"
    where = f"{compression} stream"
    try:
        stream = _decompressor(raw, compression)
        head = _read_head(stream)
    except (OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
        return PickleReport(path, container, error=f"{where} is corrupt: {exc}")
    kind = archive_kind(head)
    if kind:  # a .tar.gz, a zip or 7z compressed whole
        return archives.read_archive(
            path, raw, head, kind, max_bytes, max_depth, compression=compression
        )
    if not starts_like_pickle(head):
        return PickleReport(path, "not-pickle", error=f"{where} does not hold a pickle")
    report = PickleReport(path, container)
    # joblib < 0.10 ('ZF') stores arrays in side files: no inline array data
    src = Source(stream, max_bytes=max_bytes, prefix=head)
    _walk(report, src, where, joblib=compression != "compat")
    return report


def _read_head(stream: ByteReader) -> bytes:
    """Up to HEAD_BYTES from a forward-only stream (reads may come back short)."""
    parts = []
    have = 0
    while have < HEAD_BYTES:
        data = stream.read(HEAD_BYTES - have)
        if not data:
            break
        parts.append(data)
        have += len(data)
    return b"".join(parts)


def _npy_object_data(stream: ByteReader) -> tuple[bool, str | None]:
    """Read a .npy header from ``stream``: (the data is a pickle, error)."""
    magic = stream.read(8)
    if len(magic) != 8 or not magic.startswith(NPY_MAGIC):
        return False, "malformed .npy header"
    major = magic[6]
    if major not in (1, 2, 3):
        return False, f"unsupported .npy version {major}"
    size = int.from_bytes(stream.read(2 if major == 1 else 4), "little")
    if size > _NPY_HEADER_MAX:  # numpy.load refuses these too
        return False, "malformed .npy header"
    header = stream.read(size)
    try:
        fields = ast.literal_eval(header.decode("utf-8" if major == 3 else "latin-1"))
        descr = fields["descr"]
    except (ValueError, SyntaxError, KeyError, TypeError, UnicodeDecodeError, MemoryError):
        return False, "malformed .npy header"
    # numpy.load unpickles the data of object arrays (allow_pickle=True)
    return _descr_has_object(descr), None


def _descr_has_object(descr: object) -> bool:
    if isinstance(descr, str):
        return descr.lstrip("<>|=").startswith("O")
    if isinstance(descr, (list, tuple)):
        return any(_descr_has_object(item) for item in descr)
    return False


def _read_npy(path: Path, raw: ByteReader, max_bytes: int | None) -> PickleReport:
    report = PickleReport(path, "npy")
    is_pickle, error = _npy_object_data(raw)
    report.error = error
    if is_pickle:
        src = Source(raw, max_bytes=max_bytes)
        src.offset = raw.tell()
        _walk(report, src, "", joblib=False, max_streams=1)
    return report
