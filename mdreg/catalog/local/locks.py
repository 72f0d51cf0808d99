"""Advisory file locks between mdreg processes sharing one ``$MDREG_HOME``.

A save holds the blob lock shared from before its blob lands until its row is
committed; ``gc`` holds it exclusive, so it never takes a blob for an orphan while a
save is about to claim it. The kernel drops a lock when its process dies, so a SIGKILL
never leaves the catalog locked. Where ``fcntl`` is missing (Windows) locks are no-ops.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mdreg.errors import MdregError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_POLL_S = 0.02


class FileLock:
    def __init__(self, path: Path, *, timeout: float = 120.0) -> None:
        self.path = path
        self.timeout = timeout

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._held(fcntl.LOCK_SH if fcntl else 0, wait=True):
            yield

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._held(fcntl.LOCK_EX if fcntl else 0, wait=True):
            yield

    @contextmanager
    def try_exclusive(self) -> Iterator[bool]:
        """Yield True holding the lock exclusively, or False at once when others hold it."""
        try:
            with self._held(fcntl.LOCK_EX if fcntl else 0, wait=False):
                yield True
                return
        except _Busy:
            pass
        yield False

    @contextmanager
    def _held(self, mode: int, *, wait: bool) -> Iterator[None]:
        if fcntl is None:
            yield
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + self.timeout
            while True:
                try:
                    fcntl.flock(fd, mode | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not wait:
                        raise _Busy() from None
                    if time.monotonic() > deadline:
                        raise MdregError(
                            f"the catalog in {self.path.parent} stayed busy for "
                            f"{self.timeout:.0f} s (another mdreg is saving "
                            "or collecting garbage): try again"
                        ) from None
                    time.sleep(_POLL_S)
            yield
        finally:
            os.close(fd)  # closing the file releases the lock


class _Busy(Exception):
    pass
