"""How the walker reads opcode arguments the way CPython's unpickler does: protocol 0
text lines (C strings, ``strtol``), global names, and memo keys whose count MEMOIZE uses."""

from __future__ import annotations

import codecs
import re
from typing import Any

from mdreg.scan.stream import PickleParseError
from mdreg.scan.values import LONG_STR, OPAQUE

STR_KEEP_MAX = 4096  # longer strings cannot be module names worth resolving


def memo_put(
    memo: dict[int, Any], mbase: int, mextra: set[int] | None, k: int, v: Any
) -> tuple[int, set[int] | None]:
    """Store ``v`` under memo key ``k``, keeping the key count exact (MEMOIZE uses it).

    Dicts are not kept: a pickle of many small dicts would otherwise hold every one of
    them until its end. No opcode reads a value out of a dict, so a dict fetched back
    from the memo is opaque; used as a joblib array wrapper's state (which joblib itself
    never does) it fails the walk, and so the file is called dangerous, never clean.
    """
    if k >= mbase and (mextra is None or k not in mextra):
        if k == mbase:
            mbase += 1
            while mextra and mbase in mextra:
                mextra.discard(mbase)
                mbase += 1
        else:
            if mextra is None:
                mextra = set()
            mextra.add(k)
    if v is OPAQUE or type(v) is dict:
        memo.pop(k, None)
    else:
        memo[k] = v
    return mbase, (mextra or None)


def memo_get_opaque(mbase: int, mextra: set[int] | None, k: int, at: int) -> Any:
    if k < mbase or (mextra is not None and k in mextra):
        return OPAQUE
    raise PickleParseError(f"memo key {k} missing", at)


def utf8(line: bytes | None, at: int) -> str:
    if line is None:
        raise PickleParseError("global name too long", at)
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        raise PickleParseError("global name is not UTF-8", at) from None


def dotted_identifier(name: str) -> bool:
    return all(part.isidentifier() for part in name.split("."))


# Text opcode arguments are read the way the C unpickler (what ``pickle.load`` runs)
# reads them, which accepts more than ``int()``/``float()`` on the line: the argument is
# a C string, so it ends at the first NUL byte, and INT goes through ``strtol(s, 0)``,
# which takes leading-zero octal ("010" is 8). A walker stricter than the unpickler
# would call a loadable stream "not a pickle" and let it past the safety gate.
STRTOL = re.compile(rb"[ \t\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")


def c_str(line: bytes) -> bytes:
    """The argument as C code sees it: up to the first NUL."""
    return line.split(b"\0", 1)[0]


def c_int(line: bytes) -> int:
    """INT: ``strtol(s, &end, 0)`` accepted when it stops at the newline or a NUL,
    else ``PyLong_FromString(s, NULL, 0)`` (the pure-Python unpickler's ``int(line, 0)``
    accepts a subset of this)."""
    m = STRTOL.match(line)
    if m is not None:
        end = m.end()
        if end == len(line) or line[end] == 0:
            digits = m.group(2)
            base = 16 if digits[1:2] in (b"x", b"X") else 8 if digits[:1] == b"0" else 10
            value = int(digits, base)
            return -value if m.group(1) == b"-" else value
    elif line[:1] == b"\0":
        return 0  # no digits: strtol's end is the NUL at the start
    return int(c_str(line), 0)


def text_int(line: bytes | None, at: int) -> int:
    """GET / PUT keys: ``PyLong_FromString(s, NULL, 10)``."""
    if line is None:
        raise PickleParseError("memo key too long", at)
    try:
        return int(c_str(line))
    except ValueError:
        raise PickleParseError("bad integer", at) from None


def text_value(op: int, line: bytes | None, at: int) -> Any:
    """Value of a protocol 0 INT / LONG / FLOAT / STRING / UNICODE line."""
    if line is None:
        if op == 0x53 or op == 0x56:  # 'S', 'V': a long string
            return LONG_STR
        raise PickleParseError("text opcode argument too long", at)
    try:
        if op == 0x49:  # 'I'
            if line == b"00":
                return False
            if line == b"01":
                return True
            return c_int(line)
        if op == 0x4C:  # 'L'
            if line.endswith(b"L"):
                line = line[:-1]
            return int(c_str(line), 0)
        if op == 0x46:  # 'F'
            return float(c_str(line))
        if op == 0x53:  # 'S'
            if len(line) >= 2 and line[0] == line[-1] and line[:1] in (b'"', b"'"):
                value = codecs.escape_decode(line[1:-1])[0]
                return value.decode("latin-1") if len(value) <= STR_KEEP_MAX else LONG_STR
            raise ValueError("the STRING opcode argument must be quoted")
        # 'V'
        if len(line) > STR_KEEP_MAX:
            return LONG_STR
        return line.decode("raw-unicode-escape")
    except (ValueError, UnicodeDecodeError) as exc:
        raise PickleParseError(f"bad text opcode argument ({exc})", at) from None
