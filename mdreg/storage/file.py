"""``file://`` buckets: a local folder whose files are the objects.

Objects are written to a temp file beside their final name, fsynced and renamed, so a
reader (or a crash) never leaves half an object under a key. Temp files are hidden
(leading dot) and never listed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from mdreg._files import ProgressFn, write_atomically
from mdreg.errors import InputError, MdregError
from mdreg.storage.base import Bucket, ObjectInfo, ObjectNotFoundError, check_key


class FileBucket(Bucket):
    """A bucket that is the folder ``root`` (created on first put)."""

    scheme = "file"

    def __init__(self, root: str | Path) -> None:
        root = Path(root)
        if not root.is_absolute():
            raise InputError(f"file:// bucket folder must be an absolute path, not {root}")
        self.root = root

    def __repr__(self) -> str:
        return f"FileBucket({str(self.root)!r})"

    @property
    def uri(self) -> str:
        return self.root.as_uri()

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def put(self, key: str, src: Path, *, progress: ProgressFn | None = None) -> ObjectInfo:
        dest = self._path(key)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open(src, "rb") as f:
                size, digest = write_atomically(f, dest, progress=progress)
        except FileNotFoundError as exc:
            if not Path(src).exists():
                raise InputError(f"no such file: {src}") from exc
            raise MdregError(f"cannot write {dest}: {exc.strerror or exc}") from exc
        except (NotADirectoryError, IsADirectoryError) as exc:
            raise InputError(
                f"cannot put {key!r} into {self.uri}: a file and a folder would share a name"
            ) from exc
        except OSError as exc:
            raise MdregError(f"cannot write {dest}: {exc.strerror or exc}") from exc
        return self._info(key, dest, sha256=digest, size=size)

    def get(self, key: str, dest: Path, *, progress: ProgressFn | None = None) -> ObjectInfo:
        src = self._path(key)
        try:
            f = open(src, "rb")  # noqa: SIM115 - closed by the with below
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise ObjectNotFoundError(f"{self.uri_for(key)}: no such object") from exc
        with f:
            try:
                size, digest = write_atomically(f, Path(dest), progress=progress)
            except OSError as exc:
                raise MdregError(f"cannot write {dest}: {exc.strerror or exc}") from exc
        return self._info(key, src, sha256=digest, size=size)

    def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        if not path.is_file():
            return None
        return self._info(key, path)

    def delete(self, key: str) -> None:
        path = self._path(key)
        if not path.is_file():
            raise ObjectNotFoundError(f"{self.uri_for(key)}: no such object")
        path.unlink()

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        if not self.root.is_dir():
            return iter(())
        found = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if name.startswith("."):
                    continue  # temp files of puts in progress
                path = Path(dirpath, name)
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    found.append((key, path))
        return (self._info(key, path) for key, path in sorted(found))

    @staticmethod
    def _info(
        key: str, path: Path, *, sha256: str | None = None, size: int | None = None
    ) -> ObjectInfo:
        st = path.stat()
        return ObjectInfo(
            key=key,
            size=st.st_size if size is None else size,
            modified=datetime.fromtimestamp(st.st_mtime, UTC),
            etag=f"{st.st_mtime_ns:x}-{st.st_size:x}",
            sha256=sha256,
        )
