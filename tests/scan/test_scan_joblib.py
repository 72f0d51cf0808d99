"""joblib files: array data is skipped exactly as joblib.load reads it, so what
follows an array is still seen, in plain and compressed files alike."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest

from mdreg.scan import Verdict, read_pickle_globals, scan_path

pytestmark = pytest.mark.security

COMPRESSIONS = ["zlib", "gzip", "bz2", "lzma", "xz"]


def sbu(text: str) -> bytes:
    data = text.encode()
    return b"\x8c" + bytes([len(data)]) + data


def binint(value: int) -> bytes:
    if -(2**31) <= value < 2**31:
        return b"J" + struct.pack("<i", value)
    data = value.to_bytes(9, "little", signed=True)
    return b"\x8a" + bytes([len(data)]) + data  # LONG1


def wrapper(shape=(4,), typestr="f8", flags=0, elsize=-1, alignment=True, shape_op=b"t") -> bytes:
    """Opcodes joblib writes for a NumpyArrayWrapper, up to and including its BUILD."""
    dtype_state = b"(K\x03" + sbu("<") + b"NNN" + binint(elsize) + binint(-1) + binint(flags) + b"t"
    return (
        sbu("joblib.numpy_pickle") + sbu("NumpyArrayWrapper") + b"\x93" + b")\x81"
        + b"}("
        + sbu("subclass") + sbu("numpy") + sbu("ndarray") + b"\x93"
        + sbu("shape") + (b"(" if shape_op == b"t" else b"](") + b"".join(binint(d) for d in shape)
        + (shape_op if shape_op == b"t" else b"e")
        + sbu("order") + sbu("C")
        + sbu("dtype") + sbu("numpy") + sbu("dtype") + b"\x93" + sbu(typestr) + b"\x89\x88\x87R"
        + dtype_state + b"b"
        + sbu("allow_mmap") + b"\x89"
        + sbu("numpy_array_alignment_bytes") + (b"K\x10" if alignment else b"N")
        + b"ub"
    )  # fmt: skip


EVIL = b"0" + sbu("os") + sbu("system") + b"\x93" + sbu("id") + b"\x85R"


def handmade(tmp_path: Path, body: bytes, name: str = "hand.joblib") -> Path:
    path = tmp_path / name
    path.write_bytes(b"\x80\x04" + body + b".")
    return path


def test_handmade_wrapper_is_what_joblib_reads(tmp_path):
    import joblib
    import numpy as np

    data = np.arange(4.0).tobytes()
    path = handmade(tmp_path, wrapper() + b"\x01\xff" + data)
    assert (joblib.load(path) == np.arange(4.0)).all()  # benign: numpy globals only
    report = read_pickle_globals(path)
    assert report.error is None
    assert [g.dotted for g in report.globals] == [
        "joblib.numpy_pickle.NumpyArrayWrapper",
        "numpy.ndarray",
        "numpy.dtype",
    ]


def test_global_after_handmade_array_is_found(tmp_path):
    data = b"cos\nsystem\n" * 8  # array bytes that look like opcodes are skipped
    path = handmade(tmp_path, wrapper(shape=(len(data) // 8,)) + b"\x01\xff" + data + EVIL)
    report = read_pickle_globals(path)
    assert report.error is None
    assert [g.dotted for g in report.globals][-1] == "os.system"
    assert report.globals[-1].offset > len(data)


@pytest.mark.parametrize("compress", [0, *COMPRESSIONS])
def test_payload_after_large_array(tmp_path, runs_shell, compress):
    import joblib
    import numpy as np

    path = tmp_path / "model.joblib"
    joblib.dump({"a": np.ones(10**6), "b": runs_shell}, path, compress=compress)
    report = scan_path(path, ["sklearn"])
    assert report.verdict is Verdict.DANGEROUS
    (finding,) = report.findings
    assert finding.ref.dotted == "posix.system"
    assert finding.ref.offset > 8 * 10**6  # after the array data
    expected = "pickle" if compress == 0 else f"joblib+{compress}"
    assert report.reports[0].container == expected
    assert finding.ref.where == ("" if compress == 0 else f"{compress} stream")


@pytest.mark.parametrize("compress", [0, *COMPRESSIONS])
def test_sklearn_joblib_is_safe(tmp_path, sklearn_models, compress):
    import joblib

    path = tmp_path / "model.joblib"
    joblib.dump(sklearn_models, path, compress=compress)
    report = scan_path(path, ["sklearn"])
    assert report.verdict is Verdict.SAFE, report.findings
    assert report.reports[0].streams == 1
    assert "joblib.numpy_pickle.NumpyArrayWrapper" in {g.dotted for g in report.reports[0].globals}


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_every_protocol_and_array_layout(tmp_path, protocol):
    import joblib
    import numpy as np

    arrays = {
        "c": np.arange(1000.0),
        "f": np.asfortranarray(np.ones((3, 4), dtype=np.float32)),
        "empty": np.zeros((0, 5)),
        "scalar_array": np.array(3, dtype=np.int16),
        "strings": np.array(["a", "bcd"]),
        "bytes": np.array([b"xy"]),
        "struct": np.zeros(3, dtype=[("a", "i4"), ("b", "f8", (2,))]),
        "dates": np.array(["2020-01-01"], dtype="M8[D]"),
        "bool": np.array([True, False]),
        "objects": np.array([1, "x", None], dtype=object),
    }
    path = tmp_path / "arrays.joblib"
    joblib.dump(arrays, path, protocol=protocol)
    report = scan_path(path, ["numpy"])
    assert report.reports[0].error is None
    assert report.verdict is Verdict.SAFE


def test_object_array_payload_is_found(tmp_path, runs_shell):
    import joblib
    import numpy as np

    arr = np.empty(2, dtype=object)
    arr[0], arr[1] = "ok", runs_shell
    path = tmp_path / "objects.joblib"
    joblib.dump({"arr": arr, "after": np.ones(10)}, path)
    report = scan_path(path)
    assert report.verdict is Verdict.DANGEROUS
    assert [f.ref.dotted for f in report.findings] == ["posix.system"]


class _NoTell(io.RawIOBase):
    """A write-only handle without tell(): joblib then writes unaligned arrays
    (as joblib < 1.2 always did)."""

    def __init__(self, f):
        self.f = f

    def writable(self):
        return True

    def write(self, b):
        return self.f.write(b)

    def tell(self):
        raise io.UnsupportedOperation


def test_unaligned_arrays(tmp_path, runs_shell):
    import joblib
    import numpy as np

    path = tmp_path / "old.joblib"
    with open(path, "wb") as f:
        joblib.dump({"a": np.random.default_rng(0).random(5000), "b": runs_shell}, _NoTell(f))
    report = scan_path(path)
    assert report.reports[0].error is None
    assert [f.ref.dotted for f in report.findings] == ["posix.system"]

    with open(path, "wb") as f:
        joblib.dump({"a": np.arange(100.0), "b": np.random.default_rng(1).random(99)}, _NoTell(f))
    assert scan_path(path, ["numpy"]).verdict is Verdict.SAFE


def test_unaligned_array_data_read_by_plain_pickle(tmp_path, canary):
    """pickle.load does not know the wrapper and reads unaligned array bytes as
    opcodes; joblib.load skips them. Both readings are checked."""
    import joblib
    import numpy as np

    payload = f"cos\nsystem\n(S'touch {canary}'\ntR.".encode()
    path = tmp_path / "old.joblib"
    with open(path, "wb") as f:
        joblib.dump({"a": np.frombuffer(payload, dtype=np.uint8)}, _NoTell(f))
    report = scan_path(path)
    assert report.verdict is Verdict.DANGEROUS
    (finding,) = report.findings
    assert finding.ref.dotted == "os.system"
    assert finding.ref.where == "array data read by pickle.load"


def test_array_data_inside_a_frame_is_refused(tmp_path):
    # joblib reads array bytes from the file, past the buffered frame, then
    # parses what is left of the frame: here, a payload
    body = wrapper() + EVIL
    framed = b"\x95" + struct.pack("<Q", len(body)) + body
    path = handmade(tmp_path, framed + b"\x01\xff" + bytes(32))
    report = scan_path(path)
    assert "inside a pickle frame" in report.reports[0].error
    assert report.verdict is Verdict.DANGEROUS


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # numpy takes hasobject from the pickled flags: 'O8' without the flag
        # would be read as raw bytes, 'f8' with it as a nested pickle
        (wrapper(typestr="O8", flags=0) + b"\x01\xff" + bytes(32), "flags"),
        (wrapper(typestr="f8", flags=1) + bytes(32), "flags"),
        (wrapper() + b"c" + bytes(99) + bytes(32), "alignment byte"),
        (wrapper(shape_op=b"e") + b"\x01\xff" + bytes(32), "shape"),
        (wrapper(typestr="U2", elsize=-1) + b"\x01\xff" + bytes(32), "itemsize"),
        (wrapper(shape=(2**40, 2**40)) + b"\x01\xff", "overflows"),
        (wrapper() + b"\x01\xff" + bytes(8), "truncated"),
    ],
)
def test_crafted_wrapper_states_are_errors(tmp_path, body, message):
    report = scan_path(handmade(tmp_path, body))
    assert message in report.reports[0].error
    assert report.verdict is Verdict.DANGEROUS


def test_wrapper_escaping_into_a_list_is_an_error(tmp_path):
    # the class, memoized, then appended to a list
    body = sbu("joblib.numpy_pickle") + sbu("NumpyArrayWrapper") + b"\x93\x94" + b"]" + b"h\x00a"
    report = read_pickle_globals(handmade(tmp_path, body))
    assert "unsupported way" in report.error


def test_old_zf_format(tmp_path, runs_shell):
    import pickle

    data = pickle.dumps({"x": 1, "y": runs_shell}, protocol=2)
    path = tmp_path / "old.pkl"
    path.write_bytes(b"ZF" + hex(len(data)).encode().ljust(19) + zlib.compress(data))
    report = scan_path(path)
    assert report.reports[0].container == "joblib-compat"
    assert [f.ref.dotted for f in report.findings] == ["posix.system"]


@pytest.mark.parametrize("compress", COMPRESSIONS)
def test_corrupt_compressed_stream_is_an_error(tmp_path, sklearn_models, compress):
    import joblib

    path = tmp_path / "model.joblib"
    joblib.dump(sklearn_models["logistic"], path, compress=compress)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    report = scan_path(path, ["sklearn"])
    assert report.reports[0].error
    assert report.verdict is Verdict.DANGEROUS


def test_max_bytes_bounds_decompression(tmp_path):
    import joblib
    import numpy as np

    path = tmp_path / "big.joblib"
    joblib.dump(np.zeros(2_000_000), path, compress="zlib")
    report = read_pickle_globals(path, max_bytes=1_000_000)
    assert "max_bytes" in report.error
    assert read_pickle_globals(path).error is None
