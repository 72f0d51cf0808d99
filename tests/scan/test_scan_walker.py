"""The opcode walker: every global a load would import is named, whatever the
protocol or memo tricks, and nothing is ever executed."""

from __future__ import annotations

import contextlib
import io
import pickle
import pickletools
import random
import struct
from pathlib import Path

import pytest

from mdreg.scan import Verdict, read_pickle_globals, scan_path

pytestmark = pytest.mark.security

PROTO4 = b"\x80\x04"
STOP = b"."


def sbu(text: str) -> bytes:
    """SHORT_BINUNICODE"""
    data = text.encode()
    return b"\x8c" + bytes([len(data)]) + data


def binput(k: int) -> bytes:
    return b"q" + bytes([k])


def binget(k: int) -> bytes:
    return b"h" + bytes([k])


def call_with_str(arg: str) -> bytes:
    """Push (arg,) and REDUCE the callable below it."""
    return sbu(arg) + b"\x85R"


def write(tmp_path: Path, data: bytes, name: str = "model.pkl") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def dotted(path: Path) -> list[str]:
    return [g.dotted for g in read_pickle_globals(path).globals]


def test_reduce_payload_is_dangerous_with_name_and_offset(tmp_path, runs_shell):
    data = pickle.dumps({"model": "ok", "x": runs_shell}, protocol=4)
    path = write(tmp_path, data)
    report = scan_path(path, ["sklearn"])
    assert report.verdict is Verdict.DANGEROUS
    (finding,) = report.findings
    assert finding.ref.dotted == "posix.system"
    # the offset is the STACK_GLOBAL opcode in the file
    ops = [(op.name, pos) for op, _, pos in pickletools.genops(data)]
    assert ("STACK_GLOBAL", finding.ref.offset) in ops
    assert finding.path == path
    assert "denied" in finding.reason


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_every_protocol_names_the_payload(tmp_path, runs_shell, protocol):
    path = write(tmp_path, pickle.dumps([1, runs_shell], protocol=protocol))
    assert "posix.system" in dotted(path)
    assert scan_path(path).verdict is Verdict.DANGEROUS


def test_eval_and_popen_are_dangerous(tmp_path, runs_eval, runs_popen):
    # protocol 2 writes Python 2 names: builtins -> __builtin__, subprocess -> commands
    path = write(tmp_path, pickle.dumps((runs_eval, runs_popen), protocol=2))
    report = scan_path(path, ["sklearn"])
    assert report.verdict is Verdict.DANGEROUS
    names = {f.ref.dotted for f in report.findings}
    assert names == {"__builtin__.eval", "commands.Popen"}
    path = write(tmp_path, pickle.dumps((runs_eval, runs_popen), protocol=4))
    names = {f.ref.dotted for f in scan_path(path, ["sklearn"]).findings}
    assert names == {"builtins.eval", "subprocess.Popen"}


def test_stack_global_operands_fetched_from_memo(tmp_path, canary):
    # "os" and "system" are memoized, popped, and fetched back with BINGET
    # after decoy strings: only a memo-aware stack simulation resolves them.
    data = (
        PROTO4
        + sbu("os") + binput(0) + b"0"
        + sbu("system") + binput(1) + b"0"
        + sbu("sklearn.tree") + sbu("DecisionTreeClassifier") + b"00"
        + binget(0) + binget(1) + b"\x93"
        + call_with_str(f"touch {canary}")
        + STOP
    )  # fmt: skip
    path = write(tmp_path, data)
    assert dotted(path) == ["os.system"]
    report = scan_path(path, ["sklearn"])
    assert report.verdict is Verdict.DANGEROUS


def test_stack_global_with_memoize_and_long_binget(tmp_path, canary):
    data = (
        PROTO4
        + sbu("sklearn.base") + b"\x94"  # memo 0
        + sbu("subprocess") + b"\x94"  # memo 1
        + sbu("getoutput") + b"\x94"  # memo 2
        + b"000"
        + b"j" + struct.pack("<I", 1) + b"j" + struct.pack("<I", 2) + b"\x93"
        + call_with_str(f"touch {canary}")
        + STOP
    )  # fmt: skip
    assert dotted(write(tmp_path, data)) == ["subprocess.getoutput"]


def test_memo_overwritten_with_put_keys_out_of_order(tmp_path):
    # PUT 5 then MEMOIZE: MEMOIZE's key is len(memo) == 1, not 5 or 6
    data = (
        PROTO4
        + sbu("sklearn.base") + binput(5) + b"\x94"  # memo 5 and memo 1
        + sbu("os") + binput(1)  # overwrites memo 1
        + sbu("nope") + b"\x94"  # memo 2 (len is 2)
        + b"000"
        + binget(1) + sbu("system") + b"\x93"
        + b")R" + STOP
    )  # fmt: skip
    assert dotted(write(tmp_path, data)) == ["os.system"]


def test_dup_and_pop_mark_do_not_fool_the_stack(tmp_path):
    data = (
        PROTO4
        + sbu("os")
        + b"(" + sbu("sklearn.base") + sbu("BaseEstimator") + b"1"  # MARK ... POP_MARK
        + sbu("system") + b"2" + b"0"  # DUP, POP
        + b"\x93" + b")R" + STOP
    )  # fmt: skip
    assert dotted(write(tmp_path, data)) == ["os.system"]


def test_unresolvable_stack_global_is_dangerous(tmp_path):
    # module and name are call results: the scanner cannot know them
    data = (
        PROTO4
        + sbu("builtins") + sbu("str") + b"\x93" + sbu("o") + b"\x85R"
        + sbu("builtins") + sbu("str") + b"\x93" + sbu("s") + b"\x85R"
        + b"\x93" + b")R" + STOP
    )  # fmt: skip
    path = write(tmp_path, data)
    assert dotted(path) == ["builtins.str", "builtins.str", "?.?"]
    report = scan_path(path)
    assert report.verdict is Verdict.DANGEROUS
    assert any(f.ref and f.ref.module == "?" for f in report.findings)


def test_getattr_chain_is_dangerous(tmp_path):
    # getattr(__import__("os"), "system")("...")
    data = b"cbuiltins\ngetattr\n(cbuiltins\n__import__\n(S'os'\ntRS'system'\ntR(S'id'\ntR."
    path = write(tmp_path, data)
    assert dotted(path) == ["builtins.getattr", "builtins.__import__"]
    report = scan_path(path, ["sklearn"])
    assert report.verdict is Verdict.DANGEROUS
    assert {f.ref.name for f in report.findings} == {"getattr", "__import__"}


def test_dotted_name_reaching_dunders_is_dangerous(tmp_path):
    # protocol 4 resolves dotted names attribute by attribute
    data = PROTO4 + sbu("sklearn.base") + sbu("BaseEstimator.__init__.__globals__") + b"\x93."
    report = scan_path(write(tmp_path, data), ["sklearn"])
    assert report.verdict is Verdict.DANGEROUS


def test_inst_and_obj_opcodes(tmp_path):
    inst = b"(S'touch x'\nios\nsystem\n."
    assert dotted(write(tmp_path, inst, "inst.pkl")) == ["os.system"]
    obj = b"(cposix\nsystem\nS'id'\no."
    assert dotted(write(tmp_path, obj, "obj.pkl")) == ["posix.system"]


def test_extension_codes_are_dangerous(tmp_path):
    report = scan_path(write(tmp_path, PROTO4 + b"\x82\x07)R."))
    assert report.verdict is Verdict.DANGEROUS
    assert report.reports[0].globals[0].module == "?"


def test_second_stream_after_stop_is_walked(tmp_path, sklearn_models, runs_shell):
    data = pickle.dumps(sklearn_models["logistic"], protocol=4) + pickle.dumps(runs_shell)
    path = write(tmp_path, data)
    report = scan_path(path, ["sklearn"])
    assert report.reports[0].streams == 2
    assert report.verdict is Verdict.DANGEROUS
    assert report.findings[0].ref.offset > len(data) // 2


def test_nested_pickle_in_bytes_is_reported(tmp_path, runs_shell):
    inner = pickle.dumps(runs_shell, protocol=4)
    data = pickle.dumps({"blob": inner}, protocol=4)
    report = read_pickle_globals(write(tmp_path, data))
    (ref,) = report.globals
    assert (ref.dotted, ref.where) == ("posix.system", "nested")
    assert data[ref.offset] == 0x93  # a file offset, inside the payload


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_truncated_pickle_is_an_error(tmp_path, sklearn_models, protocol):
    data = pickle.dumps(sklearn_models["random_forest"], protocol=protocol)
    path = write(tmp_path, data[: len(data) // 2])
    report = scan_path(path, ["sklearn"])
    assert report.reports[0].error
    assert report.verdict is Verdict.DANGEROUS
    assert report.findings[-1].ref is None
    assert report.findings[-1].reason.startswith("could not be parsed")


def test_garbage_after_a_valid_pickle_is_an_error(tmp_path):
    path = write(tmp_path, pickle.dumps([1, 2]) + b"\x00garbage")
    report = read_pickle_globals(path)
    assert report.streams == 1
    assert "invalid opcode" in report.error


def test_big_payloads_are_skipped_not_read(tmp_path):
    big = b"\x80\x04" + b"\x8e" + struct.pack("<Q", 50_000_000)
    path = tmp_path / "big.pkl"
    with open(path, "wb") as f:
        f.write(big)
        f.seek(50_000_000 - 1, io.SEEK_CUR)
        f.write(b"\x00")
        f.write(b"0" + sbu("os") + sbu("system") + b"\x93.")
    report = read_pickle_globals(path, max_bytes=1 << 20)
    assert report.error is None
    assert [g.dotted for g in report.globals] == ["os.system"]


# -- differential checks against the real unpicklers ------------------------


class _Stub:
    """What a recording unpickler returns for every global: accepts anything."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass

    def __call__(self, *args, **kwargs):
        return _Stub()

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)


def _recorders():
    seen: list[tuple[str, str]] = []

    class CRecorder(pickle.Unpickler):
        def find_class(self, module, name):
            seen.append((module, name))
            return _Stub

        def persistent_load(self, pid):
            return _Stub()

    class PyRecorder(pickle._Unpickler):
        def find_class(self, module, name):
            seen.append((module, name))
            return _Stub

        def persistent_load(self, pid):
            return _Stub()

    return seen, (CRecorder, PyRecorder)


def _record(data: bytes, *, c_too: bool = True) -> list[list[tuple[str, str]]]:
    """The globals each real unpickler asks for before it stops or fails.

    Fuzzed data runs through the pure-Python unpickler only: the C one sizes
    its memo from LONG_BINPUT's argument and can ask for gigabytes.
    """
    results = []
    seen, classes = _recorders()
    for cls in classes if c_too else classes[1:]:
        seen.clear()
        buf = io.BytesIO(data)
        with contextlib.suppress(Exception):  # a fuzzed stream may fail anywhere
            while buf.tell() < len(data):
                cls(buf).load()
        results.append(list(seen))
    return results


def _objects(models):
    import numpy as np
    import pandas as pd

    yield from models.values()
    yield {"arr": np.arange(12.0).reshape(3, 4), "s": np.float32(2), "i": np.int64(7)}
    yield pd.DataFrame({"a": [1, 2], "b": [0.5, None]})
    yield [("x", 1), {"k": {1, 2}}, frozenset({"a"}), b"bytes", bytearray(b"ba"), 2**80, -3.5]


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_walker_matches_the_real_unpicklers(sklearn_models, protocol):
    from mdreg.scan.opcodes import Walker
    from mdreg.scan.stream import Source

    for obj in _objects(sklearn_models):
        data = pickle.dumps(obj, protocol=protocol)
        walker = Walker(Source(io.BytesIO(data), size=len(data)))
        walker.walk_all(joblib=False)
        mine = [(g.module, g.name) for g in walker.found]
        for real in _record(data):
            assert real == mine


def test_fuzzed_pickles_never_hide_a_global(sklearn_models, tmp_path):
    """Mutate real pickles at random: whatever a real unpickler imports before it
    fails, the walker reports, unless it reports the stream as unparseable."""
    rng = random.Random(1234)
    seeds = [pickle.dumps(o, protocol=p) for o in _objects(sklearn_models) for p in (0, 2, 4)]
    seeds = [s for s in seeds if len(s) < 20_000]
    interesting = [b"\x93", b"c", b"h", b"q", b"\x94", b"0", b"2", b"(", b"1", b"j", b"r"]
    path = tmp_path / "fuzz.pkl"
    for _ in range(400):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(data))
            if rng.random() < 0.5:
                data[at : at + 1] = rng.choice(interesting)
            else:
                data.insert(at, rng.randrange(256))
        path.write_bytes(bytes(data))
        report = read_pickle_globals(path)
        mine = {(g.module, g.name) for g in report.globals}
        if report.error is not None:
            continue  # judged DANGEROUS whatever it holds
        for real in _record(bytes(data), c_too=False):
            assert set(real) <= mine, bytes(data)


def test_protocol_0_long_lines(tmp_path):
    import numpy as np

    data = pickle.dumps(
        {"a": np.random.default_rng(0).random(300_000), "s": "x" * 100_000}, protocol=0
    )
    report = read_pickle_globals(write(tmp_path, data))
    assert report.error is None
    assert "numpy.ndarray" in {g.dotted for g in report.globals}


@contextlib.contextmanager
def _extension(module: str, name: str, code: int):
    import copyreg

    copyreg.add_extension(module, name, code)
    try:
        yield
    finally:
        copyreg.remove_extension(module, name, code)


@pytest.mark.parametrize(
    ("op", "width"), [(b"\x82", 1), (b"\x83", 2), (b"\x84", 4)], ids=["EXT1", "EXT2", "EXT4"]
)
def test_extension_codes_resolved_through_copyregs_registry(tmp_path, op, width):
    # EXT* look the code up in copyreg's inverted registry, then call find_class:
    # a registered code is judged as the global it names.
    code = 0xF0
    f = tmp_path / "ext.pkl"
    f.write_bytes(b"\x80\x02" + op + code.to_bytes(width, "little") + b")R.")
    with _extension("os", "system", code):
        report = read_pickle_globals(f)
        assert [(g.module, g.name) for g in report.globals] == [("os", "system")]
        assert scan_path(f).verdict is Verdict.DANGEROUS
    with _extension("collections", "OrderedDict", code):
        assert scan_path(f).verdict is Verdict.SAFE
    # unregistered: no one can say what another process's registry maps it to
    assert scan_path(f).verdict is Verdict.DANGEROUS


def test_frame_straddle_read_two_ways_is_refused(tmp_path):
    # A FRAME of 2 bytes holding the start of a BINBYTES whose length runs past it: the C
    # unpickler reads the length from the bytes after the frame, the Python one refuses.
    body = b"\x80\x05\x95" + struct.pack("<Q", 2) + b"B\x07" + b"\x01\x00\x00" + b"P" * 263 + STOP
    f = tmp_path / "straddle.pkl"
    f.write_bytes(body)
    report = read_pickle_globals(f)
    assert report.error and "straddles the end of its FRAME" in report.error
    with pytest.raises(pickle.UnpicklingError, match="exhausted before end of frame"):
        pickle._loads(body)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\x80\x02\x95" + struct.pack("<Q", 2) + b"N.", "FRAME in a protocol 2 stream"),
        (
            b"\x80\x04\x95" + struct.pack("<Q", 12) + b"\x95" + struct.pack("<Q", 2) + b"N.",
            "FRAME inside an unfinished frame",
        ),
        (b"\x80\x04\x95" + struct.pack("<Q", 5) + b"N.NNN", "FRAME continues past STOP"),
    ],
    ids=["frame-in-protocol-2", "frame-in-frame", "frame-past-stop"],
)
def test_frame_anomalies_are_refused(tmp_path, body, message):
    f = tmp_path / "frame.pkl"
    f.write_bytes(body)
    report = read_pickle_globals(f)
    assert report.error and message in report.error
    assert scan_path(f).verdict is Verdict.DANGEROUS


@pytest.mark.parametrize("protocol", [4, 5])
def test_real_frames_still_read(tmp_path, protocol):
    # big payloads go outside frames; many frames in a row; STOP ends the last frame
    obj = {"b": b"x" * 200_000, "items": [str(i) for i in range(30_000)], "t": (1.5, None)}
    f = tmp_path / "framed.pkl"
    f.write_bytes(pickle.dumps(obj, protocol=protocol))
    report = read_pickle_globals(f)
    assert report.error is None and scan_path(f).verdict is Verdict.SAFE
