"""Differential fuzzing: mdreg's pickle walker against the real unpicklers.

Cases come from two generators: ``mutate`` (byte flips, opcode insertions, truncations
and gadget splices on small real model pickles) and ``grammar`` (opcode sequences
assembled from a grammar: frames of random declared sizes, memo put/get games,
STACK_GLOBAL with operands fetched from the memo, protocol mixes, EXT codes). The
oracle loads each case with the C and the pure-Python unpickler, each from a real file
(``BufferedReader``) and from ``io.BytesIO``; ``find_class`` records what it is asked
for and returns an inert stand-in, so nothing is ever imported or run. A finding is a
global an unpickler asked for that the walker did not report, on a file the walker did
not call dangerous. A walker that raises instead of reporting is a finding too.

Used by tests/security/test_differential.py (a few thousand cases in ``make test``)
and benchmarks/fuzz.py (``make fuzz``). Imports only the standard library and mdreg;
``real_pickles`` imports the frameworks it pickles.
"""

from __future__ import annotations

import contextlib
import copyreg
import io
import pickle
import pickletools
import random
import struct
import time
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mdreg.scan import Verdict, judge_report, read_pickle_globals

GADGETS = (b"cos\nsystem\n", b"\x8c\x02os\x8c\x06system\x93")
NAMES = [
    ("os", "system"),
    ("posix", "system"),
    ("builtins", "getattr"),
    ("__builtin__", "eval"),
    ("collections", "OrderedDict"),
    ("builtins", "object"),
    ("copyreg", "_reconstructor"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("joblib.numpy_pickle", "NumpyArrayWrapper"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("sklearn.linear_model._logistic", "LogisticRegression"),
    ("subprocess", "Popen"),
]
#: registered while fuzzing (``extensions``): EXT1, EXT2 and EXT4 codes
EXTENSIONS = {
    0x42: ("collections", "OrderedDict"),
    0x1234: ("os", "system"),
    0x123456: ("builtins", "getattr"),
}
SIZE_MAX = 1 << 12  # declared sizes the grammar draws at random stay below this
EDGE = 8191  # a frame starting here defeats BufferedReader.peek (see straddle.py)

_q = struct.Struct("<Q").pack
_i = struct.Struct("<I").pack


# -- the oracle --------------------------------------------------------------------------


class Inert:
    """What every global resolves to: callable with anything, any state, any attribute."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Inert:
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> Inert:
        return Inert()

    def __setstate__(self, state: Any) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return Inert()

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def append(self, value: Any) -> None:
        pass

    def extend(self, values: Any) -> None:
        pass


def _recording(base: type) -> type:
    class Recording(base):  # type: ignore[valid-type, misc]
        def __init__(self, file: Any, found: list[tuple[Any, Any]]) -> None:
            super().__init__(file, encoding="latin1")  # the most permissive str reading
            self.found = found

        def find_class(self, module: Any, name: Any) -> Any:
            self.found.append((module, name))
            return Inert

        def persistent_load(self, pid: Any) -> Any:
            return None

    Recording.__name__ = f"Recording{base.__name__}"
    return Recording


UNPICKLERS = {"c": _recording(pickle.Unpickler), "py": _recording(pickle._Unpickler)}  # type: ignore[attr-defined]


def unpickled_globals(path: Path, data: bytes) -> dict[str, list[tuple[Any, Any]]]:
    """What each unpickler asked find_class for, by "c-file", "c-bytesio", "py-file",
    "py-bytesio"; the globals asked for before a load failed count."""
    out: dict[str, list[tuple[Any, Any]]] = {}
    for kind, cls in UNPICKLERS.items():
        for source in ("file", "bytesio"):
            found: list[tuple[Any, Any]] = []
            try:
                with open(path, "rb") if source == "file" else io.BytesIO(data) as f:
                    cls(f, found).load()
            except Exception:  # noqa: BLE001, S110 - any failure: what ran before it counts
                pass
            out[f"{kind}-{source}"] = found
    return out


@contextlib.contextmanager
def extensions() -> Iterator[None]:
    """Register ``EXTENSIONS`` in copyreg (the walker and the unpicklers both read it)."""
    added = []
    try:
        for code, (module, name) in EXTENSIONS.items():
            if copyreg._inverted_registry.get(code) is None:  # type: ignore[attr-defined]
                copyreg.add_extension(module, name, code)
                added.append(code)
        yield
    finally:
        for code in added:
            copyreg.remove_extension(*EXTENSIONS[code], code)


@contextlib.contextmanager
def bounded_memory(headroom: int = 1 << 30) -> Iterator[None]:
    """Cap this process's address space at its size now plus ``headroom`` (Linux), so that
    a case that makes the C unpickler allocate gigabytes fails with MemoryError instead.
    Its memo is an array as long as the largest PUT key: a key hidden from the in-order
    reading (``memo_bomb``) by a frame trick would otherwise fill memory for minutes."""
    try:
        import resource  # POSIX only

        with open("/proc/self/statm") as f:
            size = int(f.read().split()[0]) * resource.getpagesize()
    except (ImportError, OSError, ValueError):
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = size + headroom
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@dataclass
class Finding:
    seed: int
    generator: str
    data: bytes
    missed: list[tuple[Any, Any]]  # asked for by an unpickler, not reported by the walker
    readers: list[str]  # which unpickler + source asked
    verdict: str  # the walker's, or "crash: ..." when it raised

    def describe(self) -> str:
        return (
            f"seed {self.seed} ({self.generator}): walker verdict {self.verdict}, missed "
            f"{self.missed} (asked by {', '.join(self.readers)})\nbytes: {self.data.hex()}"
        )


MEMO_KEY_MAX = 1 << 16


def memo_bomb(data: bytes) -> bool:
    """A PUT key so large that the C unpickler's memo (an array as long as the largest
    key) would take gigabytes: such cases are skipped. Read in order, as pickletools does."""
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name in ("PUT", "BINPUT", "LONG_BINPUT") and arg > MEMO_KEY_MAX:
                return True
    except Exception:  # noqa: BLE001, S110 - the loaders stop where the opcodes end too
        pass
    return False


def check(data: bytes, path: Path) -> tuple[Finding | None, dict[str, list[tuple[Any, Any]]]]:
    """Run the walker and the oracle on ``data`` (written to ``path``); the caller skips
    ``memo_bomb`` cases."""
    path.write_bytes(data)
    asked = unpickled_globals(path, data)
    try:
        report = read_pickle_globals(path)
        verdict, _ = judge_report(report, None)
    except Exception as exc:  # noqa: BLE001 - a walker crash is a finding of its own
        return Finding(0, "", data, [], [], f"crash: {type(exc).__name__}: {exc}"), asked
    seen = {(g.module, g.name) for g in report.globals}
    missed: dict[tuple[Any, Any], list[str]] = {}
    for reader, names in asked.items():
        for g in names:
            if g not in seen:
                missed.setdefault(g, []).append(reader)
    if missed and verdict is not Verdict.DANGEROUS:
        readers = sorted({r for rs in missed.values() for r in rs})
        return Finding(0, "", data, list(missed), readers, verdict.value), asked
    return None, asked


def minimize(data: bytes, fails: Callable[[bytes], bool], budget: int = 2000) -> bytes:
    """Shrink ``data`` while ``fails`` holds: drop chunks, halving their size."""
    n = max(1, len(data) // 2)
    while n >= 1 and budget > 0:
        i = 0
        while i < len(data) and budget > 0:
            cand = data[:i] + data[i + n :]
            budget -= 1
            if cand and fails(cand):
                data = cand
            else:
                i += n
        n //= 2
    return data


# -- generator (i): mutations of real model pickles -------------------------------------


def real_pickles() -> dict[str, bytes]:
    """Small real model pickles: scikit-learn (pickle protocols 2-5 and joblib), a torch
    state_dict's data.pkl (protocols 2 and 4), an XGBClassifier pickle."""
    import joblib  # heavy: only to build the corpus
    import numpy as np
    import torch
    import xgboost
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    y = (x[:, 0] > 0).astype(int)
    models = {
        "lr": LogisticRegression().fit(x, y),
        "rf": RandomForestClassifier(n_estimators=2, max_depth=3, random_state=0).fit(x, y),
    }
    out = {}
    for name, model in models.items():
        for proto in (2, 3, 4, 5):
            out[f"{name}-p{proto}"] = pickle.dumps(model, protocol=proto)
        buf = io.BytesIO()
        joblib.dump(model, buf)
        out[f"{name}-joblib"] = buf.getvalue()
    for proto in (2, 4):
        buf = io.BytesIO()
        torch.save(torch.nn.Linear(3, 2).state_dict(), buf, pickle_protocol=proto)
        with zipfile.ZipFile(buf) as z:
            name = next(n for n in z.namelist() if n.endswith("/data.pkl"))
            out[f"torch-p{proto}"] = z.read(name)
    xgb = xgboost.XGBClassifier(n_estimators=2, max_depth=2).fit(x, y)
    out["xgboost"] = pickle.dumps(xgb, protocol=pickle.HIGHEST_PROTOCOL)
    return out


def _frames(data: bytes) -> list[int]:
    """Offsets of the FRAME opcodes of a well-formed pickle."""
    try:
        return [pos for op, _, pos in pickletools.genops(data) if op.name == "FRAME"]
    except Exception:  # noqa: BLE001 - a joblib file: opcodes end at the first array
        return []


def _insertion(rng: random.Random, data: bytes, at: int) -> bytes:
    k = rng.randrange(9)
    if k == 0:  # FRAME: to the end, to a random later byte, or a small random size
        size = rng.choice(
            [len(data) - at, rng.randint(0, max(0, len(data) - at)), rng.randint(0, 64)]
        )
        return b"\x95" + _q(size)
    if k == 1:
        return b"\x94"
    key = rng.choice([0, 1, 2, 3, rng.randrange(256)])
    return [
        b"q" + bytes([key]),
        b"r" + _i(key),
        b"p%d\n" % key,
        b"h" + bytes([key]),
        b"j" + _i(key),
        b"g%d\n" % key,
        b"\x80" + bytes([rng.randrange(7)]),
    ][k - 2]


def mutate(rng: random.Random, name: str, data: bytes) -> tuple[bytes, str]:
    ops = []
    frames = _frames(data)
    if frames and rng.random() < 0.4:  # resize a real frame: straddles, early ends
        pos = rng.choice(frames)
        size = struct.unpack_from("<Q", data, pos + 1)[0]
        size = max(0, size + rng.choice([-1, 1]) * rng.randint(1, 12))
        data = data[: pos + 1] + _q(size) + data[pos + 9 :]
        ops.append("frame-size")
    for _ in range(rng.randint(1, 3)):
        k = rng.randrange(4)
        at = rng.randint(0, len(data))
        if k == 0 and data:
            data = bytearray(data)
            for _ in range(rng.randint(1, 4)):
                p = rng.randrange(len(data))
                data[p] = (
                    rng.randrange(256) if rng.random() < 0.5 else data[p] ^ 1 << rng.randrange(8)
                )
            data = bytes(data)
            ops.append("flip")
        elif k == 1:
            data = data[:at] + _insertion(rng, data, at) + data[at:]
            ops.append("insert")
        elif k == 2:
            data = data[:at] + (b"." if rng.random() < 0.3 else b"")
            ops.append("truncate")
        else:
            gadget = rng.choice(GADGETS) + rng.choice([b"", b"0", b")R0", b"N\x85R0"])
            data = data[:at] + gadget + data[at:]
            ops.append("gadget")
    return data, f"mutate:{name}:{'+'.join(ops)}"


# -- generator (ii): opcode sequences from a grammar ------------------------------------


class _Grammar:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.memo_len = 0  # what MEMOIZE's key would be
        self.keys: list[int] = []  # keys put so far

    def string(self, s: str) -> list[bytes]:
        b = s.encode()
        k = self.rng.randrange(7)
        if k == 0 and len(b) < 256:
            return [b"\x8c" + bytes([len(b)]) + b]
        if k == 1:
            return [b"X" + _i(len(b)) + b]
        if k == 2:
            return [b"\x8d" + _q(len(b)) + b]
        if k == 3:
            return [b"V" + b + b"\n"]
        if k == 4:
            return [b"S" + repr(s).encode() + b"\n"]
        if k == 5 and len(b) < 256:
            return [b"U" + bytes([len(b)]) + b]
        return [b"T" + _i(len(b)) + b]

    def put(self) -> tuple[list[bytes], int]:
        rng = self.rng
        k = rng.randrange(4)
        if k == 0:
            key = self.memo_len
            op = b"\x94"
        else:
            key = rng.choice([self.memo_len, rng.randrange(8), *self.keys[-2:]])
            op = [b"q" + bytes([key % 256]), b"r" + _i(key), b"p%d\n" % key][k - 1]
            key = key % 256 if k == 1 else key
        if key not in self.keys:
            self.keys.append(key)
            self.memo_len += 1
        return [op], key

    def get(self, key: int) -> list[bytes]:
        k = self.rng.randrange(3)
        if k == 0 and key < 256:
            return [b"h" + bytes([key])]
        return [b"j" + _i(key)] if k == 1 else [b"g%d\n" % key]

    def global_(self, module: str, name: str) -> list[bytes]:
        rng = self.rng
        k = rng.randrange(6)
        if k == 0:
            return [b"c" + module.encode() + b"\n" + name.encode() + b"\n"]
        if k == 1:  # each line its own chunk: a frame may end between them
            return [b"c" + module.encode() + b"\n", name.encode() + b"\n"]
        if k == 2:
            return self.string(module) + self.string(name) + [b"\x93"]
        if k == 3:  # operands through the memo, maybe with a decoy put over the same key
            out = []
            keys = []
            for s in (module, name):
                decoy = rng.choice(NAMES)[rng.randrange(2)]
                out += self.string(decoy if rng.random() < 0.3 else s)
                ops, key = self.put()
                out += [*ops, b"0"]
                if rng.random() < 0.3:  # overwrite the key
                    out += [*self.string(s), b"p%d\n" % key, b"0"]
                keys.append(key)
            return out + self.get(keys[0]) + self.get(keys[1]) + [b"\x93"]
        if k == 4:
            codes = [c for c, g in EXTENSIONS.items() if g == (module, name)]
            code = codes[0] if codes and rng.random() < 0.8 else rng.choice([*EXTENSIONS, 7, 300])
            if code < 256:
                return [b"\x82" + bytes([code])]
            return [b"\x83" + struct.pack("<H", code)] if code < 65536 else [b"\x84" + _i(code)]
        return [b"(", *self.value(2), b"i" + module.encode() + b"\n" + name.encode() + b"\n"]

    def value(self, depth: int) -> list[bytes]:
        rng = self.rng
        k = rng.randrange(14 if depth > 0 else 8)
        if k == 0:
            return [b"N"]
        if k == 1:
            return [
                rng.choice(
                    [
                        b"K\x07",
                        b"J" + _i(rng.randrange(1 << 32)),
                        b"I42\n",
                        b"\x8a\x02\x01\x01",
                        b"G" + struct.pack(">d", 0.5),
                        b"\x88",
                    ]
                )
            ]
        if k == 2:
            n = rng.randint(0, 40)
            body = bytes(rng.randrange(256) for _ in range(n))
            if rng.random() < 0.2:  # bytes that look like a nested pickle
                body = b"\x80\x04" + rng.choice(GADGETS) + b"."
                n = len(body)
            return [
                rng.choice([b"C" + bytes([n]), b"B" + _i(n), b"\x8e" + _q(n), b"\x96" + _q(n)])
                + body
            ]
        if k == 3:
            return self.string(rng.choice(NAMES)[rng.randrange(2)])
        if k == 4:
            return [rng.choice([b")", b"]", b"}"])]
        if k == 5 and self.keys:
            return self.get(rng.choice(self.keys))
        if k in (6, 7):
            return self.global_(*rng.choice(NAMES))
        if k == 8:  # a tuple
            items = [c for _ in range(rng.randint(0, 3)) for c in self.value(depth - 1)]
            return [b"(", *items, b"t"]
        if k == 9:
            return [b"]", b"(", *self.value(depth - 1), *self.value(depth - 1), b"e"]
        if k == 10:
            return [b"}", b"(", *self.string("k"), *self.value(depth - 1), b"u"]
        if k == 11:  # a call
            return [*self.global_(*rng.choice(NAMES)), b"(", *self.value(depth - 1), b"t", b"R"]
        if k == 12:
            return [
                *self.global_(*rng.choice(NAMES)),
                b")",
                rng.choice([b"\x81", b"R"]),
                b"}",
                *self.string("a"),
                *self.value(depth - 1),
                b"s",
                b"b",
            ]
        ops, _ = self.put()
        return [*self.value(depth - 1), *ops]

    def stream(self) -> list[bytes]:
        rng = self.rng
        proto = rng.choice([None, 0, 1, 2, 3, 4, 4, 5, 5, 5])
        chunks = [] if proto is None else [b"\x80" + bytes([proto])]
        for _ in range(rng.randint(1, 6)):
            chunks += [*self.value(3), b"0"]
        return [*chunks, *self.value(2), b"."]


def _framed(rng: random.Random, chunks: list[bytes]) -> bytes:
    """Join chunks, wrapping random runs of them in FRAMEs whose declared size is mostly
    right and sometimes off by a few bytes (or nested, or at offset 8191)."""
    out = bytearray(chunks[0] if chunks[0][:1] == b"\x80" else b"")
    i = 1 if out else 0
    while i < len(chunks):
        if rng.random() < 0.3:
            m = rng.randint(1, 6)
            body = b"".join(chunks[i : i + m])
            if rng.random() < 0.15 and m > 1:  # a frame inside the frame
                cut = rng.randint(1, m - 1)
                rest = b"".join(chunks[i + cut : i + m])
                inner = max(0, len(rest) + rng.randint(-2, 2))
                body = b"".join(chunks[i : i + cut]) + b"\x95" + _q(inner) + rest
            r = rng.random()
            delta = 0 if r < 0.6 else rng.randint(-8, 8) if r < 0.95 else rng.randint(-64, 64)
            size = max(0, min(SIZE_MAX, len(body) + delta))
            if rng.random() < 0.08:  # a filler string + POP: the frame starts at 8191 +- 1
                fill = EDGE + rng.randint(-1, 1) - (len(out) + 5 + 1 + 9)
                if fill >= 0:
                    out += b"X" + _i(fill) + b"A" * fill + b"0"
            out += b"\x95" + _q(size) + body
            i += m
        else:
            out += chunks[i]
            i += 1
    return bytes(out)


def grammar(rng: random.Random) -> tuple[bytes, str]:
    g = _Grammar(rng)
    data = _framed(rng, g.stream())
    if rng.random() < 0.1:  # a second stream after STOP
        data += _framed(rng, _Grammar(rng).stream())
    return data, "grammar"


# -- driving -----------------------------------------------------------------------------


def make_case(seed: int, bases: dict[str, bytes]) -> tuple[bytes, str]:
    """Case ``seed``: the same bytes every run."""
    rng = random.Random(seed)
    if bases and rng.random() < 0.6:
        name = rng.choice(sorted(bases))
        return mutate(rng, name, bases[name])
    return grammar(rng)


@dataclass
class Stats:
    cases: int = 0
    seconds: float = 0.0
    generators: Counter[str] = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)
    skipped: int = 0  # memo bombs, not run
    asked: int = 0  # cases where some unpickler asked for a global
    split: int = 0  # cases where the C and Python unpicklers asked for different globals


def fuzz(
    seeds: Iterable[int], bases: dict[str, bytes], workdir: Path, *, minimize_findings: bool = True
) -> Stats:
    stats = Stats()
    path = workdir / "case.pkl"
    start = time.perf_counter()
    with extensions(), bounded_memory(), warnings.catch_warnings():
        # pickletools and the unpicklers warn about STRING escapes like "\\q": noise here
        warnings.simplefilter("ignore", DeprecationWarning)
        for seed in seeds:
            data, gen = make_case(seed, bases)
            stats.cases += 1
            stats.generators[":".join(gen.split(":")[:2])] += 1  # grammar, mutate:BASE
            if memo_bomb(data):
                stats.skipped += 1
                continue
            finding, asked = check(data, path)
            if any(asked.values()):
                stats.asked += 1
            if asked["c-file"] != asked["py-file"] or asked["c-bytesio"] != asked["py-bytesio"]:
                stats.split += 1
            if finding is not None:
                finding.seed, finding.generator = seed, gen
                if minimize_findings:
                    finding.data = minimize(
                        data, lambda d: not memo_bomb(d) and check(d, path)[0] is not None
                    )
                stats.findings.append(finding)
    stats.seconds = time.perf_counter() - start
    return stats
