"""mdreg.payload: content types, every format's round trip (read back independently of
score.py: numpy, pyarrow, the safetensors layout read by hand), and its errors."""

from __future__ import annotations

import base64
import io
import json
import struct

import numpy as np
import pandas as pd
import pytest

from mdreg import payload
from mdreg.cli.verify import PayloadFormat, ResponseFormat
from mdreg.errors import FrameworkNotInstalledError, InputError


def read_safetensors(body: bytes) -> tuple[dict[str, np.ndarray], dict]:
    """The safetensors layout: u64 little-endian header size, JSON header, raw tensors."""
    dtypes = {
        "F64": "<f8",
        "F32": "<f4",
        "F16": "<f2",
        "I64": "<i8",
        "I32": "<i4",
        "I16": "<i2",
        "I8": "i1",
        "U64": "<u8",
        "U32": "<u4",
        "U16": "<u2",
        "U8": "u1",
        "BOOL": "?",
    }
    (size,) = struct.unpack("<Q", body[:8])
    assert size % 8 == 0
    header = json.loads(body[8 : 8 + size])
    meta = header.pop("__metadata__", {})
    data = body[8 + size :]
    out = {}
    for name, spec in header.items():
        begin, end = spec["data_offsets"]
        out[name] = np.frombuffer(data[begin:end], dtype=dtypes[spec["dtype"]]).reshape(
            spec["shape"]
        )
    return out, meta


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": [0.5, -1.25, 3.0],
            "n": np.array([1, 2, 3], dtype=np.int64),
            "s": ["a", "b", "c"],
            "flag": [True, False, True],
        }
    )


def test_formats_and_content_types():
    assert payload.FORMATS == ("json", "npy", "safetensors", "arrow", "parquet")
    assert [f.value for f in PayloadFormat] == list(payload.FORMATS)  # the CLI's choices
    assert [f.value for f in ResponseFormat] == list(payload.RESPONSE_FORMATS)
    assert {f: payload.content_type(f) for f in payload.FORMATS} == {
        "json": "application/json",
        "npy": "application/x-npy",
        "safetensors": "application/x-safetensors",
        "arrow": "application/vnd.apache.arrow.stream",
        "parquet": "application/vnd.apache.parquet",
    }
    with pytest.raises(InputError, match="unknown payload format 'csv'"):
        payload.content_type("csv")
    with pytest.raises(InputError, match="unknown payload format"):
        payload.encode([1], "pickle")


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.float32).reshape(3, 4),
        np.arange(6, dtype=np.int64),
        np.zeros((2, 1, 3, 3), dtype=np.float16),
        np.array([[True, False]]),
        np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        np.array(["a", "bc"]),  # fixed-width unicode: no pickle needed
    ],
    ids=["f32", "i64", "f16-4d", "bool", "fortran", "unicode"],
)
def test_npy_round_trip(array):
    body = payload.encode(array, "npy")
    assert body.startswith(b"\x93NUMPY")
    back = np.load(io.BytesIO(body), allow_pickle=False)
    assert back.dtype == array.dtype and np.array_equal(back, array)


def test_npy_from_frame_list_and_tensor(frame):
    numeric = frame[["x", "n"]]
    back = np.load(io.BytesIO(payload.encode(numeric, "npy")), allow_pickle=False)
    assert np.array_equal(back, numeric.to_numpy())
    assert np.array_equal(
        np.load(io.BytesIO(payload.encode([[1, 2], [3, 4]], "npy"))), [[1, 2], [3, 4]]
    )
    torch = pytest.importorskip("torch")
    tensor = torch.arange(6, dtype=torch.float32).reshape(2, 3).requires_grad_()
    back = np.load(io.BytesIO(payload.encode(tensor, "npy")))
    assert back.dtype == np.float32 and np.array_equal(back, tensor.detach().numpy())


def test_safetensors_round_trip():
    arrays = {
        name: np.arange(6).astype(dtype).reshape(2, 3)
        for name, dtype in [
            ("f64", "<f8"),
            ("f32", "<f4"),
            ("f16", "<f2"),
            ("i64", "<i8"),
            ("i32", "<i4"),
            ("i8", "i1"),
            ("u8", "u1"),
            ("b", "?"),
        ]
    }
    arrays["big_endian"] = np.arange(4, dtype=">f8")  # stored little-endian, as the format says
    out, meta = read_safetensors(payload.encode(arrays, "safetensors"))
    assert meta == {} and set(out) == set(arrays)
    for name, array in arrays.items():
        assert out[name].shape == array.shape and np.array_equal(out[name], array), name
    single, meta = read_safetensors(
        payload.encode(np.ones((2, 2), np.float32), "safetensors", response="npy")
    )
    assert list(single) == ["input"] and meta == {"response": "npy"}


@pytest.mark.parametrize("fmt", ["arrow", "parquet"])
def test_table_round_trip(frame, fmt):
    pa = pytest.importorskip("pyarrow")
    body = payload.encode(frame, fmt)
    if fmt == "arrow":
        assert body[:4] == b"\xff\xff\xff\xff"
        table = pa.ipc.open_stream(body).read_all()
    else:
        import pyarrow.parquet as pq

        assert body[:4] == body[-4:] == b"PAR1"
        table = pq.read_table(pa.BufferReader(body))
    pd.testing.assert_frame_equal(table.to_pandas(), frame)
    # a 2-D array: one column per position; a dict of arrays: named columns
    array = np.arange(6.0).reshape(3, 2)
    from_array = pa.ipc.open_stream(payload.encode(array, "arrow")).read_all()
    assert from_array.column_names == ["0", "1"] and np.array_equal(
        from_array.to_pandas().to_numpy(), array
    )
    from_dict = pa.ipc.open_stream(
        payload.encode({"a": [1, 2], "b": np.array([0.5, 1.5])}, "arrow")
    ).read_all()
    assert from_dict.to_pydict() == {"a": [1, 2], "b": [0.5, 1.5]}
    assert payload.encode(from_dict, "arrow") == payload.encode(from_dict, "arrow")  # a Table as is


def test_json(frame):
    assert json.loads(payload.encode(frame, "json")) == {
        "x": [0.5, -1.25, 3.0],
        "n": [1, 2, 3],
        "s": ["a", "b", "c"],
        "flag": [True, False, True],
    }
    assert json.loads(payload.encode(np.arange(4).reshape(2, 2), "json")) == [[0, 1], [2, 3]]
    assert json.loads(payload.encode([1, 2], "json", response="npy")) == {
        "data": [1, 2],
        "response": "npy",
    }
    dates = pd.DataFrame({"d": pd.to_datetime(["2024-01-02", "2024-03-04"])})
    assert json.loads(payload.encode(dates, "json"))["d"][0].startswith("2024-01-02")
    # NaN and infinity are not JSON: they go as null (missing), never as invalid JSON
    body = payload.encode(pd.DataFrame({"a": [1.0, np.nan, np.inf]}), "json")
    assert json.loads(body) == {"a": [1.0, None, None]}
    assert json.loads(payload.encode([float("nan"), 1.5], "json")) == [None, 1.5]


def test_decode_response():
    arrays = [np.arange(3, dtype=np.float32), np.eye(2, dtype=np.int64)]
    envelope = [
        {
            "data": base64.b64encode(payload.encode(a, "npy")).decode(),
            "data_type": payload.NPY_DATA_TYPE,
        }
        for a in arrays
    ]
    doc = {"prediction": envelope[0], "extra": {"nested": [envelope[1], "text", 3]}}
    for body in (doc, json.dumps(doc), json.dumps(doc).encode()):
        out = payload.decode_response(body)
        assert out["prediction"].dtype == np.float32 and np.array_equal(
            out["prediction"], arrays[0]
        )
        assert np.array_equal(out["extra"]["nested"][0], arrays[1])
        assert out["extra"]["nested"][1:] == ["text", 3]
    assert payload.decode_response({"prediction": [1, 2]}) == {"prediction": [1, 2]}


def test_decode_response_never_unpickles(tmp_path):
    from tests.payloads.conftest import object_npy

    marker = tmp_path / "pwned"
    doc = {
        "prediction": {
            "data": base64.b64encode(object_npy(marker)).decode(),
            "data_type": payload.NPY_DATA_TYPE,
        }
    }
    with pytest.raises(ValueError, match="allow_pickle"):
        payload.decode_response(doc)
    assert not marker.exists()


def test_encode_errors():
    with pytest.raises(InputError, match="Python objects"):
        payload.encode(np.array([{"a": 1}], dtype=object), "npy")
    with pytest.raises(InputError, match="Python objects"):
        payload.encode(pd.DataFrame({"s": ["a"], "x": [1.0]}), "safetensors")
    with pytest.raises(InputError, match="safetensors cannot hold"):
        payload.encode(np.array([1 + 2j]), "safetensors")
    with pytest.raises(InputError, match="unknown response format"):
        payload.encode([1], "json", response="xml")
    for fmt in ("npy", "arrow", "parquet"):
        with pytest.raises(InputError, match="MDREG_RESPONSE"):
            payload.encode([[1.0]], fmt, response="npy")
    pytest.importorskip("pyarrow")
    for shape in [(4,), (2, 2, 2)]:
        with pytest.raises(InputError, match="rows and columns"):
            payload.encode(np.zeros(shape), "arrow")
    assert issubclass(FrameworkNotInstalledError, InputError)
