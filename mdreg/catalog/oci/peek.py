"""One small file out of a catalog model's artifact zip, without downloading the zip:
``get_model_artifact_content`` with a ``Range`` header (the API takes one byte range, RFC
7233), read through ``zipfile`` over a file object that fetches what it is asked for. A
zip is read from its end, so a member costs a handful of requests whatever the artifact's
size: the end record, the central directory, the member.

Used by ``mdreg deploy`` to read runtime.yaml (the inference conda pack the service will
install). A service that answers a ranged GET with the whole body (200) is tolerated: the
body is then read once, into a spooled temp file.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from typing import Any

from mdreg.artifact.unzipping import artifact_root_in_zip
from mdreg.catalog.base import ModelNotFoundError
from mdreg.errors import ArtifactError
from mdreg.oci.errors import translated

BUFFER = 64 << 10
MAX_MEMBER = 1 << 20  # runtime.yaml is a few hundred bytes


class _WholeBody(Exception):
    """The service ignored the Range header."""

    def __init__(self, resp: Any) -> None:
        super().__init__("range ignored")
        self.resp = resp


class _Ranged(io.RawIOBase):
    """The artifact as a seekable file; each read is one ranged GET."""

    def __init__(self, ds: Any, model_id: str, size: int) -> None:
        self.ds, self.model_id, self.size, self.pos = ds, model_id, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.size - self.pos)
        if n <= 0:
            return 0
        resp = self.ds.get_model_artifact_content(
            self.model_id, range=f"bytes={self.pos}-{self.pos + n - 1}"
        )
        if resp.status != 206:
            raise _WholeBody(resp)
        data = resp.data.content
        buffer[: len(data)] = data
        self.pos += len(data)
        return len(data)


def read_member(ds: Any, model_id: str, name: str) -> bytes | None:
    """The bytes of ``name`` (relative to where score.py sits in the zip), or None when
    the artifact has no such file."""
    missing = lambda e: ModelNotFoundError(  # noqa: E731
        f"model {model_id} has no artifact in the OCI catalog"
    )
    with translated(f"reading {name} from the artifact of {model_id}", not_found=missing):
        size = int(ds.head_model_artifact(model_id).headers.get("content-length", 0))
        try:
            raw = io.BufferedReader(_Ranged(ds, model_id, size), buffer_size=BUFFER)
            return _member(raw, name, model_id)
        except _WholeBody as whole:
            with tempfile.SpooledTemporaryFile(max_size=16 << 20) as spool:
                for chunk in whole.resp.data.raw.stream(BUFFER, decode_content=False):
                    spool.write(chunk)
                spool.seek(0)
                return _member(spool, name, model_id)


def _member(f: Any, name: str, model_id: str) -> bytes | None:
    try:
        with zipfile.ZipFile(f) as zf:
            root = artifact_root_in_zip(zf.namelist())
            try:
                info = zf.getinfo(root + name)
            except KeyError:
                return None
            if info.file_size > MAX_MEMBER:
                raise ArtifactError(
                    f"{name} in the artifact of {model_id} is {info.file_size} bytes: too "
                    "large to be what it should be"
                )
            return zf.read(info)
    except zipfile.BadZipFile as exc:
        raise ArtifactError(f"the artifact of {model_id} is not a readable zip ({exc})") from exc
