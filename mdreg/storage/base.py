"""The bucket interface: a flat namespace of objects addressed by key.

A backend implements five methods. Objects are whole files: ``put`` streams one up from
a local file, ``get`` streams one down into a local file; both take an optional
``progress(n)`` callback fed byte counts, and neither holds more than a chunk in memory.
``put_stream`` uploads what a writer writes into a ``StreamSink`` (a zip being made);
by default through a temp file and ``put``, while ``oci://`` sends it as it is written.
A reader never sees half an object: ``put`` is atomic for every backend (a temp file
and rename for ``file://``; a multipart commit for ``oci://``).

Keys are relative paths with ``/`` separators (``models/rf.zip``): no leading ``/``, no
``.`` or ``..`` parts, no backslash, no NUL. ``check_key`` enforces that in one place.

Errors: a missing object is ``ObjectNotFoundError`` (exit 3); a backend's own failures
are translated at its edge into ``RemoteError`` (exit 5) or ``MdregError``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from mdreg._files import ProgressFn
from mdreg._streams import FileSink, StreamSink
from mdreg.errors import InputError

T = TypeVar("T")


class ObjectNotFoundError(InputError):
    """The bucket has no object under that key."""


@dataclass(frozen=True)
class ObjectInfo:
    """What a bucket says about one object.

    ``sha256`` is known after ``put`` and ``get`` (computed while streaming); ``head`` and
    ``list`` fill it only when the backend stores it. ``etag`` is the backend's version
    tag, or None.
    """

    key: str
    size: int
    modified: datetime | None = None
    etag: str | None = None
    sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "size": self.size,
            "modified": self.modified.isoformat() if self.modified else None,
            "etag": self.etag,
            "sha256": self.sha256,
        }


class Bucket(ABC):
    """One bucket (or one folder, for ``file://``). Subclasses set ``scheme``."""

    scheme: str = ""

    @property
    @abstractmethod
    def uri(self) -> str:
        """The bucket's own URI, e.g. ``file:///data/bucket`` or ``oci://b@ns``."""

    def uri_for(self, key: str) -> str:
        """The URI of the object ``key`` in this bucket."""
        return f"{self.uri.rstrip('/')}/{check_key(key)}"

    @abstractmethod
    def put(self, key: str, src: Path, *, progress: ProgressFn | None = None) -> ObjectInfo:
        """Upload the local file ``src`` as ``key`` (replacing it), streamed; atomic."""

    def put_stream(
        self, key: str, fill: Callable[[StreamSink], T], *, size_hint: int | None = None
    ) -> tuple[ObjectInfo, T]:
        """Upload, as ``key``, what ``fill(sink)`` writes into the sink; (the object,
        what ``fill`` returned). This default writes into a temp file, then ``put``s it."""
        import shutil
        import tempfile

        tmp = Path(tempfile.mkdtemp(prefix="mdreg-stream-"))
        try:
            path = tmp / "object"
            path.touch()
            sink = FileSink(path, sha256=False)
            try:
                result = fill(sink)
                sink.finish()
            finally:
                sink.close()
            return self.put(key, path), result
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @abstractmethod
    def get(self, key: str, dest: Path, *, progress: ProgressFn | None = None) -> ObjectInfo:
        """Download ``key`` into the local file ``dest`` (replaced atomically), streamed.

        Raises ObjectNotFoundError when there is no such object.
        """

    @abstractmethod
    def head(self, key: str) -> ObjectInfo | None:
        """The object's size and version, or None when it does not exist."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``. Raises ObjectNotFoundError when there is no such object."""

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object whose key starts with ``prefix`` (a plain string prefix), sorted by key."""


def check_key(key: str) -> str:
    """``key`` when it is a usable object key, else InputError saying why."""

    def bad(why: str) -> InputError:
        return InputError(f"object key {key!r} {why}")

    if not key:
        raise bad("is empty")
    if "\x00" in key or "\\" in key:
        raise bad("has a NUL or a backslash")
    if key.startswith("/"):
        raise bad("starts with '/': keys are relative")
    parts = key.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise bad("has an empty, '.' or '..' part")
    return key
