"""What a walk over pickle bytes found: the globals a load would import, per file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

_SHOWN_MAX = 200  # characters of a global's name shown in messages


@dataclass(frozen=True)
class GlobalRef:
    """One global a pickle load would import (GLOBAL, INST, STACK_GLOBAL, EXT*).

    ``offset`` is the position of the opcode in the file, or in the decompressed
    stream or zip member that ``where`` names ("" for the plain file).
    ``module == "?"`` marks a global whose name could not be worked out.
    """

    module: str
    name: str
    offset: int
    where: str = ""

    @property
    def dotted(self) -> str:
        """``module.name`` for messages: the names come from the file, so control
        characters are escaped (no line breaks or terminal codes in a one-line error)
        and very long names are cut."""
        return shown(f"{self.module}.{self.name}")


def shown(text: str, limit: int = _SHOWN_MAX) -> str:
    """Text from a file (a global's or a member's name) made safe for a one-line message:
    control characters escaped, cut to ``limit`` characters."""
    if not text.isprintable():
        text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class PickleReport:
    """The globals of every pickle stream in one file.

    ``container`` says how the pickle was wrapped: "pickle", "joblib+zlib",
    "joblib+gzip", "joblib+bz2", "joblib+lzma", "joblib+xz", "joblib+lz4",
    "joblib-compat" (joblib < 0.10 'ZF' files), "torch-legacy", "torch-zip",
    "torchscript-zip", "keras-zip", "zip" (.npz included), "tar", "7z" (these
    three also when gzip, bz2 or xz compressed whole), "npy" or "not-pickle".
    ``error`` is set when a stream could not be parsed to its end; such a
    report is never clean. ``incomplete`` says why part of the file was not
    read (an archive nested past the depth budget, the size budget spent, an
    encrypted or unreadable member, 7z without py7zr): such a report is never
    clean either, but only "unknown".
    """

    path: Path
    container: str
    protocol: int | None = None
    globals: list[GlobalRef] = field(default_factory=list)
    streams: int = 0
    error: str | None = None
    incomplete: str | None = None
