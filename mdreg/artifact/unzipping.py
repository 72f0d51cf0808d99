"""Unzip artifact zips safely (``safe_extract``, ``extracted``), and find where the
artifact sits in a zip (``artifact_root_in_zip``).

``safe_extract`` checks every central-directory entry before it writes anything (names
that climb out, absolute or drive-letter paths, links, encrypted entries, collisions,
sizes and compression ratios against ``ExtractLimits``), then counts the bytes actually
inflated, so a zip that lies in its headers cannot get past the limits either. It
unpacks into a temp folder beside the destination (``.NAME.PID-HEX.partial``) renamed
into place only when complete.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mdreg._files import CHUNK, temp_name
from mdreg.artifact.shipped import ALWAYS_KEEP, clean_rel
from mdreg.errors import ArtifactError, DestinationExistsError, InputError, MdregError


@dataclass(frozen=True)
class ExtractLimits:
    max_total_bytes: int = 20 * 2**30
    max_ratio: float = 200.0
    max_files: int = 100_000


_RATIO_FROM = 1 << 20  # smaller entries cannot hurt, and short text often deflates >200x
_DRIVE = re.compile(r"^[A-Za-z]:")


def artifact_root_in_zip(names: Iterable[str]) -> str:
    """``""`` or ``"folder/"``: where score.py / runtime.yaml sit in a zip (depth 0 or 1).

    Top level wins; ``""`` also when neither file is present (checks report that later).
    """
    names = [clean_rel(n) for n in names]
    markers = set(ALWAYS_KEEP)
    if any(n in markers for n in names):
        return ""
    folders = sorted(
        {n.split("/")[0] + "/" for n in names if n.count("/") == 1 and n.split("/")[1] in markers}
    )
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
    import tempfile

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


def _plan(zf: zipfile.ZipFile, limits: ExtractLimits, zip_path: Path) -> tuple[list[_Member], str]:
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
    flat = [
        _Member(m.info, m.rel[len(prefix) :], m.is_dir) for m in members if m.rel + "/" != prefix
    ]
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
            raise ArtifactError(
                f"{zip_path}: entry {m.info.orig_filename!r} collides with "
                f"another entry ({exc.strerror}): refused"
            ) from exc
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
            raise ArtifactError(
                f"{zip_path}: entry {m.info.orig_filename!r} is corrupt ({exc})"
            ) from exc
        except OSError as exc:
            raise MdregError(f"cannot extract into {tmp.parent}: {exc.strerror or exc}") from exc


def _extract_file(
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    target: Path,
    total_before: int,
    limits: ExtractLimits,
    zip_path: Path,
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
