"""Zip an artifact folder reproducibly, and unzip artifact zips safely.

Zipping (``zip_artifact``):

- Only an artifact: a folder without score.py or runtime.yaml (an empty one too) is
  refused with ArtifactError naming what is missing.
- Which files: everything under the folder except what ``.model-ignore`` leaves out
  (default rules when the file is absent); score.py, runtime.yaml, the manifest and
  every file it lists are kept even when a pattern matches them;
  ``test_json_output.json`` is never shipped, at any depth. Empty folders are not stored.
- Symlinks: a link that is ignored is skipped without being followed. A link to a file
  inside the folder is stored as that file's content (the service unpacks no links). A
  link that leaves the folder, a dangling link, a link to a folder, and anything that is
  not a regular file (FIFO, socket, device) are refused with ArtifactError.
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
- Stored or deflated: see ``compression_for``.
- Streamed: each file is read once in 1 MiB chunks; memory stays flat for any size.
- Classic local headers, no data descriptors: Java's ZipInputStream (and other streaming
  readers) refuse a STORED entry whose sizes follow its data, and model files are
  STORED. So zipfile seeks back to patch each local header with the CRC, and the zip's
  own sha256 is computed right behind the writer, entry by entry, from the bytes just
  written (still in the page cache): the input files are read once, the zip's bytes
  are re-read once, and the hash is ready when the zip is.
- Atomic: written to a temp file beside ``dest`` (``.NAME.PID-HEX.partial``: the pid
  lets ``mdreg gc`` tell a live writer from a dead one), fsynced, renamed into place.

Unzipping (``safe_extract``) checks every central-directory entry before it writes
anything, then counts the bytes actually inflated, so a zip that lies in its headers
cannot get past the limits either.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import stat
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from mdreg._files import CHUNK, ProgressFn, temp_name, unlink_quietly
from mdreg.artifact import layout
from mdreg.artifact.ignore import IgnoreRules
from mdreg.artifact.manifest import attested, read_manifest, zip_manifest
from mdreg.errors import ArtifactError, DestinationExistsError, InputError, MdregError

ALWAYS_KEEP = (layout.SCORE_PY, layout.RUNTIME_YAML)
NEVER_SHIP = frozenset({layout.ADS_TEST_RESULTS})

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


@dataclass(frozen=True)
class ExtractLimits:
    max_total_bytes: int = 20 * 2**30
    max_ratio: float = 200.0
    max_files: int = 100_000


# ---------------------------------------------------------------------------------------
# Which files


def keep_set(root: Path) -> set[str]:
    """Paths kept whatever .model-ignore says: score.py, runtime.yaml, the manifest, its files."""
    return _keep_set(read_manifest(Path(root)))


def _keep_set(manifest: dict[str, Any] | None) -> set[str]:
    keep = set(ALWAYS_KEEP)
    if manifest is not None:
        keep.add(layout.MANIFEST)
        keep.update(_clean_rel(str(name)) for name in attested(manifest))
    return keep


def iter_artifact_files(
    root: Path, rules: IgnoreRules, keep: set[str]
) -> tuple[list[str], list[str]]:
    """(included, skipped) relative posix paths under ``root``, both sorted.

    Ignored folders are pruned and reported once as ``"folder/"`` unless a kept path lies
    below them. Raises ArtifactError for a link leaving the folder, a dangling link, a
    link to a folder, or a special file, among the files that would be included.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"not a folder: {root}")
    walk = _Walk(os.path.realpath(root), rules, keep)
    walk.visit("")
    return sorted(walk.included), sorted(walk.skipped)


class _Walk:
    def __init__(self, real_root: str, rules: IgnoreRules, keep: set[str]) -> None:
        self.real_root = real_root
        self.rules = rules
        self.keep = keep
        self.keep_dirs = {p.rsplit("/", i)[0] for p in keep for i in range(1, p.count("/") + 1)}
        self.included: list[str] = []
        self.skipped: list[str] = []

    def visit(self, rel_dir: str) -> None:
        with os.scandir(os.path.join(self.real_root, rel_dir)) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            self._visit_entry(entry, rel)

    def _visit_entry(self, entry: os.DirEntry[str], rel: str) -> None:
        is_link = entry.is_symlink()
        is_dir = entry.is_dir(follow_symlinks=True)  # a stat, not a read: safe for any link
        ignored = self.rules.is_ignored(rel, is_dir) and rel not in self.keep
        if is_dir:
            if ignored and rel not in self.keep_dirs:
                self.skipped.append(rel + "/")
            elif is_link:
                raise ArtifactError(
                    f"{rel} is a symlink to a folder: copy the folder into the artifact "
                    "or add the link to .model-ignore"
                )
            else:
                self.visit(rel)
        elif ignored or entry.name in NEVER_SHIP:
            self.skipped.append(rel)
        else:
            real = _resolve_member(self.real_root, rel)
            if is_link:
                self._check_link_target(rel, real)
            self.included.append(rel)

    def _check_link_target(self, rel: str, real: str) -> None:
        # a link must not smuggle in a file the rules leave out, such as .env or a key
        target = os.path.relpath(real, self.real_root).replace(os.sep, "/")
        if self.rules.is_ignored(target) and target not in self.keep:
            raise ArtifactError(
                f"{rel} is a symlink to {target}, which .model-ignore leaves out: refused"
            )


def _resolve_member(real_root: str, rel: str) -> str:
    """Real path of the regular file ``rel``, refusing links out of the artifact folder."""
    path = os.path.join(real_root, *rel.split("/"))
    real = os.path.realpath(path)
    if real != path:  # a link, somewhere on the way
        if not os.path.exists(real):
            raise ArtifactError(f"{rel} is a broken symlink")
        if os.path.commonpath([real_root, real]) != real_root:
            raise ArtifactError(
                f"{rel} is a symlink to {real}, outside the artifact folder: "
                "copy the file into the artifact or add the link to .model-ignore"
            )
    try:
        mode = os.stat(real).st_mode
    except OSError as exc:
        raise ArtifactError(f"cannot read {rel}: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(mode):
        raise ArtifactError(f"{rel} is not a regular file (FIFO, socket or device): remove it")
    return real


def _clean_rel(name: str) -> str:
    rel = name.replace("\\", "/")
    while rel.startswith("./"):
        rel = rel[2:]
    return rel.strip("/")


# ---------------------------------------------------------------------------------------
# Stored or deflated

_STORED_SUFFIXES = frozenset({
    # zip containers and compressed streams
    ".zip", ".keras", ".pt", ".pth", ".pt2", ".gz", ".tgz", ".bz2", ".xz", ".lzma",
    ".zst", ".lz4", ".7z", ".jar", ".whl",
    # float weights and columnar data barely deflate, and deflating them is slow
    ".h5", ".hdf5", ".npy", ".npz", ".safetensors", ".bin", ".ubj", ".onnx", ".tflite",
    ".parquet", ".orc", ".avro", ".arrow", ".feather", ".ckpt", ".gguf",
    # media
    ".png", ".jpg", ".jpeg", ".gif", ".webp", ".mp3", ".mp4",
})
_DEFLATED_SUFFIXES = frozenset({
    ".py", ".json", ".yaml", ".yml", ".txt", ".csv", ".tsv", ".md", ".rst", ".cfg",
    ".ini", ".toml", ".xml", ".html", ".pbtxt", ".ipynb", ".sql", ".r", ".sh",
    ".pkl", ".pickle", ".joblib", ".sav", ".model", ".pb", ".index", ".proto",
})
_COMPRESSED_MAGIC = (
    b"PK\x03\x04",  # zip (torch .pt, .keras, .pt2)
    b"\x1f\x8b",  # gzip (joblib compress=gzip)
    b"BZh",  # bzip2
    b"\xfd7zXZ\x00",  # xz / lzma joblib
    b"\x28\xb5\x2f\xfd",  # zstd
    b"\x04\x22\x4d\x18",  # lz4 frame
    b"\x89HDF\r\n\x1a\n",  # HDF5 (Keras .h5)
    b"\x93NUMPY",  # .npy
    b"PAR1",  # parquet
    b"\x89PNG",
    b"\xff\xd8\xff",  # jpeg
)
_BINARY_STORE_FROM = 1 << 20


def compression_for(name: str, head: bytes, size: int) -> int:
    """ZIP_STORED or ZIP_DEFLATED for a file, from its name, first bytes and size.

    In order: empty -> stored; content that is already compressed (zip, gzip, bzip2, xz,
    zstd, lz4, zlib streams) or HDF5/npy/parquet by magic bytes -> stored; a known binary
    suffix (.keras .pt .pth .pt2 .h5 .npy .safetensors .bin .ubj .onnx ...) -> stored; a
    known text or pickle suffix (.py .json .yaml .txt .csv .md .pkl .joblib ...) ->
    deflated (LightGBM .txt and XGBoost .json shrink 3-5x, pickled trees 2-4x);
    anything else -> stored when it is binary (a NUL in its first bytes) and over
    1 MiB, otherwise deflated.
    """
    if size == 0:
        return zipfile.ZIP_STORED
    if head.startswith(_COMPRESSED_MAGIC) or _is_zlib_stream(head):
        return zipfile.ZIP_STORED
    suffix = os.path.splitext(name)[1].lower()
    if suffix in _STORED_SUFFIXES:
        return zipfile.ZIP_STORED
    if suffix in _DEFLATED_SUFFIXES:
        return zipfile.ZIP_DEFLATED
    if b"\x00" in head and size >= _BINARY_STORE_FROM:
        return zipfile.ZIP_STORED
    return zipfile.ZIP_DEFLATED


def _is_zlib_stream(head: bytes) -> bool:
    # joblib's compress=zlib writes a bare zlib stream: CMF=0x78 and a valid header checksum
    return len(head) >= 2 and head[0] == 0x78 and (head[0] << 8 | head[1]) % 31 == 0


# ---------------------------------------------------------------------------------------
# Zipping


def zip_artifact(root: Path, dest: Path, *, progress: ProgressFn | None = None) -> ZipResult:
    """Zip the artifact folder ``root`` into ``dest`` (replaced atomically if it exists).

    ``progress(n)`` is called with the number of input bytes consumed since its last call.
    """
    from mdreg.artifact.secrets import shipped_secret_warnings  # noqa: PLC0415

    root, dest = Path(root), Path(dest)
    if not root.is_dir():
        raise InputError(f"not a folder: {root}")
    _check_zip_dest(root, dest)
    manifest = read_manifest(root)
    files, skipped = iter_artifact_files(root, IgnoreRules.for_artifact(root), _keep_set(manifest))
    _check_is_artifact(root, files)
    plan = _ManifestPlan.of(root, manifest, files)
    real_root = os.path.realpath(root)
    warnings = shipped_secret_warnings(root, real_root, files)
    tmp = _create_temp_file(dest)
    try:
        size, digest = _write_zip(tmp, real_root, files, progress, plan)
        os.replace(tmp, dest)
    except BaseException:
        unlink_quietly(tmp)
        raise
    return ZipResult(dest, size, digest, files, skipped, warnings)


def _check_is_artifact(root: Path, files: list[str]) -> None:
    missing = [name for name in ALWAYS_KEEP if name not in files]
    if not missing:
        return
    what = "it is empty" if not files else f"it has no {' and no '.join(missing)}"
    raise ArtifactError(f"{root} is not a model artifact: {what} (write one with "
                        "`mdreg prepare MODEL`, or add the missing files)")


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
        listed = {_clean_rel(str(rel)): entry for rel, entry in attested(manifest).items()
                  if _clean_rel(str(rel)).rsplit("/", 1)[-1] not in NEVER_SHIP}
        shipped = set(files)
        absent = sorted(rel for rel in listed if rel not in shipped)
        if absent:
            shown = ", ".join(absent[:5]) + (f" and {len(absent) - 5} more" if len(absent) > 5 else "")
            raise ArtifactError(f"{root}: the manifest lists {shown}, not in the folder: restore "
                                "the files or prepare the artifact again")
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


def _write_zip(
    tmp: Path, real_root: str, files: list[str], progress: ProgressFn | None, plan: _ManifestPlan
) -> tuple[int, str]:
    buf = bytearray(CHUNK)
    hashed: dict[str, tuple[str, int]] = {}
    try:
        with open(tmp, "r+b") as out, open(tmp, "rb", buffering=0) as back:
            trail = _TrailingHash(back)
            with zipfile.ZipFile(out, "w", allowZip64=True) as zf:
                for rel in files:
                    if plan.manifest is not None and rel == layout.MANIFEST:
                        continue  # its zip version goes last
                    sha = hashlib.sha256() if rel in plan.to_hash else None
                    size = _add_file(zf, real_root, rel, buf, progress, sha)
                    if sha is not None:
                        hashed[rel] = (sha.hexdigest(), size)
                    out.flush()
                    trail.catch_up(out.tell())
                if plan.manifest is not None:
                    data = zip_manifest(plan.manifest, hashed)
                    zf.writestr(_zip_info(layout.MANIFEST, zipfile.ZIP_DEFLATED, len(data)), data)
                    if progress is not None:
                        progress(len(data))
                    out.flush()
                    trail.catch_up(out.tell())
            out.flush()
            os.fsync(out.fileno())
            size = out.seek(0, os.SEEK_END)
            trail.catch_up(size)
    except OSError as exc:
        raise MdregError(f"cannot write the zip: {exc.strerror or exc}") from exc
    return size, trail.hexdigest()


def _add_file(
    zf: zipfile.ZipFile, real_root: str, rel: str, buf: bytearray, progress: ProgressFn | None,
    sha: Any = None,
) -> int:
    """Stream one file into the zip (feeding ``sha`` when given); the bytes written."""
    real = _resolve_member(real_root, rel)
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
    return copied


def _read(src: BinaryIO, rel: str, size: int) -> bytes:
    try:
        return src.read(size) or b""
    except OSError as exc:
        raise ArtifactError(f"cannot read {rel}: {exc.strerror or exc}") from exc


def _readinto(src: BinaryIO, view: memoryview, rel: str) -> int:
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
        zinfo.compress_level = DEFLATE_LEVEL
    else:
        zinfo._compresslevel = DEFLATE_LEVEL
    return zinfo


class _TrailingHash:
    """sha256 of the zip, fed with bytes once zipfile will no longer rewrite them."""

    def __init__(self, reader: BinaryIO) -> None:
        self._reader = reader
        self._sha = hashlib.sha256()
        self._done = 0
        self._buf = memoryview(bytearray(CHUNK))

    def catch_up(self, end: int) -> None:
        self._reader.seek(self._done)
        while self._done < end:
            n = self._reader.readinto(self._buf[: min(CHUNK, end - self._done)])
            if not n:
                raise MdregError("the zip being written was truncated")
            self._sha.update(self._buf[:n])
            self._done += n

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


# ---------------------------------------------------------------------------------------
# Unzipping

_RATIO_FROM = 1 << 20  # smaller entries cannot hurt, and short text often deflates >200x
_DRIVE = re.compile(r"^[A-Za-z]:")


def artifact_root_in_zip(names: Iterable[str]) -> str:
    """``""`` or ``"folder/"``: where score.py / runtime.yaml sit in a zip (depth 0 or 1).

    Top level wins; ``""`` also when neither file is present (checks report that later).
    """
    names = [_clean_rel(n) for n in names]
    markers = set(ALWAYS_KEEP)
    if any(n in markers for n in names):
        return ""
    folders = sorted({n.split("/")[0] + "/" for n in names
                      if n.count("/") == 1 and n.split("/")[1] in markers})
    if len(folders) > 1:
        raise ArtifactError(
            f"score.py or runtime.yaml found in several folders of the zip: {', '.join(folders)}"
        )
    return folders[0] if folders else ""


@dataclass
class _Member:
    info: zipfile.ZipInfo
    rel: str  # where it lands under dest
    is_dir: bool


def safe_extract(zip_path: Path, dest: Path, limits: ExtractLimits = ExtractLimits()) -> Path:
    """Unzip an artifact into the new folder ``dest``; return the folder holding score.py.

    When every entry sits in the one folder that holds score.py/runtime.yaml, that folder
    is flattened into ``dest`` and ``dest`` is returned; when score.py sits one folder deep
    beside other top-level entries, everything is extracted as is and ``dest/folder`` is
    returned. ``dest`` must not exist or be an empty folder; on any failure it is left as
    it was. Entry modes are not restored: files get the umask's default permissions.
    """
    zip_path, dest = Path(zip_path), Path(dest)
    _check_extract_dest(dest)
    try:
        zf = zipfile.ZipFile(zip_path)
    except FileNotFoundError as exc:
        raise InputError(f"no such file: {zip_path}") from exc
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ArtifactError(f"{zip_path} is not a readable zip file ({exc})") from exc
    with zf:
        members, subdir = _plan(zf, limits, zip_path)
        tmp = _create_temp_dir(dest)
        try:
            _extract(zf, members, tmp, limits, zip_path)
            if dest.is_dir():
                dest.rmdir()  # the empty folder _check_extract_dest accepted
            os.replace(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return dest / subdir if subdir else dest


@contextlib.contextmanager
def extracted(zip_path: Path, purpose: str) -> Iterator[Path]:
    """The artifact in ``zip_path`` unzipped (``safe_extract``) into a temporary folder,
    removed afterwards: checking or running a zip needs its files, never a change to it."""
    import tempfile  # noqa: PLC0415

    if not zipfile.is_zipfile(zip_path):
        raise InputError(f"{zip_path}: neither a folder nor a zip file")
    tmp = Path(tempfile.mkdtemp(prefix=f"mdreg-{purpose}-"))
    try:
        yield safe_extract(zip_path, tmp / "artifact")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _create_temp_dir(dest: Path) -> Path:
    # os.mkdir, not mkdtemp: the umask, not 0700, decides the final folder's permissions
    tmp = temp_name(dest)
    try:
        os.mkdir(tmp)
    except OSError as exc:
        raise MdregError(f"cannot write in {dest.parent}: {exc.strerror or exc}") from exc
    return tmp


def _check_extract_dest(dest: Path) -> None:
    if dest.is_dir():
        if any(dest.iterdir()):
            raise DestinationExistsError(f"{dest} is not empty")
    elif dest.exists() or dest.is_symlink():
        raise DestinationExistsError(f"{dest} exists and is not a folder")
    if not dest.parent.is_dir():
        raise InputError(f"folder {dest.parent} does not exist")


def _plan(
    zf: zipfile.ZipFile, limits: ExtractLimits, zip_path: Path
) -> tuple[list[_Member], str]:
    """Check every entry from the central directory; return what to write where."""
    infos = zf.infolist()
    if len(infos) > limits.max_files:
        raise ArtifactError(
            f"{zip_path} has {len(infos)} entries, over the limit of {limits.max_files}"
        )
    members: list[_Member] = []
    total = 0
    for info in infos:
        rel, is_dir = _safe_name(info.orig_filename, zip_path)
        _check_entry(info, is_dir, limits, zip_path)
        if not is_dir:
            total += info.file_size
            if total > limits.max_total_bytes:
                raise ArtifactError(
                    f"{zip_path} unpacks to more than {limits.max_total_bytes} bytes: refused"
                )
        if rel:
            members.append(_Member(info, rel, is_dir))
    _check_collisions(members, zip_path)
    return _flatten(members)


def _safe_name(raw: str, zip_path: Path) -> tuple[str, bool]:
    def bad(why: str) -> ArtifactError:
        return ArtifactError(f"{zip_path}: entry {raw!r} {why}: refused")

    if "\x00" in raw:
        raise bad("has a NUL character")
    if "\\" in raw:
        raise bad("has a backslash")
    if raw.startswith("/"):
        raise bad("is an absolute path")
    if _DRIVE.match(raw):
        raise bad("starts with a drive letter")
    is_dir = raw.endswith("/")
    parts = raw.rstrip("/").split("/") if is_dir else raw.split("/")
    if ".." in parts:
        raise bad("climbs out of the folder with '..'")
    if "" in parts:
        raise bad("has an empty path component")
    rel = "/".join(p for p in parts if p not in (".", ""))
    if not rel and not is_dir:
        raise bad("has no file name")
    return rel, is_dir


def _check_entry(
    info: zipfile.ZipInfo, is_dir: bool, limits: ExtractLimits, zip_path: Path
) -> None:
    name = info.orig_filename
    if stat.S_ISLNK(info.external_attr >> 16):
        raise ArtifactError(f"{zip_path}: entry {name!r} is a symlink: refused")
    if info.flag_bits & 0x1:
        raise ArtifactError(f"{zip_path}: entry {name!r} is encrypted: refused")
    if is_dir:
        return
    if info.file_size > limits.max_total_bytes:
        raise ArtifactError(
            f"{zip_path}: entry {name!r} declares {info.file_size} bytes, "
            f"over the limit of {limits.max_total_bytes}: refused"
        )
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > _RATIO_FROM and ratio > limits.max_ratio:
        raise ArtifactError(
            f"{zip_path}: entry {name!r} expands {ratio:.0f} "
            f"times, over the limit of {limits.max_ratio:g} (a zip bomb?): refused"
        )


def _check_collisions(members: list[_Member], zip_path: Path) -> None:
    seen: set[str] = set()
    files: set[str] = set()
    for m in members:
        if m.rel in seen and not (m.is_dir and m.rel not in files):
            raise ArtifactError(f"{zip_path}: entry {m.rel!r} appears twice: refused")
        seen.add(m.rel)
        if not m.is_dir:
            files.add(m.rel)
    for f in files:
        parent = f.rpartition("/")[0]
        while parent:
            if parent in files:
                raise ArtifactError(f"{zip_path}: {parent!r} is both a file and a folder: refused")
            parent = parent.rpartition("/")[0]


def _flatten(members: list[_Member]) -> tuple[list[_Member], str]:
    root = artifact_root_in_zip(m.rel + "/" if m.is_dir else m.rel for m in members)
    if not root:
        return members, ""
    prefix = root
    if not all(m.rel.startswith(prefix) or m.rel + "/" == prefix for m in members):
        return members, root.rstrip("/")
    flat = [_Member(m.info, m.rel[len(prefix):], m.is_dir)
            for m in members if m.rel + "/" != prefix]
    return flat, ""


def _extract(
    zf: zipfile.ZipFile, members: list[_Member], tmp: Path, limits: ExtractLimits, zip_path: Path
) -> None:
    total = 0
    for m in members:
        target = tmp.joinpath(*m.rel.split("/"))
        try:
            if m.is_dir:
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            total += _extract_file(zf, m.info, target, total, limits, zip_path)
        except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
            raise ArtifactError(f"{zip_path}: entry {m.info.orig_filename!r} collides with "
                                f"another entry ({exc.strerror}): refused") from exc
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
            raise ArtifactError(
                f"{zip_path}: entry {m.info.orig_filename!r} is corrupt ({exc})"
            ) from exc
        except OSError as exc:
            raise MdregError(f"cannot extract into {tmp.parent}: {exc.strerror or exc}") from exc


def _extract_file(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, total_before: int,
    limits: ExtractLimits, zip_path: Path,
) -> int:
    written = 0
    # "xb": on a case-insensitive disk two entries differing in case must not overwrite
    with zf.open(info) as src, open(target, "xb") as out:
        while chunk := src.read(CHUNK):
            written += len(chunk)
            if written > info.file_size:
                raise ArtifactError(
                    f"{zip_path}: entry {info.orig_filename!r} holds more than the "
                    f"{info.file_size} bytes its header declares: refused"
                )
            if total_before + written > limits.max_total_bytes:
                raise ArtifactError(
                    f"{zip_path} unpacks to more than {limits.max_total_bytes} bytes: refused"
                )
            out.write(chunk)
    if written != info.file_size:
        raise ArtifactError(
            f"{zip_path}: entry {info.orig_filename!r} holds {written} bytes, "
            f"not the {info.file_size} its header declares: refused"
        )
    return written
