"""File helpers every writer shares: chunked copies hashed on the way, temp names that
carry their writer's pid, atomic replacement, and the file-slice reader uploads send.

- ``CHUNK``: the one read size (1 MiB) of every streamed copy, hash and upload.
- ``ProgressFn``: a callback fed byte counts; ``ProgressFactory``: how a caller (the
  CLI's progress bars) hands the library a way to show progress.
- ``temp_name``: ``.NAME.PID-HEX.TAG`` beside what is being written (``owned_name`` is
  its ``PID-HEX.TAG`` part, for temp folders of their own such as the blob store's), so
  ``mdreg gc`` tells a live writer's temp file from one a crash left
  (``stale_temp_siblings``).
- ``write_atomically`` (temp file, fsync, rename, fsync of the folder) and
  ``move_into_place`` (a finished folder renamed over the old one only once complete).
- ``md5_hasher``/``b64``: Object Storage's MD5 checksums (``Content-MD5``).

Standard library only: every layer (artifact, catalog, storage, flows) imports it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    import threading

CHUNK = 1 << 20

ProgressFn = Callable[[int], None]

# A caller-supplied way to show progress: ``progress(total_bytes, label)`` is a context
# manager yielding a callback fed byte counts (or None for no display). The CLI passes
# ``mdreg.cli._output.progress_bar``; library code never draws anything itself.
ProgressFactory = Callable[[int, str], AbstractContextManager[ProgressFn | None]]


def no_progress(total: int, label: str) -> AbstractContextManager[ProgressFn | None]:
    return nullcontext(None)


# -- copies and hashes ------------------------------------------------------------------


def md5_hasher() -> Any:
    """An MD5 for Object Storage's content checksums: a transport checksum, not security
    (``usedforsecurity=False`` keeps it usable on FIPS hosts, as the SDK's own helper)."""
    return hashlib.md5(usedforsecurity=False)


def b64(digest: bytes) -> str:
    """A digest as ``Content-MD5`` and Object Storage's MD5 headers write it."""
    return base64.b64encode(digest).decode()


def copy_stream(
    src: BinaryIO, dst: BinaryIO, *, progress: ProgressFn | None = None
) -> tuple[int, str]:
    """Copy ``src`` to ``dst`` in 1 MiB chunks; return (bytes copied, sha256 hex)."""
    sha = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    size = 0
    while n := src.readinto(view):  # type: ignore[attr-defined]
        chunk = view[:n]
        sha.update(chunk)
        dst.write(chunk)
        size += n
        if progress is not None:
            progress(n)
    return size, sha.hexdigest()


def hash_file(path: Path, *, progress: ProgressFn | None = None) -> tuple[int, str]:
    """(size, sha256 hex) of a file, read once in chunks."""
    sha = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    size = 0
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(view):
            sha.update(view[:n])
            size += n
            if progress is not None:
                progress(n)
    return size, sha.hexdigest()


# -- temp names -------------------------------------------------------------------------


def owned_name(tag: str, token_bytes: int = 6) -> str:
    """``PID-HEX.TAG``: a fresh name that carries this process's id, so a cleaner can
    tell a file being written (its process is alive) from one left by a crash."""
    return f"{os.getpid()}-{secrets.token_hex(token_bytes)}.{tag}"


def temp_name(dest: Path, tag: str = "partial") -> Path:
    """A fresh hidden name beside ``dest``: ``.NAME.PID-HEX.TAG`` (see ``owned_name``)."""
    return dest.with_name(f".{dest.name}.{owned_name(tag)}")


def temp_owner(name: str) -> int | None:
    """The process id in a name made by ``temp_name`` or ``owned_name``, or None."""
    try:
        pid_part = name.rsplit(".", 2)[-2].split("-", 1)[0]
        return int(pid_part)
    except (IndexError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (POSIX). Elsewhere True: there, os.kill(pid, 0)
    would terminate the process rather than probe it."""
    if pid <= 0:
        return False
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    except OSError:
        return True  # cannot tell (Windows): assume alive, the age rule cleans it later
    return True


#: Names ``temp_name`` gives (the tags mdreg's writers use: zips and downloads are
#: ``partial``, ``load`` stages ``download`` and ``loading`` folders, ``prepare`` builds in
#: a ``tmp`` one, and ``move_into_place`` sets the replaced folder aside as ``old``).
_TEMP_SIBLING = re.compile(r"^\..+\.(\d+)-[0-9a-f]+\.(?:partial|download|loading|tmp|old)$")
#: The zip writer's temp name before it carried a pid: no owner to ask.
_UNOWNED_ZIP_TEMP = re.compile(r"^\..+\.zip\.[0-9a-f]{12}\.partial$")
UNOWNED_SIBLING_MAX_AGE_S = 24 * 3600


def stale_temp_siblings(folder: Path) -> list[Path]:
    """Temp files and folders mdreg's writers left in ``folder`` (not below it) when
    their process died: named by ``temp_name`` with a pid that is no longer alive. A temp
    zip of an older mdreg, which named no pid, counts once it is a day old."""
    stale = []
    now = time.time()
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        m = _TEMP_SIBLING.match(entry.name)
        if m:
            if not pid_alive(int(m.group(1))):
                stale.append(Path(entry.path))
        elif _UNOWNED_ZIP_TEMP.match(entry.name):
            try:
                if now - entry.stat(follow_symlinks=False).st_mtime > UNOWNED_SIBLING_MAX_AGE_S:
                    stale.append(Path(entry.path))
            except FileNotFoundError:
                continue
    return stale


def remove_temp(path: Path) -> None:
    """Remove a temp file or folder (a link is removed, never followed)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        unlink_quietly(path)


def unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


# -- putting things in place ------------------------------------------------------------


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class DigestMismatch(Exception):
    """The bytes copied do not hash to the sha256 expected (nothing was written)."""

    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(f"sha256 {actual}, expected {expected}")
        self.expected, self.actual = expected, actual


def write_atomically(
    src: BinaryIO,
    dest: Path,
    *,
    progress: ProgressFn | None = None,
    expected_sha256: str | None = None,
) -> tuple[int, str]:
    """Stream ``src`` into ``dest`` through a temp file beside it: fsync, then rename.

    A reader of ``dest`` sees the old file or the complete new one, never a part. With
    ``expected_sha256``, a copy that hashes otherwise raises DigestMismatch and ``dest``
    is left as it was.
    """
    tmp = temp_name(dest)
    try:
        with open(tmp, "xb") as out:
            size, digest = copy_stream(src, out, progress=progress)
            out.flush()
            os.fsync(out.fileno())
        if expected_sha256 is not None and digest != expected_sha256:
            raise DigestMismatch(expected_sha256, digest)
        os.replace(tmp, dest)
    except BaseException:
        unlink_quietly(tmp)
        raise
    fsync_dir(dest.parent)
    return size, digest


def move_into_place(staged: Path, dest: Path) -> None:
    """Rename the complete folder ``staged`` to ``dest``. An existing ``dest`` (``--force``,
    or an empty folder) is swapped out, so the old one goes only once the new one is
    there; if the second rename fails, the old folder is put back."""
    if not dest.exists():
        os.replace(staged, dest)
        return
    old = temp_name(dest, "old")
    os.replace(dest, old)
    try:
        os.replace(staged, dest)
    except BaseException:
        os.replace(old, dest)
        raise
    shutil.rmtree(old, ignore_errors=True)


# -- reading a file for an upload -------------------------------------------------------


class Stopped(Exception):
    """The operation was cancelled (another part failed, or the user interrupted)."""


class SliceReader:
    """``length`` bytes of ``path`` from ``offset``, as a file-like request body.

    MD5 (unless ``md5=False``: a caller that sent ``Content-MD5`` hashed the slice
    already) and optionally sha256 are computed as the bytes go out; ``on_pos(n)`` is told
    how many bytes of the slice were read so far; ``stop`` set -> the next read raises
    ``Stopped`` (which ends the request).
    """

    def __init__(
        self,
        path: Path,
        offset: int,
        length: int,
        *,
        on_pos: ProgressFn | None = None,
        stop: threading.Event | None = None,
        sha256: bool = False,
        md5: bool = True,
    ) -> None:
        self._f = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by close()
        self._f.seek(offset)
        self._left = self.length = length  # bytes not yet read from the file
        self._buf = memoryview(b"")
        self._on_pos = on_pos
        self._stop = stop
        self.md5 = md5_hasher()
        self._md5_on = md5
        self.sha256 = hashlib.sha256() if sha256 else None

    def __len__(self) -> int:  # requests takes Content-Length from it
        return self.length

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes. The file is read (and hashed) 1 MiB at a time: the HTTP
        library asks for 16 KiB blocks, and one syscall and hash update per block would
        cost more than the copy."""
        if self._stop is not None and self._stop.is_set():
            raise Stopped()
        if not self._buf:
            if self._left <= 0:
                return b""
            data = self._f.read(min(CHUNK, self._left))
            if not data:
                raise OSError(f"{self._f.name} shrank while it was being uploaded")
            self._left -= len(data)
            if self._md5_on:
                self.md5.update(data)
            if self.sha256 is not None:
                self.sha256.update(data)
            if self._on_pos is not None:
                self._on_pos(self.length - self._left)
            self._buf = memoryview(data)
        n = len(self._buf) if size is None or size < 0 else min(size, len(self._buf))
        out, self._buf = self._buf[:n], self._buf[n:]
        return out.tobytes()

    def md5_b64(self) -> str:
        return b64(self.md5.digest())

    def close(self) -> None:
        self._f.close()
