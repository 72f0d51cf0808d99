"""Artifact zips stored by content: ``blobs/sha256/ab/abcd....zip``.

The same artifact saved twice is stored once. A blob is written to ``blobs/tmp/`` first,
fsynced and renamed into place (and its folder fsynced), so a blob under its final
name is always complete. Temp names carry the writer's process id, so ``gc`` can tell
a write in progress from one a crash left behind.
"""

from __future__ import annotations

import errno
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mdreg._files import (
    ProgressFn,
    copy_stream,
    fsync_dir,
    hash_file,
    owned_name,
    pid_alive,
    remove_temp,
    unlink_quietly,
)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_TEMP = re.compile(r"(?:^|\.)(\d+)-[0-9a-f]+\.(?:partial|staging)$")
UNOWNED_TEMP_MAX_AGE_S = 24 * 3600


@dataclass(frozen=True)
class Blob:
    sha256: str
    size: int
    path: Path


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = root / "sha256"
        self.tmp = root / "tmp"

    def path_for(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise ValueError(f"not a sha256: {sha256!r}")
        return self.objects / sha256[:2] / f"{sha256}.zip"

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def new_temp(self, kind: str = "partial") -> Path:
        """A fresh path in ``tmp/`` named after this process (not created)."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        return self.tmp / owned_name(kind, token_bytes=8)

    def put_file(
        self,
        src: Path,
        *,
        move: bool = False,
        sha256: str | None = None,
        progress: ProgressFn | None = None,
    ) -> Blob:
        """Store the file ``src``: copied (hashing on the way), or renamed when ``move``
        and on the same file system (hashed first, unless ``sha256`` is given). Returns
        the blob, deduplicated by sha256."""
        if move:
            if sha256 is not None:
                size = src.stat().st_size
                digest = sha256
                if progress is not None:
                    progress(size)
            else:
                size, digest = hash_file(src, progress=progress)
            try:
                return self._adopt(src, digest, size)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
        tmp = self.new_temp()
        try:
            with open(src, "rb") as f, open(tmp, "xb") as out:
                size, digest = copy_stream(f, out, progress=None if move else progress)
                out.flush()
                os.fsync(out.fileno())
            return self._adopt(tmp, digest, size)
        finally:
            unlink_quietly(tmp)

    def adopt(self, tmp: Path, sha256: str) -> Blob:
        """Move a complete file written in ``tmp/`` (by this process) into the store."""
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
            size = os.fstat(f.fileno()).st_size
        try:
            return self._adopt(tmp, sha256, size)
        finally:
            unlink_quietly(tmp)

    def _adopt(self, src: Path, sha256: str, size: int) -> Blob:
        final = self.path_for(sha256)
        try:
            if final.stat().st_size == size:
                return Blob(sha256, size, final)  # already stored: keep the old copy
        except FileNotFoundError:
            pass
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, final)
        fsync_dir(final.parent)
        return Blob(sha256, size, final)

    def remove(self, sha256: str) -> int:
        """Delete a blob; its size, or 0 when it was not there."""
        path = self.path_for(sha256)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        try:
            path.parent.rmdir()
        except OSError:
            pass  # not empty
        return size

    def __iter__(self) -> Iterator[Blob]:
        if not self.objects.is_dir():
            return
        for sub in sorted(self.objects.iterdir()):
            if not sub.is_dir():
                continue
            for path in sorted(sub.iterdir()):
                sha = path.name.removesuffix(".zip")
                if path.suffix == ".zip" and _SHA256.match(sha):
                    yield Blob(sha, path.stat().st_size, path)

    def stale_temps(self) -> list[Path]:
        """Temp files and folders whose writing process is gone (or, when no process id
        can be read from the name, that are older than a day)."""
        if not self.tmp.is_dir():
            return []
        stale = []
        now = time.time()
        for path in sorted(self.tmp.iterdir()):
            m = _TEMP.search(path.name)
            if m and not pid_alive(int(m.group(1))):
                stale.append(path)
                continue
            try:
                old = now - path.lstat().st_mtime > UNOWNED_TEMP_MAX_AGE_S
            except FileNotFoundError:
                continue
            if old and (m is None or os.name != "posix"):  # no way to ask the writer
                stale.append(path)
        return stale

    remove_temp = staticmethod(remove_temp)
