"""What a streamed writer (the zip writer) writes into: a seekable binary file that is
told where each zip entry starts and ends (``StreamSink``).

- ``FileSink``: a local file, its sha256 computed right behind the writer;
- ``mdreg.storage.oci_stream.StreamUpload``: an Object Storage multipart upload, the
  bytes cut into parts as they come (no file at all).

Standard library only.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from mdreg._files import CHUNK

#: Regenerates the data bytes of the zip entry just written (after its local header), in
#: order, for a sink that no longer holds them (see ``StreamSink.end_entry``); a chunk is
#: valid until the next one is asked for.
Replay = Callable[[], Iterator[bytes | memoryview]]


class StreamSink(Protocol):
    """A seekable binary file ``zipfile`` can write into, told where entries start and end.

    The zip writer calls ``begin_entry()`` before an entry's local header is written and
    ``end_entry(replay)`` once zipfile has patched that header (CRC and sizes, after the
    data): between the two the header may be rewritten, nothing else; every other byte is
    final as written. ``replay()`` gives the entry's data bytes again.
    """

    def write(self, data: Any, /) -> int: ...
    def seek(self, offset: int, whence: int = 0, /) -> int: ...
    def tell(self) -> int: ...
    def flush(self) -> None: ...
    def seekable(self) -> bool: ...
    def begin_entry(self) -> None: ...
    def end_entry(self, replay: Replay | None) -> None: ...


class FileSink:
    """A ``StreamSink`` over the local file ``path`` (created, empty, by the caller).

    With ``sha256``, the file's sha256 is computed right behind the writer, entry by entry,
    from the bytes just written (still in the page cache), so it is ready when the file is.
    """

    def __init__(self, path: Path, *, sha256: bool = True) -> None:
        self._out = open(path, "r+b")  # noqa: SIM115 - closed by close()
        self._back = open(path, "rb", buffering=0) if sha256 else None  # noqa: SIM115
        self._sha = hashlib.sha256()
        self._done = 0
        self._buf = memoryview(bytearray(CHUNK)) if sha256 else memoryview(b"")

    def write(self, data: Any, /) -> int:
        return self._out.write(data)

    def seek(self, offset: int, whence: int = 0, /) -> int:
        return self._out.seek(offset, whence)

    def tell(self) -> int:
        return self._out.tell()

    def flush(self) -> None:
        self._out.flush()

    def seekable(self) -> bool:
        return True

    def begin_entry(self) -> None:
        pass

    def end_entry(self, replay: Replay | None) -> None:
        self._out.flush()
        self._catch_up(self._out.tell())

    def finish(self) -> tuple[int, str | None]:
        """Flush and fsync; (size, sha256 hex or None)."""
        self._out.flush()
        os.fsync(self._out.fileno())
        size = self._out.seek(0, os.SEEK_END)
        self._catch_up(size)
        return size, self._sha.hexdigest() if self._back is not None else None

    def close(self) -> None:
        self._out.close()
        if self._back is not None:
            self._back.close()

    def _catch_up(self, end: int) -> None:
        if self._back is None:
            return
        self._back.seek(self._done)
        while self._done < end:
            n = self._back.readinto(self._buf[: min(CHUNK, end - self._done)])
            if not n:
                raise OSError("the file being written was truncated")
            self._sha.update(self._buf[:n])
            self._done += n
