"""The opcode walker's tables: argument readers, argument sizes, markers.

Module-level names, imported by ``opcodes`` into its own globals: the loop reads them
as fast as names it defined itself.
"""

from __future__ import annotations

import struct

HIGHEST_PROTOCOL = 5
NO_FRAME = 1 << 62  # a frame end no stream reaches

# fixed-width little-endian arguments (BINFLOAT is big-endian), read in place
u2 = struct.Struct("<H").unpack_from
u4 = struct.Struct("<I").unpack_from
i4 = struct.Struct("<i").unpack_from
u8 = struct.Struct("<Q").unpack_from
f8 = struct.Struct(">d").unpack_from

#: a memo key not in the memo dict (``dict.get``'s default)
MISSING = object()

#: INT, LONG, FLOAT, STRING, UNICODE, GET, PUT, PERSID: a protocol 0 text line argument
TEXT_OPS = frozenset(b"ILFSVgpP")
#: fixed-size arguments (length prefixes included)
ARG_SIZE = {
    **dict.fromkeys(b"\x80KhqCU\x8c\x8a\x82", 1),
    **dict.fromkeys(b"M\x83", 2),
    **dict.fromkeys(b"JjrXBT\x8b\x84", 4),
    **dict.fromkeys(b"G\x95\x8d\x8e\x96", 8),
}


class _StopMarker:
    pass


#: returned by a lenient walk that stopped where a real unpickler would fail
STOPPED = _StopMarker()
