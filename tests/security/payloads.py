"""Malicious model files, built by the tests: each payload, if anything ever ran it,
would create the file ``canary``. Hand-assembled opcodes where the trick is in the
bytes; real dumps (pickle, joblib, cloudpickle) where the trick is in the format.

Nothing here imports a machine-learning framework: a torch zip is a zip of pickles.
"""

from __future__ import annotations

import io
import lzma
import os
import pickle
import subprocess
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# -- objects whose pickles run code ------------------------------------------------------


class RunsShell:
    """REDUCE os.system('touch canary')."""

    def __init__(self, canary: Path) -> None:
        self.canary = canary

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.canary}",))


class RunsPopen:
    def __init__(self, canary: Path) -> None:
        self.canary = canary

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (subprocess.Popen, (["touch", str(self.canary)],))


class LoadsNested:
    """pickle.loads(bytes of another malicious pickle): the inner one is in a bytes payload."""

    def __init__(self, canary: Path) -> None:
        self.inner = pickle.dumps(RunsShell(canary), protocol=2)

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (pickle.loads, (self.inner,))


# -- opcode helpers ----------------------------------------------------------------------


def sbu(text: str) -> bytes:
    """SHORT_BINUNICODE"""
    data = text.encode("utf-8", "surrogatepass")
    return b"\x8c" + bytes([len(data)]) + data


def _touch(canary: Path) -> str:
    return f"touch {canary}"


def _q(text: str) -> bytes:
    """A protocol 0 STRING argument line."""
    return b"S" + repr(text).encode() + b"\n"


# -- the payloads ------------------------------------------------------------------------


def reduce_p0(canary: Path) -> bytes:
    """Protocol 0: GLOBAL os.system, then REDUCE."""
    return b"cos\nsystem\n(" + _q(_touch(canary)) + b"tR."


def reduce_p2(canary: Path) -> bytes:
    """What pickle.dumps writes for an object whose __reduce__ returns os.system."""
    return pickle.dumps({"weights": [0.5] * 8, "model": RunsShell(canary)}, protocol=2)


def inst_p0(canary: Path) -> bytes:
    """Protocol 0 INST: the call is in the opcode, no REDUCE."""
    return b"(" + _q(_touch(canary)) + b"ios\nsystem\n."


def stack_global_memo(canary: Path) -> bytes:
    """STACK_GLOBAL whose operands were memoized, popped, and fetched back later."""
    return (
        b"\x80\x04"
        + sbu("os")
        + b"\x94"
        + sbu("system")
        + b"\x94"
        + b"00"
        + sbu("decoy")
        + b"0"
        + b"h\x00h\x01\x93"
        + sbu(_touch(canary))
        + b"\x85R."
    )


def stack_global_long_memo(canary: Path) -> bytes:
    """The same with LONG_BINPUT to a far key and LONG_BINGET back (out-of-order memo)."""
    return (
        b"\x80\x04"
        + sbu("posix")
        + b"r\x10\x27\x00\x00"
        + b"0"
        + sbu("system")
        + b"r\x00\x01\x00\x00"
        + b"0"
        + b"j\x10\x27\x00\x00j\x00\x01\x00\x00\x93"
        + sbu(_touch(canary))
        + b"\x85R."
    )


def getattr_chain(canary: Path) -> bytes:
    """builtins.getattr(builtins.__import__('os'), 'system')('touch ...')."""
    return (
        b"cbuiltins\ngetattr\n(cbuiltins\n__import__\n("
        + _q("os")
        + b"tR"
        + _q("system")
        + b"tR("
        + _q(_touch(canary))
        + b"tR."
    )


def builtins_eval(canary: Path) -> bytes:
    return b"cbuiltins\neval\n(V" + f"open({str(canary)!r}, 'w')".encode() + b"\ntR."


def builtins_exec(canary: Path) -> bytes:
    code = f"import pathlib; pathlib.Path({str(canary)!r}).touch()"
    return b"\x80\x04" + sbu("builtins") + sbu("exec") + b"\x93" + sbu(code) + b"\x85R."


def subprocess_popen(canary: Path) -> bytes:
    return pickle.dumps(RunsPopen(canary), protocol=4)


def nested_loads(canary: Path) -> bytes:
    return pickle.dumps(LoadsNested(canary), protocol=4)


def protocol5_frames(canary: Path) -> bytes:
    """Protocol 5 with FRAMEs, the payload deep inside a container."""
    return pickle.dumps(
        {"layers": [list(range(300))] * 3, "cfg": {"x": RunsShell(canary)}}, protocol=5
    )


def second_stream(canary: Path) -> bytes:
    """A clean pickle, then a second stream (torch's legacy loader reads five in a row)."""
    return pickle.dumps({"ok": 1}, protocol=2) + pickle.dumps(RunsShell(canary), protocol=2)


def extension_code(canary: Path) -> bytes:
    """EXT1: the copyreg extension registry names the callable; it cannot be checked."""
    return b"\x80\x02\x82\x01(" + _q(_touch(canary)) + b"tR."


def octal_int_prefix(canary: Path) -> bytes:
    """INT '010' (octal, read by the C unpickler, refused by int()): once made the whole
    file look like no pickle, so the safety gate skipped it."""
    return b"I010\n0" + reduce_p0(canary)


def control_chars_in_name(canary: Path) -> bytes:
    """A global name with a newline and a terminal escape: messages must stay one line."""
    return (
        b"\x80\x04"
        + sbu("os")
        + sbu("system\nerror: all good\x1b[2J")
        + b"\x93"
        + sbu(_touch(canary))
        + b"\x85R."
    )


def joblib_after_array(canary: Path) -> bytes:
    """The object after a numpy array's raw bytes: the case picklescan and modelscan miss."""
    import joblib
    import numpy as np

    buf = io.BytesIO()
    joblib.dump({"coef": np.arange(4096, dtype="float64"), "model": RunsShell(canary)}, buf)
    return buf.getvalue()


def joblib_compressed(method: str) -> Callable[[Path], bytes]:
    def build(canary: Path) -> bytes:
        import joblib
        import numpy as np

        buf = io.BytesIO()
        joblib.dump({"coef": np.ones(512), "model": RunsShell(canary)}, buf, compress=(method, 3))
        return buf.getvalue()

    build.__doc__ = f"joblib.dump(..., compress='{method}'): the payload after an array"
    return build


def lzma_odd_dict_size(canary: Path) -> bytes:
    """An lzma-alone stream with a dictionary size whose second byte is not zero: joblib
    decompresses any file starting 5d 00; the scanner once wanted 5d 00 00."""
    comp = lzma.LZMACompressor(
        format=lzma.FORMAT_ALONE, filters=[{"id": lzma.FILTER_LZMA1, "dict_size": 0x1800}]
    )
    return comp.compress(pickle.dumps(RunsShell(canary), protocol=4)) + comp.flush()


def joblib_compat_header(canary: Path) -> bytes:
    """joblib < 0.10's 'ZF' format with a length field written without '0x': joblib reads
    any int(field, 16); the scanner once wanted 'ZF0x'."""
    data = pickle.dumps(RunsShell(canary), protocol=2)
    return b"ZF" + f"{len(data):19x}".encode() + zlib.compress(data)


def torch_zip(canary: Path) -> bytes:
    """A torch.save zip whose data.pkl reduces os.system."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("model/data.pkl", pickle.dumps({"weight": RunsShell(canary)}, protocol=2))
        zf.writestr("model/byteorder", "little")
        zf.writestr("model/data/0", bytes(64))
        zf.writestr("model/version", "3\n")
    return buf.getvalue()


def cloudpickle_function(canary: Path) -> bytes:
    """cloudpickle carries a function by value (its code) and calls it at load."""
    import cloudpickle

    path = str(canary)
    code = compile(f"lambda: open({path!r}, 'w').close()", "<payload>", "eval")
    func = eval(code)  # builds the payload; nothing here calls it

    class Calls:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (func, ())

    return cloudpickle.dumps(Calls())


@dataclass(frozen=True)
class Payload:
    name: str
    build: Callable[[Path], bytes]
    suffix: str  # what the file is called
    shows: str  # part of the global the refusal must name
    framework: str | None = None  # --framework for prepare (None: detect)


PAYLOADS = [
    Payload("reduce-protocol-0", reduce_p0, ".pkl", "os.system"),
    Payload("reduce-protocol-2", reduce_p2, ".pkl", "system"),
    Payload("inst-opcode", inst_p0, ".pkl", "os.system"),
    Payload("stack-global-memo", stack_global_memo, ".pkl", "os.system"),
    Payload("stack-global-long-memo", stack_global_long_memo, ".pkl", "posix.system"),
    Payload("getattr-chain", getattr_chain, ".pkl", "builtins.getattr"),
    Payload("eval", builtins_eval, ".pkl", "builtins.eval"),
    Payload("exec", builtins_exec, ".pickle", "builtins.exec"),
    Payload("subprocess-popen", subprocess_popen, ".pkl", "subprocess.Popen"),
    Payload("nested-pickle-loads", nested_loads, ".pkl", "loads"),
    Payload("protocol-5-frames", protocol5_frames, ".pkl", "system"),
    Payload("second-stream", second_stream, ".pkl", "system"),
    Payload("extension-code", extension_code, ".pkl", "extension code"),
    Payload("octal-int-prefix", octal_int_prefix, ".pkl", "os.system", framework="generic"),
    Payload("control-chars-in-name", control_chars_in_name, ".pkl", "os.system\\n"),
    Payload("joblib-after-array", joblib_after_array, ".joblib", "system"),
    Payload("joblib-zlib", joblib_compressed("zlib"), ".joblib", "system"),
    Payload("joblib-gzip", joblib_compressed("gzip"), ".joblib", "system"),
    Payload("joblib-bz2", joblib_compressed("bz2"), ".joblib", "system"),
    Payload("joblib-xz", joblib_compressed("xz"), ".joblib", "system"),
    Payload("joblib-lzma", joblib_compressed("lzma"), ".joblib", "system"),
    Payload("lzma-odd-dict-size", lzma_odd_dict_size, ".joblib", "system", framework="sklearn"),
    Payload("joblib-compat-header", joblib_compat_header, ".joblib", "system", framework="sklearn"),
    Payload("torch-zip-data-pkl", torch_zip, ".pt", "system"),
    Payload("cloudpickle-function", cloudpickle_function, ".pkl", "cloudpickle"),
]
