"""Stand-ins for the objects a pickle would build, as the opcode walker tracks them.

The walker keeps real Python values only where it needs them: strings (module
and class names for STACK_GLOBAL), small ints, tuples and small dicts (the
state of joblib's array wrapper and of numpy dtypes). Everything else is one
shared ``OPAQUE`` marker, so memory stays small on big pickles.
"""

from __future__ import annotations

from typing import Any


class _Marker:
    __slots__ = ("label",)

    def __init__(self, label: str) -> None:
        self.label = label

    def __repr__(self) -> str:
        return f"<{self.label}>"


#: Any object whose value the walker does not track (call results, lists, sets).
OPAQUE = _Marker("opaque")
#: A bytes or bytearray payload; never a str, so never a module name.
BYTES = _Marker("bytes")
#: A str too long to be kept; it may be a str, so STACK_GLOBAL on it is unresolved.
LONG_STR = _Marker("long str")
#: An int too long to be kept.
BIG_INT = _Marker("big int")


class SimGlobal:
    """The object a GLOBAL / STACK_GLOBAL pushes: a reference to ``module.name``."""

    __slots__ = ("array_wrapper", "module", "name")

    def __init__(self, module: str, name: str) -> None:
        self.module = module
        self.name = name
        # joblib replaces instances of this class by raw array bytes on BUILD.
        self.array_wrapper = name.rpartition(".")[2] == "NumpyArrayWrapper"

    def is_(self, module: str, name: str) -> bool:
        return self.name == name and self.module == module

    def __repr__(self) -> str:
        return f"<global {self.module}.{self.name}>"


#: Key put in a tracked dict that grew too big or got an unhashable key: its
#: contents are no longer known. Tracked dicts are plain ``dict`` objects, which
#: keeps EMPTY_DICT + SETITEMS at C speed on pickles of many small dicts.
DEGRADED = _Marker("degraded dict")
DICT_KEEP_MAX = 256


def dict_update(target: dict[Any, Any], items: list[Any]) -> None:
    """SETITEMS / DICT on a tracked dict: ``items`` alternates keys and values."""
    if DEGRADED in target:
        return
    try:
        target.update(zip(items[0::2], items[1::2]))
    except TypeError:  # a key the walker cannot hash
        target.clear()
        target[DEGRADED] = True
        return
    if len(target) > DICT_KEEP_MAX:
        target.clear()
        target[DEGRADED] = True


def dict_known(value: Any) -> bool:
    """A tracked dict whose contents are all known."""
    return type(value) is dict and DEGRADED not in value
