"""Walk pickle opcodes without executing them and name every global a load imports.

The walker follows the bytes exactly as ``pickle._Unpickler`` reads them and
simulates just enough of its stack and memo to resolve STACK_GLOBAL operands,
even when they are fetched back from the memo. It also knows joblib's format:
after the BUILD of a ``NumpyArrayWrapper`` it skips the raw array bytes exactly
as ``joblib.numpy_pickle.NumpyUnpickler`` reads them, so objects placed after
an array are still seen.

It is a hand-written loop over opcode bytes rather than ``pickletools.genops``:
several times faster, and it can skip payloads (arrays, big bytes) with a seek.
The loop is this module, one function on purpose (locals, no calls per opcode);
what it calls out to (the buffer, payloads, globals) is ``walker_base``, its tables
``optables``, the joblib side ``joblib_walk``.
"""

from __future__ import annotations

import io
import struct
import sys
from typing import Any

from mdreg.scan.arrays import SimArrayWrapper, SimDtype
from mdreg.scan.joblib_walk import no_wrapper
from mdreg.scan.opargs import (
    STR_KEEP_MAX,
    dotted_identifier,
    memo_get_opaque,
    memo_put,
    text_int,
    text_value,
    utf8,
)
from mdreg.scan.optables import (
    ARG_SIZE,
    HIGHEST_PROTOCOL,
    MISSING,
    NO_FRAME,
    STOPPED,
    TEXT_OPS,
    f8,
    i4,
    u2,
    u4,
    u8,
)
from mdreg.scan.stream import PickleParseError, Source, StreamState
from mdreg.scan.values import BIG_INT, BYTES, OPAQUE, SimGlobal, dict_update
from mdreg.scan.walker_base import WalkerBase


class Walker(WalkerBase):
    """Walks the pickle streams of one byte source, appending globals to ``found``."""

    # The opcode loop. Locals mirror the hot state; helpers that move through the
    # buffer get self.pos synced first and the locals reloaded after.
    def _loop(self, st: StreamState) -> Any:
        buf = self.buf
        i = self.pos
        n = len(buf)
        # The current FRAME's end: absolute, and relative to buf (NO_FRAME when unframed)
        fend = NO_FRAME if st.frame_end is None else st.frame_end
        fr = fend - self.base
        stack = st.stack
        metastack = st.metastack
        memo = st.memo
        mbase = st.mbase
        mextra = st.mextra
        wseen = st.wrapper_seen
        joblib = st.joblib
        strict = not st.lenient
        try:
            while True:
                if i > n - 16:  # keep 16 bytes ahead: fixed-size arguments need no checks
                    self.pos = i
                    self._fill(16)
                    buf = self.buf
                    i = self.pos
                    n = len(buf)
                    fr = fend - self.base
                    if i >= n:
                        raise PickleParseError(
                            "pickle ended without STOP", self.base + i, truncated=True
                        )
                if i >= fr:
                    if i > fr:
                        # The C unpickler reads such an argument from the bytes after the
                        # frame, the Python one refuses it: two readings of one stream.
                        raise PickleParseError(
                            "an opcode straddles the end of its FRAME", self.base + fr
                        )
                    fend = fr = NO_FRAME  # the frame is read: what follows is unframed
                op = buf[i]
                if op >= 0x80:
                    if op == 0x94:  # MEMOIZE
                        v = stack[-1]
                        if mextra is None:
                            if v is not OPAQUE and type(v) is not dict:
                                memo[mbase] = v
                            mbase += 1
                        else:
                            mbase, mextra = memo_put(memo, mbase, mextra, mbase + len(mextra), v)
                        i += 1
                    elif op == 0x8C:  # SHORT_BINUNICODE
                        j = i + 2 + buf[i + 1]
                        if j > n:
                            self.pos = i + 2
                            v = self._payload(buf[i + 1], text=True)
                            buf, i, n, fr = self.buf, self.pos, len(self.buf), fend - self.base
                            stack.append(v)
                            continue
                        try:
                            stack.append(buf[i + 2 : j].decode("utf-8", "surrogatepass"))
                        except UnicodeDecodeError:
                            raise PickleParseError("string is not UTF-8", self.base + i) from None
                        i = j
                    elif op == 0x85:  # TUPLE1
                        stack[-1] = (stack[-1],)
                        i += 1
                    elif op == 0x86:  # TUPLE2
                        b = stack.pop()
                        stack[-1] = (stack[-1], b)
                        i += 1
                    elif op == 0x87:  # TUPLE3
                        c = stack.pop()
                        b = stack.pop()
                        stack[-1] = (stack[-1], b, c)
                        i += 1
                    elif op == 0x88:  # NEWTRUE
                        stack.append(True)
                        i += 1
                    elif op == 0x89:  # NEWFALSE
                        stack.append(False)
                        i += 1
                    elif op == 0x81 or op == 0x92:  # NEWOBJ, NEWOBJ_EX
                        if op == 0x92:
                            kwargs = stack.pop()
                            args = stack.pop()
                            if wseen:
                                no_wrapper(kwargs, self.base + i)
                        else:
                            args = stack.pop()
                        cls = stack.pop()
                        if wseen:
                            no_wrapper(args, self.base + i)
                            if type(cls) is SimGlobal and cls.array_wrapper:
                                stack.append(SimArrayWrapper())
                                i += 1
                                continue
                            no_wrapper(cls, self.base + i)
                        stack.append(OPAQUE)
                        i += 1
                    elif op == 0x95:  # FRAME
                        if fend != NO_FRAME:  # the C unpickler accepts it, Python's refuses
                            raise PickleParseError(
                                "FRAME inside an unfinished frame", self.base + i
                            )
                        if st.proto < 4:
                            raise PickleParseError(
                                f"FRAME in a protocol {st.proto} stream", self.base + i
                            )
                        size = u8(buf, i + 1)[0]
                        if size > sys.maxsize:
                            raise PickleParseError("frame too large", self.base + i)
                        fend = self.base + i + 9 + size
                        fr = fend - self.base
                        i += 9
                    elif op == 0x93:  # STACK_GLOBAL
                        name = stack.pop()
                        module = stack.pop()
                        g = self._stack_global(module, name, self.base + i, st)
                        if g is None:  # the unpickler raises: operands are not str
                            if strict:
                                raise PickleParseError("STACK_GLOBAL requires str", self.base + i)
                            self.pos = i
                            return STOPPED
                        wseen = st.wrapper_seen
                        stack.append(g)
                        i += 1
                    elif op == 0x80:  # PROTO
                        proto = buf[i + 1]
                        if proto > HIGHEST_PROTOCOL:
                            raise PickleParseError(
                                f"unsupported pickle protocol {proto}", self.base + i
                            )
                        st.proto = proto
                        if self.protocol is None:
                            self.protocol = proto
                        i += 2
                    elif op == 0x8A or op == 0x8B:  # LONG1, LONG4
                        if op == 0x8A:
                            size, hdr = buf[i + 1], 2
                        else:
                            size, hdr = i4(buf, i + 1)[0], 5
                            if size < 0:
                                raise PickleParseError(
                                    "LONG pickle has negative byte count", self.base + i
                                )
                        self.pos = i + hdr
                        if size <= 64:
                            data = self._take(size, "LONG")
                            stack.append(int.from_bytes(data, "little", signed=True))
                        else:
                            self._skip(size, "LONG")
                            stack.append(BIG_INT)
                        buf, i, n, fr = self.buf, self.pos, len(self.buf), fend - self.base
                    elif op == 0x8F:  # EMPTY_SET
                        stack.append(OPAQUE)
                        i += 1
                    elif op == 0x90 or op == 0x91:  # ADDITEMS, FROZENSET
                        items = stack
                        stack = metastack.pop()
                        if wseen:
                            no_wrapper(items, self.base + i)
                        if op == 0x90:
                            stack[-1]
                        else:
                            stack.append(OPAQUE)
                        i += 1
                    elif (
                        op == 0x8D or op == 0x8E or op == 0x96
                    ):  # BINUNICODE8, BINBYTES8, BYTEARRAY8
                        size = u8(buf, i + 1)[0]
                        if size > sys.maxsize:
                            raise PickleParseError("payload too large", self.base + i)
                        self.pos = i + 9
                        stack.append(self._payload(size, text=op == 0x8D, peek=strict))
                        buf, i, n, fr = self.buf, self.pos, len(self.buf), fend - self.base
                    elif op == 0x82 or op == 0x83 or op == 0x84:  # EXT1, EXT2, EXT4
                        if op == 0x82:
                            code, width = buf[i + 1], 1
                        elif op == 0x83:
                            code, width = u2(buf, i + 1)[0], 2
                        else:
                            code, width = i4(buf, i + 1)[0], 4
                        if code <= 0:
                            raise PickleParseError("EXT specifying code <= 0", self.base + i)
                        stack.append(self._extension(code, self.base + i, st))
                        i += 1 + width
                    elif op == 0x97:  # NEXT_BUFFER
                        stack.append(OPAQUE)
                        i += 1
                    elif op == 0x98:  # READONLY_BUFFER
                        stack[-1]
                        i += 1
                    else:
                        raise PickleParseError(f"invalid opcode 0x{op:02x}", self.base + i)
                    continue

                # --- protocol 0/1 opcodes (ASCII bytes) ---
                if op == 0x68:  # 'h' BINGET
                    v = memo.get(buf[i + 1], MISSING)
                    if v is MISSING:
                        v = memo_get_opaque(mbase, mextra, buf[i + 1], self.base + i)
                    stack.append(v)
                    i += 2
                elif op == 0x4B:  # 'K' BININT1
                    stack.append(buf[i + 1])
                    i += 2
                elif op == 0x71:  # 'q' BINPUT
                    k = buf[i + 1]
                    v = stack[-1]
                    if mextra is None and k == mbase:
                        if v is not OPAQUE and type(v) is not dict:
                            memo[k] = v
                        mbase += 1
                    else:
                        mbase, mextra = memo_put(memo, mbase, mextra, k, v)
                    i += 2
                elif op == 0x28:  # '(' MARK
                    metastack.append(stack)
                    stack = []
                    i += 1
                elif op == 0x75:  # 'u' SETITEMS
                    items = stack
                    stack = metastack.pop()
                    target = stack[-1]
                    if len(items) & 1:
                        raise PickleParseError("odd number of items for SETITEMS", self.base + i)
                    if wseen:
                        no_wrapper(items, self.base + i)
                    if type(target) is dict and strict:
                        dict_update(target, items)
                    i += 1
                elif op == 0x7D:  # '}' EMPTY_DICT
                    stack.append({})
                    i += 1
                elif op == 0x5D:  # ']' EMPTY_LIST
                    stack.append(OPAQUE)
                    i += 1
                elif op == 0x65:  # 'e' APPENDS
                    items = stack
                    stack = metastack.pop()
                    stack[-1]
                    if wseen:
                        no_wrapper(items, self.base + i)
                    i += 1
                elif op == 0x47:  # 'G' BINFLOAT
                    stack.append(f8(buf, i + 1)[0])
                    i += 9
                elif op == 0x4E:  # 'N' NONE
                    stack.append(None)
                    i += 1
                elif op == 0x4A:  # 'J' BININT
                    stack.append(i4(buf, i + 1)[0])
                    i += 5
                elif op == 0x4D:  # 'M' BININT2
                    stack.append(u2(buf, i + 1)[0])
                    i += 3
                elif op == 0x62:  # 'b' BUILD
                    state = stack.pop()
                    inst = stack[-1]
                    t = type(inst)
                    if t is SimArrayWrapper and joblib:
                        self.pos = i + 1
                        st.stack, st.mbase, st.mextra = stack, mbase, mextra
                        st.frame_end = None if fend == NO_FRAME else fend
                        stack[-1] = self._read_array(inst, state, st, self.base + i)
                        fend = NO_FRAME  # joblib ends the frame before the array data
                        buf, i, n, fr = self.buf, self.pos, len(self.buf), fend - self.base
                        continue
                    if t is SimDtype and strict:  # lenient walks share objects: no mutation
                        inst.setstate(state)
                    elif wseen:
                        no_wrapper(state, self.base + i)
                    i += 1
                elif op == 0x52:  # 'R' REDUCE
                    args = stack.pop()
                    stack[-1] = self._reduce(stack[-1], args, st, self.base + i)
                    i += 1
                elif op == 0x6A:  # 'j' LONG_BINGET
                    k = u4(buf, i + 1)[0]
                    v = memo.get(k, MISSING)
                    if v is MISSING:
                        v = memo_get_opaque(mbase, mextra, k, self.base + i)
                    stack.append(v)
                    i += 5
                elif op == 0x72:  # 'r' LONG_BINPUT
                    k = u4(buf, i + 1)[0]
                    mbase, mextra = memo_put(memo, mbase, mextra, k, stack[-1])
                    i += 5
                elif op == 0x58 or op == 0x42 or op == 0x43 or op == 0x54 or op == 0x55:
                    # BINUNICODE, BINBYTES, SHORT_BINBYTES, BINSTRING, SHORT_BINSTRING
                    if op == 0x43 or op == 0x55:
                        size, hdr = buf[i + 1], 2
                    elif op == 0x54:
                        size, hdr = i4(buf, i + 1)[0], 5
                        if size < 0:
                            raise PickleParseError(
                                "BINSTRING has negative byte count", self.base + i
                            )
                    else:
                        size, hdr = u4(buf, i + 1)[0], 5
                    j = i + hdr + size
                    if op == 0x58 and j <= n and size <= STR_KEEP_MAX:
                        try:
                            stack.append(buf[i + hdr : j].decode("utf-8", "surrogatepass"))
                        except UnicodeDecodeError:
                            raise PickleParseError("string is not UTF-8", self.base + i) from None
                        i = j
                    elif (
                        (op == 0x42 or op == 0x43) and j <= n and (size < 3 or buf[i + hdr] != 0x80)
                    ):
                        stack.append(BYTES)
                        i = j
                    else:
                        self.pos = i + hdr
                        stack.append(
                            self._payload(
                                size, text=op == 0x58, py2str=op == 0x54 or op == 0x55, peek=strict
                            )
                        )
                        buf, i, n, fr = self.buf, self.pos, len(self.buf), fend - self.base
                elif op == 0x29:  # ')' EMPTY_TUPLE
                    stack.append(())
                    i += 1
                elif op == 0x74:  # 't' TUPLE
                    items = stack
                    stack = metastack.pop()
                    stack.append(tuple(items))
                    i += 1
                elif op == 0x73:  # 's' SETITEM
                    v = stack.pop()
                    k = stack.pop()
                    target = stack[-1]
                    if wseen:
                        no_wrapper((k, v), self.base + i)
                    if type(target) is dict and strict:
                        dict_update(target, [k, v])
                    i += 1
                elif op == 0x61:  # 'a' APPEND
                    v = stack.pop()
                    stack[-1]
                    if wseen:
                        no_wrapper(v, self.base + i)
                    i += 1
                elif op == 0x2E:  # '.' STOP
                    if fend != NO_FRAME and i + 1 != fr:
                        # a loader that read the whole frame resumes after it, not here
                        raise PickleParseError("FRAME continues past STOP", self.base + i)
                    value = stack.pop()
                    self.pos = i + 1
                    st.stack, st.mbase, st.mextra = stack, mbase, mextra
                    st.frame_end = None
                    return value
                elif op == 0x30:  # '0' POP
                    if stack:
                        stack.pop()
                    else:
                        stack = metastack.pop()
                    i += 1
                elif op == 0x31:  # '1' POP_MARK
                    stack = metastack.pop()
                    i += 1
                elif op == 0x32:  # '2' DUP
                    stack.append(stack[-1])
                    i += 1
                elif op == 0x51:  # 'Q' BINPERSID
                    pid = stack.pop()
                    if wseen:
                        no_wrapper(pid, self.base + i)
                    stack.append(OPAQUE)
                    i += 1
                elif op == 0x63 or op == 0x69:  # 'c' GLOBAL, 'i' INST
                    at = self.base + i
                    self.pos = i + 1
                    module = utf8(self._readline(), at)
                    if st.lenient and not dotted_identifier(module):
                        return STOPPED  # the import would fail before anything runs
                    name = utf8(self._readline(), at)
                    if st.lenient and not dotted_identifier(name):
                        return STOPPED
                    g = self._global(module, name, at, st)
                    wseen = st.wrapper_seen
                    if op == 0x63:
                        stack.append(g)
                    else:
                        args = stack
                        stack = metastack.pop()
                        stack.append(self._instantiate(g, args, st, at))
                    buf, i, n, fr = self.buf, self.pos, len(self.buf), fend - self.base
                elif op == 0x6F:  # 'o' OBJ
                    args = stack
                    stack = metastack.pop()
                    cls = args.pop(0)
                    stack.append(self._instantiate(cls, args, st, self.base + i))
                    i += 1
                elif op == 0x64 or op == 0x6C:  # 'd' DICT, 'l' LIST
                    items = stack
                    stack = metastack.pop()
                    if wseen:
                        no_wrapper(items, self.base + i)
                    if op == 0x6C:
                        stack.append(OPAQUE)
                    else:
                        if len(items) & 1:
                            raise PickleParseError("odd number of items for DICT", self.base + i)
                        d: dict[Any, Any] = {}
                        dict_update(d, items)
                        stack.append(d)
                    i += 1
                elif op in TEXT_OPS:  # INT, LONG, FLOAT, STRING, UNICODE, GET, PUT, PERSID
                    at = self.base + i
                    self.pos = i + 1
                    line = self._readline()
                    if op == 0x67:  # 'g' GET
                        k = text_int(line, at)
                        v = memo.get(k, MISSING)
                        if v is MISSING:
                            v = memo_get_opaque(mbase, mextra, k, at)
                        stack.append(v)
                    elif op == 0x70:  # 'p' PUT
                        k = text_int(line, at)
                        if k < 0:
                            raise PickleParseError("negative PUT argument", at)
                        mbase, mextra = memo_put(memo, mbase, mextra, k, stack[-1])
                    elif op == 0x50:  # 'P' PERSID
                        if line is not None and not line.isascii():
                            raise PickleParseError("persistent IDs in protocol 0 must be ASCII", at)
                        stack.append(OPAQUE)
                    else:
                        stack.append(text_value(op, line, at))
                    buf, i, n, fr = self.buf, self.pos, len(self.buf), fend - self.base
                else:
                    raise PickleParseError(f"invalid opcode 0x{op:02x}", self.base + i)
        except (IndexError, struct.error):
            # an argument cut by the end of the data, or a pop from an empty stack
            truncated = self.eof and i + 1 + ARG_SIZE.get(buf[i], 0) > n
            if truncated:
                raise PickleParseError("truncated pickle", self.base + i, truncated=True) from None
            raise PickleParseError("stack underflow or missing MARK", self.base + i) from None


def probe(head: bytes, *, whole: bool) -> bool:
    """True when ``head`` reads as the start of a protocol 0/1 pickle.

    A lenient walk that must reach STOP, or the end of ``head`` when it is only
    the start of the file (``whole`` False). Text files fail within a few bytes.
    """
    sub = Walker(Source(io.BytesIO(head), size=len(head)))
    try:
        result = sub.walk_stream(StreamState(joblib=False, lenient=True))
    except PickleParseError as exc:
        return exc.truncated and not whole  # running out of a head is fine
    return result is not STOPPED
