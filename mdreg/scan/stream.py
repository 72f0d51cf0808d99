"""Byte sources for the walker, its errors and the per-stream unpickler state."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any, Protocol

# Every opcode byte of protocols 0-5. The lowest is '(' (0x28): joblib's
# alignment byte (1..16) is never an opcode, so plain pickle.load stops there.
OPCODE_BYTES = frozenset(b"(.012FIJKLMNPQRSTUVXabcdeghijlopqrstu}])GBC") | frozenset(
    range(0x80, 0x99)
)


class PickleParseError(Exception):
    """The bytes are not a pickle stream the unpickler would read to its end."""

    def __init__(self, message: str, offset: int, *, truncated: bool = False) -> None:
        super().__init__(f"{message} at offset {offset}")
        self.offset = offset
        #: the bytes ran out: more data could have made it parse
        self.truncated = truncated


class ScanLimitError(PickleParseError):
    """More bytes than ``max_bytes`` would have to be read."""


class ByteReader(Protocol):
    """What the scanner reads: a file, a zip member, a decompressor, a window on a file."""

    def read(self, n: int = -1, /) -> bytes: ...
    def seek(self, offset: int, whence: int = 0, /) -> int: ...
    def tell(self) -> int: ...
    def seekable(self) -> bool: ...


class Source:
    """A forward-only byte source: a file, a decompressor or a zip member.

    ``max_bytes`` bounds the bytes produced (read or decompressed); a seekable
    plain file skips array data with ``seek`` and does not count it.
    """

    def __init__(
        self,
        raw: ByteReader,
        *,
        size: int | None = None,
        max_bytes: int | None = None,
        prefix: bytes = b"",
    ):
        self.raw = raw
        self.size = size  # known only for seekable plain files
        self.max_bytes = max_bytes
        self.produced = 0
        self.offset = 0  # stream offset of the next byte
        self._prefix = prefix  # bytes already read from raw (a forward-only stream's head)

    def read(self, n: int) -> bytes:
        if self._prefix:
            data, self._prefix = self._prefix[:n], self._prefix[n:]
            self.produced += len(data)
            self.offset += len(data)
            return data
        if self.max_bytes is not None and self.produced + n > self.max_bytes:
            n = self.max_bytes - self.produced
            if n <= 0:
                if not self.raw.read(1):
                    return b""
                raise ScanLimitError(f"scan stopped after max_bytes={self.max_bytes}", self.offset)
        data = self.raw.read(n)
        self.produced += len(data)
        self.offset += len(data)
        return data

    def skip(self, n: int) -> int:
        """Skip up to ``n`` bytes; return how many were there."""
        if self.size is not None:
            n = min(n, self.size - self.offset)
            self.raw.seek(n, io.SEEK_CUR)
            self.offset += n
            return n
        done = 0
        while done < n:
            data = self.read(min(n - done, 1 << 20))
            if not data:
                break
            done += len(data)
        return done


class ReadStream(io.RawIOBase):
    """A readable raw stream whose subclass writes ``read(n)`` only (a decompressor, a
    window on a file): ``readinto`` is built on it, so buffered readers can wrap it."""

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


@dataclass
class StreamState:
    """Per-stream unpickler state (a fresh one per pickle stream, like a new Unpickler)."""

    joblib: bool  # read NumpyArrayWrapper array data like joblib.load does
    lenient: bool = False  # stop quietly at the first error (probes, shadow walks)
    stack: list[Any] = field(default_factory=list)
    metastack: list[list[Any]] = field(default_factory=list)
    memo: dict[int, Any] = field(default_factory=dict)
    mbase: int = 0  # memo keys 0..mbase-1 exist ...
    mextra: set[int] | None = None  # ... plus these (only after out-of-order PUTs)
    proto: int = 0
    frame_end: int | None = None
    wrapper_seen: bool = False
