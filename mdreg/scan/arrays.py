"""How many raw bytes joblib writes after a ``NumpyArrayWrapper``, worked out
from the pickled wrapper state alone (no numpy import).

``joblib.dump`` pickles a ``NumpyArrayWrapper`` (subclass, shape, order, dtype,
allow_mmap, numpy_array_alignment_bytes) and, right after the BUILD opcode that
completes it, writes the array data into the file outside the pickle opcodes:
an optional alignment byte and padding (joblib >= 1.2), then
``prod(shape) * dtype.itemsize`` bytes; object arrays are written as a nested
pickle instead. ``NumpyUnpickler.load_build`` reads exactly that back.

Only the shapes joblib itself writes are accepted. Anything else (odd dtype
flags, a shape that is not a tuple of ints, a second BUILD) raises
``ArrayLayoutError``: the scanner would rather call a file unparseable than
guess how many bytes to skip, because a wrong guess lets opcodes hide.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mdreg.scan.values import SimGlobal, dict_known

_TYPESTR = re.compile(r"([bifucmMOSUV])(\d+)\Z")
# itemsizes numpy accepts for the fixed-size kinds on the platforms joblib runs on
_FIXED_SIZES = {
    "b": {1},
    "i": {1, 2, 4, 8},
    "u": {1, 2, 4, 8},
    "f": {2, 4, 8, 12, 16},
    "c": {8, 16, 24, 32},
    "m": {8},
    "M": {8},
    "O": {4, 8},
}
_MAX_COUNT = 2**63  # joblib multiplies the shape in int64


class ArrayLayoutError(Exception):
    """The wrapper or dtype state is not one joblib writes; its byte size is unknown."""


class SimDtype:
    """A ``numpy.dtype`` rebuilt by REDUCE ``numpy.dtype(typestr, align, copy)`` + BUILD."""

    __slots__ = ("built", "hasobject", "itemsize", "kind", "problem")

    def __init__(self, args: Any) -> None:
        self.kind = ""
        self.itemsize = 0
        self.hasobject = False
        self.problem: str | None = None
        self.built = False
        if type(args) is not tuple or len(args) != 3 or type(args[0]) is not str:
            self.problem = f"numpy.dtype called with {args!r}"
            return
        m = _TYPESTR.match(args[0])
        if not m:
            self.problem = f"unsupported dtype {args[0]!r}"
            return
        kind, size = m.group(1), int(m.group(2))
        if kind in _FIXED_SIZES and size not in _FIXED_SIZES[kind]:
            self.problem = f"unsupported dtype {args[0]!r}"
            return
        self.kind = kind
        # numpy's reduce writes the length in characters for 'U' (4 bytes each)
        self.itemsize = size * 4 if kind == "U" else size
        self.hasobject = kind == "O"

    def setstate(self, state: Any) -> None:
        """Apply the BUILD state (version 3: 8 fields, version 4: 9 with metadata)."""
        if self.problem:
            return
        if self.built:
            self.problem = "dtype state set twice"
            return
        self.built = True
        if type(state) is not tuple or (len(state), state[0]) not in ((8, 3), (9, 4)):
            self.problem = f"unsupported dtype state {state!r:.80}"
            return
        _version, endian, subarray, names, fields, elsize, _alignment, flags = state[:8]
        if endian not in ("<", ">", "|", "=") or type(elsize) is not int or type(flags) is not int:
            self.problem = "malformed dtype state"
            return
        contains_object = self.kind == "O"
        if subarray is not None:
            if not (type(subarray) is tuple and len(subarray) == 2 and _valid(subarray[0])):
                self.problem = "malformed dtype subarray"
                return
            contains_object = contains_object or subarray[0].hasobject
        if names is not None or fields is not None:
            if type(names) is not tuple or not dict_known(fields):
                self.problem = "malformed dtype fields"
                return
            for value in fields.values():
                if not (type(value) is tuple and len(value) in (2, 3) and _valid(value[0])):
                    self.problem = "malformed dtype field"
                    return
                contains_object = contains_object or value[0].hasobject
        # numpy takes hasobject from the pickled flags (bit 0), not from the fields:
        # a mismatch is a crafted dtype meant to change how joblib reads the array.
        if bool(flags & 1) != contains_object:
            self.problem = "dtype flags disagree with its fields"
            return
        self.hasobject = contains_object
        if self.kind in "SUV":
            # flexible kinds: numpy takes the itemsize from the state
            if elsize < 0:
                self.problem = "negative dtype itemsize"
                return
            self.itemsize = elsize


def _valid(value: Any) -> bool:
    return type(value) is SimDtype and value.problem is None


class SimArrayWrapper:
    """A ``joblib.numpy_pickle.NumpyArrayWrapper`` instance awaiting its BUILD."""

    __slots__ = ("built",)

    def __init__(self) -> None:
        self.built = False


@dataclass(frozen=True)
class ArrayLayout:
    """What follows the BUILD of a wrapper in the file."""

    nbytes: int  # raw data bytes (0 when the array is a nested pickle)
    nested_pickle: bool  # object dtype: a nested pickle stream follows
    aligned: bool  # an alignment byte + padding precede the data


def wrapper_layout(wrapper: SimArrayWrapper, state: Any) -> ArrayLayout:
    """The layout joblib reads after BUILD(``state``) on ``wrapper``."""
    if wrapper.built:
        raise ArrayLayoutError("NumpyArrayWrapper built twice")
    wrapper.built = True
    if not dict_known(state):
        raise ArrayLayoutError("NumpyArrayWrapper state is not a plain dict")
    attrs = state
    if not all(type(k) is str for k in attrs):
        raise ArrayLayoutError("NumpyArrayWrapper state has non-str keys")
    shape, dtype = attrs.get("shape"), attrs.get("dtype")
    if type(shape) is not tuple or not all(type(d) is int and d >= 0 for d in shape):
        raise ArrayLayoutError(f"NumpyArrayWrapper shape {shape!r:.80} is not a tuple of ints")
    if type(dtype) is not SimDtype:
        raise ArrayLayoutError("NumpyArrayWrapper dtype is not a numpy.dtype")
    if dtype.problem:
        raise ArrayLayoutError(f"NumpyArrayWrapper dtype: {dtype.problem}")
    if attrs.get("order", "C") not in ("C", "F"):
        raise ArrayLayoutError("NumpyArrayWrapper order is not 'C' or 'F'")
    subclass = attrs.get("subclass")
    if subclass is not None and type(subclass) is not SimGlobal:
        raise ArrayLayoutError("NumpyArrayWrapper subclass is not a class reference")
    allow_mmap = attrs.get("allow_mmap", False)
    if type(allow_mmap) is not bool:
        raise ArrayLayoutError("NumpyArrayWrapper allow_mmap is not a bool")
    alignment = attrs.get("numpy_array_alignment_bytes")
    if alignment is not None and (type(alignment) is not int or alignment <= 0):
        raise ArrayLayoutError("NumpyArrayWrapper alignment is not a positive int")
    if dtype.hasobject:
        if allow_mmap:  # joblib never writes this; a memmap read would disagree
            raise ArrayLayoutError("object array marked as memory-mappable")
        return ArrayLayout(nbytes=0, nested_pickle=True, aligned=False)
    if dtype.itemsize <= 0:
        raise ArrayLayoutError("NumpyArrayWrapper dtype has no itemsize")
    count = 1
    for d in shape:
        count *= d
    if count >= _MAX_COUNT:
        raise ArrayLayoutError("NumpyArrayWrapper shape overflows int64")
    return ArrayLayout(
        nbytes=count * dtype.itemsize, nested_pickle=False, aligned=alignment is not None
    )
