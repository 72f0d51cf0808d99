"""Zip an artifact folder reproducibly (``zip_artifact``).

- Only an artifact: a folder without score.py or runtime.yaml (an empty one too) is
  refused with ArtifactError naming what is missing.
- Which files: those ``mdreg.artifact.shipped`` says ship (``.model-ignore``, the kept
  files, the refused links and special files).
- Reproducible: the same files give the same bytes, whatever their mtimes, owners or
  permissions: entries sorted by path, time 1980-01-01 00:00:00, mode 0644, unix
  create_system, no extra fields but the ZIP64 one a >2 GiB entry needs, deflate level 6.
  (Byte-identical across machines as long as their zlib builds deflate alike.)
- The manifest: when the folder has one, the zip holds ``manifest.zip_manifest`` in its
  place, written last (as ADS writes it): every other file of the zip is listed, as
  ADS's ``safe_extract_zip`` demands, those prepare did not list (the metadata, files
  added since) hashed from the bytes written. A file the manifest lists that is not in
  the folder is refused.
- Secrets: the files going in are looked at as ``prepare`` does (``artifact.secrets``);
  what looks like a key or token is a warning in ``ZipResult.warnings``.
- Stored or deflated: see ``shipped.compression_for``.
- Streamed: each file is read once in 1 MiB chunks; memory stays flat for any size.
- Classic local headers, no data descriptors: Java's ZipInputStream (and other streaming
  readers) refuse a STORED entry whose sizes follow its data, and model files are
  STORED. So zipfile seeks back to patch each local header with the CRC, and the zip's
  own sha256 is computed right behind the writer, entry by entry, from the bytes just
  written (still in the page cache): the input files are read once, the zip's bytes
  are re-read once, and the hash is ready when the zip is.
- Atomic: written to a temp file beside ``dest`` (``.NAME.PID-HEX.partial``: the pid
  lets ``mdreg gc`` tell a live writer from a dead one), fsynced, renamed into place.
- Or streamed: ``plan_zip`` then ``write_zip`` into any ``StreamSink`` (the bucket's
  streamed upload: ``Bucket.put_stream``), the same bytes as ``zip_artifact`` writes,
  since both are this one writer. The sink is told where each entry starts and ends, and
  gets a ``replay`` of the entry's data (the file read, and deflated, again, checked
  against the CRC and sizes written) for when it no longer holds them.

Unzipping safely: ``mdreg.artifact.unzipping``.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, cast

from mdreg._files import CHUNK, ProgressFn, temp_name, unlink_quietly
from mdreg._streams import FileSink, StreamSink
from mdreg.artifact import layout
from mdreg.artifact.ignore import IgnoreRules
from mdreg.artifact.manifest import attested, read_manifest, zip_manifest
from mdreg.artifact.shipped import (
    ALWAYS_KEEP,
    NEVER_SHIP,
    clean_rel,
    compression_for,
    iter_artifact_files,
    keep_set_of,
    resolve_member,
)
from mdreg.errors import ArtifactError, InputError, MdregError

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644
DEFLATE_LEVEL = 6
_UNIX = 3
_ZIP64_FROM = 1 << 31  # well under 4 GiB, so a file that grows while zipped still fits
_SNIFF = 64


@dataclass
class ZipResult:
    path: Path
    size: int
    sha256: str
    files: list[str]
    skipped: list[str]
    warnings: list[str] = field(default_factory=list)


@dataclass
class ZipPlan:
    """What ``write_zip`` writes, decided (and checked) before anything is written."""

    root: Path
    real_root: str
    files: list[str]
    skipped: list[str]
    manifest: _ManifestPlan
    warnings: list[str]
    input_bytes: int  # the files' sizes: what ``progress`` is fed in all


def plan_zip(root: Path) -> ZipPlan:
    """The files of the artifact folder ``root`` that ship, and its manifest's plan;
    ArtifactError when it is not an artifact or its manifest lists missing files."""
    from mdreg.artifact.secrets import shipped_secret_warnings

    root = Path(root)
    if not root.is_dir():
        raise InputError(f"not a folder: {root}")
    manifest = read_manifest(root)
    files, skipped = iter_artifact_files(
        root, IgnoreRules.for_artifact(root), keep_set_of(manifest)
    )
    _check_is_artifact(root, files)
    plan = _ManifestPlan.of(root, manifest, files)
    real_root = os.path.realpath(root)
    warnings = shipped_secret_warnings(root, real_root, files)
    total = 0
    for rel in files:
        try:
            total += os.stat(resolve_member(real_root, rel)).st_size
        except OSError:
            pass  # reported when it is read
    return ZipPlan(root, real_root, files, skipped, plan, warnings, total)


def zip_artifact(root: Path, dest: Path, *, progress: ProgressFn | None = None) -> ZipResult:
    """Zip the artifact folder ``root`` into ``dest`` (replaced atomically if it exists).

    ``progress(n)`` is called with the number of input bytes consumed since its last call.
    """
    root, dest = Path(root), Path(dest)
    if not root.is_dir():
        raise InputError(f"not a folder: {root}")
    _check_zip_dest(root, dest)
    plan = plan_zip(root)
    tmp = _create_temp_file(dest)
    try:
        try:
            sink = FileSink(tmp)
            try:
                write_zip(plan, sink, progress=progress)
                size, digest = sink.finish()
            finally:
                sink.close()
        except OSError as exc:
            raise MdregError(f"cannot write the zip: {exc.strerror or exc}") from exc
        os.replace(tmp, dest)
    except BaseException:
        unlink_quietly(tmp)
        raise
    assert digest is not None  # FileSink hashes by default
    return ZipResult(dest, size, digest, plan.files, plan.skipped, plan.warnings)


def _check_is_artifact(root: Path, files: list[str]) -> None:
    missing = [name for name in ALWAYS_KEEP if name not in files]
    if not missing:
        return
    what = "it is empty" if not files else f"it has no {' and no '.join(missing)}"
    raise ArtifactError(
        f"{root} is not a model artifact: {what} (write one with "
        "`mdreg prepare MODEL`, or add the missing files)"
    )


@dataclass
class _ManifestPlan:
    """What the zip's manifest member needs: the folder's manifest (its attested entries
    under the names they are zipped as) and the files to hash while they are written."""

    manifest: dict[str, Any] | None
    to_hash: frozenset[str]

    @classmethod
    def of(cls, root: Path, manifest: dict[str, Any] | None, files: list[str]) -> _ManifestPlan:
        if manifest is None:
            return cls(None, frozenset())
        listed = {
            clean_rel(str(rel)): entry
            for rel, entry in attested(manifest).items()
            if clean_rel(str(rel)).rsplit("/", 1)[-1] not in NEVER_SHIP
        }
        shipped = set(files)
        absent = sorted(rel for rel in listed if rel not in shipped)
        if absent:
            shown = ", ".join(absent[:5]) + (
                f" and {len(absent) - 5} more" if len(absent) > 5 else ""
            )
            raise ArtifactError(
                f"{root}: the manifest lists {shown}, not in the folder: restore "
                "the files or prepare the artifact again"
            )
        to_hash = frozenset(shipped - set(listed) - {layout.MANIFEST})
        return cls({**manifest, "files": listed}, to_hash)


def _check_zip_dest(root: Path, dest: Path) -> None:
    real_root = os.path.realpath(root)
    real_dest = os.path.realpath(dest)
    if os.path.commonpath([real_root, real_dest]) == real_root:
        raise ArtifactError(
            f"the zip {dest} would be inside the artifact folder {root}: write it elsewhere"
        )
    if dest.is_dir():
        raise InputError(f"{dest} is a folder: give the path of the zip file to write")
    if not dest.parent.is_dir():
        raise InputError(f"folder {dest.parent} does not exist")


def _create_temp_file(dest: Path) -> Path:
    # O_EXCL with mode 0666 lets the umask decide the final permissions, as for any new file
    tmp = temp_name(dest)
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        os.close(os.open(tmp, flags, 0o666))
    except OSError as exc:
        raise MdregError(f"cannot write in {dest.parent}: {exc.strerror or exc}") from exc
    return tmp


def write_zip(plan: ZipPlan, sink: StreamSink, *, progress: ProgressFn | None = None) -> None:
    """Write the zip ``plan`` describes into ``sink`` (see the module docstring)."""
    # zipfile takes any seekable binary file; its stubs know only IO[bytes]
    zf = zipfile.ZipFile(cast(Any, sink), "w", allowZip64=True)
    try:
        _write_entries(zf, plan, sink, progress)
    except BaseException:
        # The zip is thrown away: no central directory. Closing would write one, and
        # zipfile refuses to while an entry is marked open, which it is when an
        # interrupt (SIGTERM, Ctrl-C) lands between marking it and handing it over:
        # that ValueError would replace the interrupt. Without its file, close() (here or
        # in __del__) does nothing.
        zf.fp = None
        raise
    zf.close()


def _write_entries(
    zf: zipfile.ZipFile, plan: ZipPlan, sink: StreamSink, progress: ProgressFn | None
) -> None:
    buf = bytearray(CHUNK)
    hashed: dict[str, tuple[str, int]] = {}
    manifest = plan.manifest
    for rel in plan.files:
        if manifest.manifest is not None and rel == layout.MANIFEST:
            continue  # its zip version goes last
        sha = hashlib.sha256() if rel in manifest.to_hash else None
        sink.begin_entry()
        zinfo = _add_file(zf, plan.real_root, rel, buf, progress, sha)
        sink.end_entry(partial(_replay_file, plan.real_root, rel, zinfo))
        if sha is not None:
            hashed[rel] = (sha.hexdigest(), zinfo.file_size)
    if manifest.manifest is not None:
        data = zip_manifest(manifest.manifest, hashed)
        sink.begin_entry()
        zf.writestr(_zip_info(layout.MANIFEST, zipfile.ZIP_DEFLATED, len(data)), data)
        sink.end_entry(partial(_replay_bytes, data))
        if progress is not None:
            progress(len(data))


def _replay_file(real_root: str, rel: str, zinfo: zipfile.ZipInfo) -> Iterator[bytes | memoryview]:
    """The data bytes of ``rel``'s entry as ``_add_file`` wrote them: the file read again
    in the same pieces, deflated again the same way (zlib's output depends only on the
    input and the level); ArtifactError if the file no longer matches the entry. A chunk
    is valid until the next one is asked for."""
    deflate = zinfo.compress_type == zipfile.ZIP_DEFLATED
    comp = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, -15) if deflate else None
    crc, size = 0, 0
    view = memoryview(bytearray(CHUNK))
    try:
        with open(resolve_member(real_root, rel), "rb", buffering=0) as src:
            pieces = [src.read(_SNIFF) or b""]
            while pieces:
                piece = pieces.pop()
                crc, size = zlib.crc32(piece, crc), size + len(piece)
                out = comp.compress(piece) if comp is not None else piece
                if out:
                    yield out
                if size < zinfo.file_size:
                    n = src.readinto(view[: min(CHUNK, zinfo.file_size - size)]) or 0
                    if n:
                        pieces.append(view[:n])
    except OSError as exc:
        raise ArtifactError(f"cannot read {rel} again: {exc.strerror or exc}") from exc
    if comp is not None:
        yield comp.flush()
    if crc != zinfo.CRC or size != zinfo.file_size:
        raise ArtifactError(f"{rel} changed while it was being zipped: try again")


def _replay_bytes(data: bytes) -> Iterator[bytes]:
    """The data bytes of an entry ``writestr`` deflated from ``data``."""
    comp = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, -15)
    yield comp.compress(data) + comp.flush()


def _add_file(
    zf: zipfile.ZipFile,
    real_root: str,
    rel: str,
    buf: bytearray,
    progress: ProgressFn | None,
    sha: Any = None,
) -> zipfile.ZipInfo:
    """Stream one file into the zip (feeding ``sha`` when given); its entry, closed (the
    CRC and sizes filled in)."""
    real = resolve_member(real_root, rel)
    try:
        # O_NONBLOCK: if the file was swapped for a FIFO since the walk, open must not hang
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise ArtifactError(f"cannot read {rel}: {exc.strerror or exc}") from exc
    with open(fd, "rb", buffering=0) as src:
        st = os.fstat(src.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ArtifactError(f"{rel} is not a regular file (FIFO, socket or device): remove it")
        head = _read(src, rel, _SNIFF)
        zinfo = _zip_info(rel, compression_for(rel, head, st.st_size), st.st_size)
        view = memoryview(buf)
        with zf.open(zinfo, "w", force_zip64=st.st_size >= _ZIP64_FROM) as sink:
            sink.write(head)
            if sha is not None:
                sha.update(head)
            copied = len(head)
            if progress is not None and head:
                progress(len(head))
            # read no more than the size seen at open: a file still being appended to
            # (a live log) must not keep the zip growing forever
            while copied < st.st_size:
                n = _readinto(src, view[: min(CHUNK, st.st_size - copied)], rel)
                if not n:
                    break
                sink.write(view[:n])
                if sha is not None:
                    sha.update(view[:n])
                copied += n
                if progress is not None:
                    progress(n)
        grew = bool(_read(src, rel, 1))
    if copied != st.st_size or grew:
        raise ArtifactError(f"{rel} changed while it was being zipped: try again")
    return zinfo


def _read(src: BinaryIO, rel: str, size: int) -> bytes:
    try:
        return src.read(size) or b""
    except OSError as exc:
        raise ArtifactError(f"cannot read {rel}: {exc.strerror or exc}") from exc


def _readinto(src: io.FileIO, view: memoryview, rel: str) -> int:
    try:
        return src.readinto(view) or 0
    except OSError as exc:
        raise ArtifactError(f"cannot read {rel}: {exc.strerror or exc}") from exc


def _zip_info(rel: str, compress_type: int, size: int) -> zipfile.ZipInfo:
    zinfo = zipfile.ZipInfo(rel, date_time=ZIP_EPOCH)
    zinfo.create_system = _UNIX
    zinfo.external_attr = (stat.S_IFREG | FILE_MODE) << 16
    zinfo.compress_type = compress_type
    zinfo.file_size = size
    # Python 3.13 renamed the private attribute; set whichever this zipfile reads
    if hasattr(zipfile.ZipInfo, "compress_level"):
        zinfo.compress_level = DEFLATE_LEVEL  # type: ignore[attr-defined]  # 3.13+, not in 3.11 stubs
    else:
        zinfo._compresslevel = DEFLATE_LEVEL  # type: ignore[attr-defined]  # private, not in stubs
    return zinfo
