"""Streaming copies for artifacts: constant memory, hashed on the way, fsynced, atomic."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20

ProgressFn = Callable[[int], None]


def copy_stream(src: BinaryIO, dst: BinaryIO, *, progress: ProgressFn | None = None) -> tuple[int, str]:
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


def temp_name(dest: Path, tag: str = "partial") -> Path:
    """A fresh hidden name beside ``dest`` that carries this process's id, so a cleaner
    can tell a file being written (its process is alive) from one left by a crash."""
    return dest.with_name(f".{dest.name}.{os.getpid()}-{secrets.token_hex(6)}.{tag}")


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


def write_atomically(src: BinaryIO, dest: Path, *, progress: ProgressFn | None = None,
                     expected_sha256: str | None = None) -> tuple[int, str]:
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


def unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


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


def temp_owner(name: str) -> int | None:
    """The process id in a name made by ``temp_name``, or None."""
    try:
        pid_part = name.rsplit(".", 2)[-2].split("-", 1)[0]
        return int(pid_part)
    except (IndexError, ValueError):
        return None


#: Names ``temp_name`` gives (the tags mdreg's writers use: zips and downloads are
#: ``partial``, ``load`` stages ``download``, ``loading`` and ``old`` folders).
_TEMP_SIBLING = re.compile(r"^\..+\.(\d+)-[0-9a-f]+\.(?:partial|download|loading|old)$")
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


# A caller-supplied way to show progress: ``progress(total_bytes, label)`` is a context
# manager yielding a callback fed byte counts (or None for no display). The CLI passes
# ``mdreg.cli._output.progress_bar``; library code never draws anything itself.
ProgressFactory = Callable[[int, str], AbstractContextManager[ProgressFn | None]]


def no_progress(total: int, label: str) -> AbstractContextManager[ProgressFn | None]:
    return nullcontext(None)
