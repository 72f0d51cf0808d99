"""Archives in model files: zip members (zips in zips), tar, 7z, and gzip, bz2 or xz
wrapped around any of them or around a pickle.

This module reads whole files (``read_zip``, ``read_archive``); their members, nested
archives included, are read by ``archive_members`` within the budgets of
``archive_budget``. Members are read as streams, never extracted to disk. Two budgets
bound the work on one file: how deep archives nest (``NEST_DEPTH``) and how many bytes
are read out of nested archives and compression layers (``NEST_BYTES``, or the caller's
``max_bytes``). What cannot be read fully (a budget ran out, an encrypted member, an
unknown compression, a corrupt archive, 7z without py7zr) sets
``PickleReport.incomplete``: the scanner calls such a file "unknown", never safe. A
pickle inside that does not parse is an error as anywhere else (dangerous).

Importing this module imports only the standard library (py7zr is imported when a 7z
archive is met).
"""

from __future__ import annotations

import io
import lzma
import zipfile
import zlib
from functools import partial
from pathlib import Path

from mdreg.scan.archive_budget import UNREADABLE, Budget, CountedStream
from mdreg.scan.archive_members import (
    WRAPPERS,
    archive_kind,
    open_archive,
    read_zip_entry,
    zip_kind,
)
from mdreg.scan.containers import (
    _PICKLE_SUFFIXES,
    HEAD_BYTES,
    NPY_MAGIC,
    _decompressor,
    _npy_object_data,
    _read_head,
    _walk,
    compression_of,
    starts_like_pickle,
)
from mdreg.scan.report import PickleReport
from mdreg.scan.stream import OPCODE_BYTES, ByteReader, Source


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
        nest = Budget(report, max_bytes, max_depth)
        budget = max_bytes
        torch_kind = kind in ("torch-zip", "torchscript-zip")
        for info in infos:
            name = info.filename
            if info.is_dir() or (torch_kind and not name.endswith(_PICKLE_SUFFIXES)):
                continue  # storages and code: torch never unpickles them
            try:
                with zf.open(info) as member:
                    head = member.read(HEAD_BYTES)
            except UNREADABLE as exc:
                if name.endswith(_PICKLE_SUFFIXES):
                    if report.error is None:
                        report.error = f"{name}: cannot be read: {exc}"
                else:
                    nest.note(name, f"cannot be read: {exc}")
                continue
            if not torch_kind and archive_kind(head):
                if nest.left >= 0:  # once the size budget is spent, only pickles are walked
                    nest.run(name, partial(read_zip_entry, nest, zf, info, info.filename, 0))
                continue
            budget = _zip_member(report, nest, zf, info, head, budget, torch_kind=torch_kind)
        return report


def _zip_member(
    report: PickleReport,
    nest: Budget,
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
                elif compression in WRAPPERS:
                    nest.note(name, f"cannot be read: {exc}")
                return budget  # else: text that starts like a zlib or lzma header
            kind = archive_kind(prefix)
            if compression in WRAPPERS and kind:  # a .tar.gz member, say
                if nest.left >= 0 and nest.allows(1, name):
                    inner = CountedStream(stream, nest, prefix)
                    nest.run(name, lambda: open_archive(nest, kind, inner, name, 1, seekable=False))
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
    nest = Budget(report, max_bytes, max_depth)
    if kind == "tar" and head[0] in OPCODE_BYTES:
        raw.seek(0)
        _tar_header(report, raw, head, max_bytes, compression)
    raw.seek(0)
    if compression is None:
        stream = CountedStream(raw, nest)  # a plain file: tarfile and py7zr seek in it
        nest.run("", lambda: open_archive(nest, kind, stream, "", 0, seekable=True))
        return report

    def read() -> None:
        inner = CountedStream(_decompressor(raw, compression), nest)
        open_archive(nest, kind, inner, "", 0, seekable=False)

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
