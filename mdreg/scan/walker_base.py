"""The walker's state and everything its opcode loop (``opcodes.Walker._loop``) calls
out to: the byte buffer over a ``Source`` (fill, take, skip, read a line), the streams of
one source, globals found (GLOBAL, STACK_GLOBAL, EXT), and str/bytes payloads kept,
skipped or walked as nested pickles.
"""

from __future__ import annotations

import copyreg
import io
from collections.abc import Callable
from typing import Any, BinaryIO

from mdreg.scan.joblib_walk import JoblibArrays
from mdreg.scan.opargs import STR_KEEP_MAX, dotted_identifier
from mdreg.scan.optables import HIGHEST_PROTOCOL
from mdreg.scan.report import GlobalRef
from mdreg.scan.stream import PickleParseError, Source, StreamState
from mdreg.scan.values import BYTES, LONG_STR, OPAQUE, SimGlobal

CHUNK = 1 << 16
BYTES_PEEK_MAX = 1 << 20  # bytes payloads up to this size are checked for nested pickles
LINE_KEEP_MAX = 1 << 16  # protocol 0 lines kept; longer STRING/UNICODE lines are skipped


class WalkerBase(JoblibArrays):
    """The state of a walk over one byte source, and all of the walk but the opcode loop."""

    _loop: Callable[[StreamState], Any]  # provided by Walker: the opcode loop

    def __init__(
        self,
        src: Source,
        *,
        where: str = "",
        found: list[GlobalRef] | None = None,
        reopen: Callable[[], BinaryIO] | None = None,
    ):
        self.src = src
        self.where = where
        # a fresh seekable handle on the same bytes, for reading ahead (see _shadow)
        self.reopen = reopen
        self.found: list[GlobalRef] = [] if found is None else found
        self.buf = b""
        self.pos = 0  # index of the next unread byte in buf
        self.base = src.offset  # stream offset of buf[0]
        self.src_origin = 0  # stream offset of the reopened file's byte 0
        self.eof = False
        self.protocol: int | None = None
        self.streams = 0

    # -- buffer -------------------------------------------------------------

    def offset(self) -> int:
        return self.base + self.pos

    def _fill(self, need: int) -> None:
        """Make ``need`` bytes available from ``pos`` unless the source ends first."""
        have = len(self.buf) - self.pos
        if have >= need or self.eof:
            return
        parts = [self.buf[self.pos :]]
        self.base += self.pos
        self.pos = 0
        while have < need:
            chunk = self.src.read(max(CHUNK, need - have))
            if not chunk:
                self.eof = True
                break
            parts.append(chunk)
            have += len(chunk)
        self.buf = b"".join(parts)

    def at_end(self) -> bool:
        self._fill(1)
        return self.pos >= len(self.buf)

    def _take(self, n: int, what: str) -> bytes:
        self._fill(n)
        if len(self.buf) - self.pos < n:
            raise PickleParseError(f"truncated {what}", self.offset(), truncated=True)
        data = self.buf[self.pos : self.pos + n]
        self.pos += n
        return data

    def _skip(self, n: int, what: str) -> None:
        have = len(self.buf) - self.pos
        if n <= have:
            self.pos += n
            return
        start = self.offset()
        self.base += len(self.buf)
        self.buf = b""
        self.pos = 0
        rest = n - have
        skipped = self.src.skip(rest)
        self.base += skipped
        if skipped < rest:
            raise PickleParseError(f"truncated {what} ({n} bytes)", start, truncated=True)

    def _readline(self, limit: int = LINE_KEEP_MAX) -> bytes | None:
        """One line without its newline (text opcodes need the newline), or None
        when it is longer than ``limit``: the rest is scanned, not kept."""
        start = self.offset()
        scanned = 0  # bytes after pos already searched
        while True:
            j = self.buf.find(b"\n", self.pos + scanned)
            if j >= 0:
                line = self.buf[self.pos : j] if j - self.pos <= limit else None
                self.pos = j + 1
                return line
            if self.eof:
                raise PickleParseError("truncated line", start, truncated=True)
            scanned = len(self.buf) - self.pos
            if scanned > limit:
                # too long to keep: drop what was searched, keep the offset right
                self.base += len(self.buf)
                self.buf = b""
                self.pos = 0
                limit = -1
                scanned = 0
            self._fill(scanned + CHUNK)

    # -- streams ------------------------------------------------------------

    def walk_all(self, *, joblib: bool, max_streams: int | None = None) -> int:
        """Walk pickle streams until the end of the source; return how many."""
        while not self.at_end():
            if max_streams is not None and self.streams >= max_streams:
                break
            self.walk_stream(StreamState(joblib=joblib))
            self.streams += 1
        return self.streams

    def walk_stream(self, st: StreamState) -> Any:
        """Walk one stream to its STOP; return the simulated top-level value."""
        try:
            return self._loop(st)
        except RecursionError:
            raise PickleParseError("objects nested too deeply", self.offset()) from None

    def _global(self, module: str, name: str, offset: int, st: StreamState) -> SimGlobal:
        self.found.append(GlobalRef(module, name, offset, self.where))
        g = SimGlobal(module, name)
        if g.array_wrapper and st.joblib:
            st.wrapper_seen = True
        return g

    # -- payloads -----------------------------------------------------------

    def _payload(self, size: int, *, text: bool, py2str: bool = False, peek: bool = True) -> Any:
        """A str/bytes payload of ``size`` bytes at ``pos``: kept, peeked or skipped.

        ``peek``: read bytes payloads up to 1 MiB to look for nested pickles.
        """
        start = self.offset()
        if text:
            if size > STR_KEEP_MAX:
                self._skip(size, "string")
                return LONG_STR
            data = self._take(size, "string")
            try:
                return data.decode("utf-8", "surrogatepass")
            except UnicodeDecodeError:
                raise PickleParseError("string is not UTF-8", start) from None
        if size > BYTES_PEEK_MAX or (not peek and not (py2str and size <= STR_KEEP_MAX)):
            self._skip(size, "bytes")
            return LONG_STR if py2str else BYTES
        data = self._take(size, "bytes")
        if size > 2 and data[0] == 0x80 and 2 <= data[1] <= HIGHEST_PROTOCOL:
            self._nested(data, start)
        if py2str:
            # protocol 0-2 str: the unpickler decodes it (ASCII by default, latin-1 for
            # numpy-style loads); latin-1 never fails, so names stay visible
            return data.decode("latin-1") if size <= STR_KEEP_MAX else LONG_STR
        return BYTES

    def _nested(self, data: bytes, start: int) -> None:
        """Report the globals of a bytes payload that is itself a whole pickle.

        Only a payload that parses cleanly to STOP counts: array data that merely
        starts like a pickle must not raise false alarms. Running it would take a
        pickle.loads-like global, which is judged on its own anyway.
        """
        where = f"{self.where} > nested" if self.where else "nested"
        sub = type(self)(Source(io.BytesIO(data), size=len(data)), where=where)
        sub.base = start  # report file offsets
        sub.src.offset = 0
        try:
            sub.walk_stream(StreamState(joblib=False))
        except PickleParseError:
            return
        self.found.extend(sub.found)

    # -- calls --------------------------------------------------------------

    def _extension(self, code: int, at: int, st: StreamState) -> SimGlobal:
        """EXT1/2/4: the global that copyreg's extension registry maps ``code`` to, as the
        unpickler looks it up. An unregistered code fails the load here, but another
        process may register it: its global cannot be known, so it is "?" (dangerous)."""
        key = copyreg._inverted_registry.get(code)  # type: ignore[attr-defined]
        if key is None:
            return self._global("?", f"<extension code {code}>", at, st)
        return self._global(key[0], key[1], at, st)

    def _stack_global(self, module: Any, name: Any, at: int, st: StreamState) -> SimGlobal | None:
        if type(module) is str and type(name) is str:
            if st.lenient and not (dotted_identifier(module) and dotted_identifier(name)):
                return None
            return self._global(module, name, at, st)
        if _maybe_str(module) and _maybe_str(name):
            # call results or over-long strings: the name cannot be known
            return self._global("?", "?", at, st)
        return None


def _maybe_str(value: Any) -> bool:
    return value is OPAQUE or value is LONG_STR
