"""Request bodies for a deployed model, and its answers back.

The deployment server hands score.py's ``predict`` the JSON-decoded body of a JSON
request, and the raw bytes of any other. mdreg's score.py recognises binary bodies by
their first bytes, so a client only has to encode the data and POST it::

    body = mdreg.payload.encode(images, "npy")
    requests.post(url, data=body, headers={"Content-Type": content_type("npy")}, auth=...)

Formats:

    json         a DataFrame as a dict of columns, an array as nested lists
    npy          one array (NumPy's .npy; score.py reads it without unpickling)
    safetensors  named arrays (a dict), or one array stored under the name "input"
    arrow        a table as an Apache Arrow IPC stream (needs pyarrow on both sides)
    parquet      a table as Parquet (needs pyarrow on both sides)

The service sends back what predict returns as JSON. Ask score.py for a binary answer
with ``response="npy"`` (json and safetensors carry the request in-band; for other
formats set ``MDREG_RESPONSE=npy`` in the deployment's environment): each array of the
answer then comes back as base64 ``.npy`` in ADS's envelope, which ``decode_response``
turns back into arrays.
"""

from __future__ import annotations

import base64
import io
import json
import math
import struct
from typing import TYPE_CHECKING, Any

from mdreg._text import with_article
from mdreg.errors import FrameworkNotInstalledError, InputError

if TYPE_CHECKING:
    import numpy as np

FORMATS = ("json", "npy", "safetensors", "arrow", "parquet")
CONTENT_TYPES = {
    "json": "application/json",
    "npy": "application/x-npy",
    "safetensors": "application/x-safetensors",
    "arrow": "application/vnd.apache.arrow.stream",
    "parquet": "application/vnd.apache.parquet",
}
RESPONSE_FORMATS = ("json", "npy")
# The envelope ADS clients and mdreg's score.py use for an array sent as base64 .npy.
NPY_DATA_TYPE = "<class 'numpy.ndarray'>"

# numpy dtype -> safetensors dtype name (the safetensors format's own names).
_SAFETENSORS_DTYPES = {
    "float64": "F64",
    "float32": "F32",
    "float16": "F16",
    "int64": "I64",
    "int32": "I32",
    "int16": "I16",
    "int8": "I8",
    "uint64": "U64",
    "uint32": "U32",
    "uint16": "U16",
    "uint8": "U8",
    "bool": "BOOL",
}


def content_type(fmt: str) -> str:
    """The Content-Type header to send a body of format ``fmt`` with."""
    return CONTENT_TYPES[_check_format(fmt)]


def encode(obj: Any, fmt: str = "npy", *, response: str | None = None) -> bytes:
    """``obj`` (an array, a tensor, a DataFrame, a dict of arrays) as a request body.

    ``response="npy"`` asks score.py for arrays back as base64 .npy (json and
    safetensors bodies only; the other formats have no place to say it).
    """
    fmt = _check_format(fmt)
    if response is not None and response not in RESPONSE_FORMATS:
        raise InputError(
            f"unknown response format {response!r}: use one of {', '.join(RESPONSE_FORMATS)}"
        )
    if response == "npy" and fmt not in ("json", "safetensors"):
        raise InputError(
            f"{with_article(fmt)} body cannot ask for a binary answer: send json or safetensors, "
            "or set MDREG_RESPONSE=npy in the deployment's environment"
        )
    if fmt == "json":
        doc = jsonable(obj)
        if response:
            doc = {"data": doc, "response": response}
        return json.dumps(doc, allow_nan=False, separators=(",", ":")).encode()
    if fmt == "npy":
        if isinstance(obj, dict):
            raise InputError(
                f"{len(obj)} named arrays ({', '.join(map(str, obj))}) cannot be one "
                ".npy body: send them as safetensors or json"
            )
        return _npy_bytes(_as_array(obj))
    if fmt == "safetensors":
        arrays = obj if isinstance(obj, dict) else {"input": obj}
        meta = {"response": response} if response else None
        return _safetensors_bytes({str(k): _as_array(v) for k, v in arrays.items()}, meta)
    return _table_bytes(obj, fmt)


def decode_response(body: bytes | str | dict | list) -> Any:
    """The model's answer with every base64 .npy envelope turned back into an array."""
    if isinstance(body, (bytes, bytearray, str)):
        body = json.loads(body)
    return _unwrap(body)


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise InputError(f"unknown payload format {fmt!r}: use one of {', '.join(FORMATS)}")
    return fmt


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:
        raise FrameworkNotInstalledError("Binary payloads", "numpy", "tabular") from None
    return numpy


def _as_array(obj: Any) -> np.ndarray:
    np = _numpy()
    if hasattr(obj, "detach") and hasattr(obj, "cpu"):  # a torch tensor, without importing torch
        obj = obj.detach().cpu().numpy()
    elif hasattr(obj, "to_numpy"):  # pandas, and TensorFlow eager tensors via .numpy below
        obj = obj.to_numpy()
    elif hasattr(obj, "numpy") and callable(obj.numpy):
        obj = obj.numpy()
    array = np.asarray(obj)
    if array.dtype.hasobject:
        raise InputError(
            "cannot send an array of Python objects as binary: convert it to numbers "
            "(or strings, with the json or arrow format)"
        )
    return array


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    _numpy().save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _safetensors_bytes(arrays: dict[str, np.ndarray], meta: dict[str, str] | None) -> bytes:
    np = _numpy()
    header: dict[str, Any] = {"__metadata__": meta} if meta else {}
    chunks, offset = [], 0
    for name, array in arrays.items():
        kind = _SAFETENSORS_DTYPES.get(array.dtype.name)
        if kind is None:
            raise InputError(f"safetensors cannot hold {name!r} of dtype {array.dtype}")
        raw = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
        header[name] = {
            "dtype": kind,
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the format pads the header to 8 bytes
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def _table_bytes(obj: Any, fmt: str) -> bytes:
    try:
        import pyarrow as pa
    except ImportError:
        raise FrameworkNotInstalledError(f"The {fmt} payload format", "pyarrow", "arrow") from None
    table = _arrow_table(obj, pa)
    sink = io.BytesIO()
    if fmt == "arrow":
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    else:
        import pyarrow.parquet as pq

        pq.write_table(table, sink)
    return sink.getvalue()


def _arrow_table(obj: Any, pa: Any) -> Any:
    if isinstance(obj, pa.Table):
        return obj
    if hasattr(obj, "columns") and hasattr(obj, "to_numpy"):  # a pandas DataFrame
        return pa.Table.from_pandas(obj, preserve_index=False)
    if isinstance(obj, dict):
        return pa.table({str(k): _as_array(v) for k, v in obj.items()})
    array = _as_array(obj)
    if array.ndim != 2:
        raise InputError(
            f"a table needs rows and columns, not an array of shape {array.shape}: "
            "send it as npy or safetensors"
        )
    return pa.table({str(i): array[:, i] for i in range(array.shape[1])})


def jsonable(obj: Any) -> Any:
    """``obj`` as JSON values: frames as dicts of columns, arrays and tensors as lists,
    NaN and infinity as null (the form a JSON body, and score.py's answer, take)."""
    if hasattr(obj, "columns") and hasattr(obj, "to_dict"):  # a DataFrame: dict of columns
        return {str(c): jsonable(obj[c]) for c in obj.columns}
    if hasattr(obj, "to_list"):  # a Series
        obj = obj.to_numpy()
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "detach") or (hasattr(obj, "numpy") and not hasattr(obj, "tolist")):
        obj = _as_array(obj)  # a torch or TensorFlow tensor
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        if getattr(obj, "dtype", None) is not None and obj.dtype.kind == "M":
            return _numpy().datetime_as_string(obj).tolist()
        if getattr(obj, "dtype", None) is not None and obj.dtype.kind == "f":
            np = _numpy()
            finite = np.isfinite(obj)
            if not finite.all():  # NaN, inf: JSON has no such numbers; null is "missing"
                return np.where(finite, obj.astype(object), None).tolist()
        return obj.tolist()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _unwrap(value: Any) -> Any:
    if isinstance(value, dict):
        if (
            set(value) >= {"data", "data_type"}
            and "numpy" in str(value["data_type"])
            and isinstance(value["data"], str)
        ):
            return _numpy().load(io.BytesIO(base64.b64decode(value["data"])), allow_pickle=False)
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value
