"""The joblib side of the walker: follow ``NumpyArrayWrapper`` objects to their
BUILD and skip the array data after it exactly as ``joblib.load`` reads it.

A wrapper class or instance going anywhere else (into a list, a call, another
object's state) is refused: the walker could not tell whether joblib would then
read array bytes, and guessing wrong would let opcodes hide.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any, BinaryIO, cast

from mdreg.scan.arrays import ArrayLayoutError, SimArrayWrapper, SimDtype, wrapper_layout
from mdreg.scan.stream import OPCODE_BYTES, PickleParseError, ScanLimitError, Source, StreamState
from mdreg.scan.values import OPAQUE, SimGlobal

SHADOW_MAX = 1 << 16  # bytes of unaligned array data read as plain pickle opcodes, at most


class JoblibArrays:
    """Mixin for ``Walker``: calls, instantiation and BUILD of array wrappers."""

    # provided by Walker
    where: str
    base: int
    found: list[Any]
    reopen: Callable[[], BinaryIO] | None
    src_origin: int
    offset: Callable[[], int]
    _take: Callable[[int, str], bytes]
    _skip: Callable[[int, str], None]
    walk_stream: Callable[[StreamState], Any]

    def _reduce(self, func: Any, args: Any, st: StreamState, at: int) -> Any:
        if type(func) is SimGlobal:
            if func.name == "dtype" and func.module in _NUMPY_DTYPE_MODULES:
                return SimDtype(args)
            if st.wrapper_seen:
                if func.array_wrapper:
                    raise PickleParseError("NumpyArrayWrapper called directly", at)
                if (func.module, func.name) in _COPYREG_NEW and type(args) is tuple and args:
                    cls = args[0]
                    if type(cls) is SimGlobal and cls.array_wrapper:
                        if _reconstructor_of_object(func, args):
                            no_wrapper(args[1:], at)
                            return SimArrayWrapper()
                        raise PickleParseError(
                            "NumpyArrayWrapper rebuilt in an unsupported way", at
                        )
        if st.wrapper_seen:
            no_wrapper(func, at)
            no_wrapper(args, at)
        return OPAQUE

    def _instantiate(self, cls: Any, args: list[Any], st: StreamState, at: int) -> Any:
        if st.wrapper_seen:
            if type(cls) is SimGlobal and cls.array_wrapper:
                if args:
                    raise PickleParseError("NumpyArrayWrapper called with arguments", at)
                return SimArrayWrapper()
            no_wrapper(cls, at)
            no_wrapper(args, at)
        return OPAQUE

    # -- joblib arrays ------------------------------------------------------

    def _read_array(self, wrapper: SimArrayWrapper, state: Any, st: StreamState, at: int) -> Any:
        """Skip what joblib reads after BUILD on a wrapper; return the array stand-in."""
        try:
            layout = wrapper_layout(wrapper, state)
        except ArrayLayoutError as exc:
            raise PickleParseError(str(exc), at) from None
        here = self.offset()
        if st.frame_end is not None and st.frame_end > here:
            # joblib reads the array from the file, past the buffered frame:
            # bytes left in the frame would be parsed after the array
            raise PickleParseError("array data inside a pickle frame", at)
        if layout.nested_pickle:
            # object arrays: a nested pickle read by a fresh Unpickler
            self.walk_stream(StreamState(joblib=False))
            return OPAQUE
        if layout.aligned:
            pad = self._take(1, "array alignment byte")[0]
            if pad in OPCODE_BYTES:
                # joblib writes 1..16; an opcode byte here would let plain
                # pickle.load read on into the array bytes
                raise PickleParseError(f"array alignment byte {pad} is a pickle opcode", here)
            self._skip(pad, "array alignment padding")
        elif layout.nbytes:
            self._shadow(st, at)
        self._skip(layout.nbytes, "array data")
        return OPAQUE

    def _shadow(self, st: StreamState, at: int) -> None:
        """Unaligned arrays (joblib < 1.2): read on as plain ``pickle.load`` would.

        A plain unpickler does not know the wrapper and goes on reading the array
        bytes as opcodes, so crafted array data could import globals there. The
        data is walked leniently on a second handle (payloads it announces are
        seeked over) until it fails, as random data does within a few bytes.
        Walking more than SHADOW_MAX bytes without failing is ambiguous: error.
        Without a seekable handle (compressed files, zip members) this is
        skipped: only joblib.load reads those.
        """
        if self.reopen is None:
            return
        start = self.offset()
        where = "array data read by pickle.load"
        with self.reopen() as raw:
            raw.seek(0, io.SEEK_END)
            size = raw.tell()
            raw.seek(start - self.src_origin)
            src = Source(raw, size=size, max_bytes=SHADOW_MAX)
            src.offset = start - self.src_origin
            # a mixin: type(self) is the Walker it is mixed into, built from (src, where=)
            walker = cast("Callable[..., JoblibArrays]", type(self))
            sub = walker(src, where=f"{self.where} > {where}" if self.where else where)
            sub.base = start
            shadow = StreamState(
                joblib=False,
                lenient=True,
                stack=[*st.stack[:-1], OPAQUE],  # the wrapper, as a plain object
                metastack=[list(s) for s in st.metastack],
                memo=dict(st.memo),
                mbase=st.mbase,
                mextra=None if st.mextra is None else set(st.mextra),
                proto=st.proto,
            )
            try:
                sub.walk_stream(shadow)
            except ScanLimitError:
                raise PickleParseError("array data reads as pickle opcodes", at) from None
            except PickleParseError:
                pass  # where plain pickle.load fails too
        self.found.extend(sub.found)


_NUMPY_DTYPE_MODULES = frozenset({"numpy", "numpy.core.multiarray", "numpy._core.multiarray"})
_COPYREG_NEW = frozenset(
    {
        ("copyreg", "_reconstructor"),
        ("copy_reg", "_reconstructor"),
        ("copyreg", "__newobj__"),
        ("copy_reg", "__newobj__"),
        ("copyreg", "__newobj_ex__"),
    }
)


def _reconstructor_of_object(func: SimGlobal, args: tuple[Any, ...]) -> bool:
    """copyreg._reconstructor(cls, object, None) or copyreg.__newobj__(cls): a bare instance."""
    if func.name == "_reconstructor":
        base = args[1] if len(args) == 3 else None
        return (
            type(base) is SimGlobal
            and base.name == "object"
            and base.module in ("builtins", "__builtin__")
            and args[2] is None
        )
    return True


def no_wrapper(value: Any, at: int) -> None:
    """Refuse a NumpyArrayWrapper class or instance going anywhere the walker cannot follow."""
    t = type(value)
    if t is SimGlobal:
        if value.array_wrapper:
            raise PickleParseError("NumpyArrayWrapper used in an unsupported way", at)
    elif t is SimArrayWrapper:
        raise PickleParseError("NumpyArrayWrapper instance used in an unsupported way", at)
    elif t is tuple or t is list:
        for item in value:
            no_wrapper(item, at)
