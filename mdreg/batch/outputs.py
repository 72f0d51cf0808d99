"""The prediction columns of a scored table: names and types from output_schema.json.

A schema column with a text name keeps it; unnamed ones (the positions prepare writes
for a plain array) become ``prediction``, or ``prediction_0``, ``prediction_1``... when
the model answers several values per row. score.py's answer for a batch (what its
``predict`` put under ``"prediction"``) becomes one Arrow array per column, of the
schema's type; an answer that does not fit (another row count or width) is an error
naming the batch, not a silently misaligned column.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mdreg.artifact import layout
from mdreg.batch.spark_task import answer_columns
from mdreg.errors import ArtifactError

ERROR_COLUMN = "error"

# output_schema.json dtypes -> Arrow types (anything else: Arrow infers from the values)
_ARROW_TYPES = {
    "bool": "bool_",
    "int8": "int8",
    "int16": "int16",
    "int32": "int32",
    "int64": "int64",
    "uint8": "uint8",
    "uint16": "uint16",
    "uint32": "uint32",
    "uint64": "uint64",
    "float16": "float16",
    "float32": "float32",
    "float64": "float64",
    "object": "string",
    "str": "string",
    "string": "string",
}


@dataclass(frozen=True)
class OutputColumn:
    name: str
    dtype: str  # output_schema.json's dtype


def output_columns(artifact_dir: Path) -> list[OutputColumn]:
    """The prediction columns ``artifact_dir``'s output_schema.json describes."""
    path = artifact_dir / layout.OUTPUT_SCHEMA
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        items = doc["schema"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"{path}: cannot read the output schema ({exc})") from None
    if not items:
        return [OutputColumn("prediction", "")]
    unnamed = [i for i, item in enumerate(items) if not isinstance(item.get("name"), str)]
    columns = []
    for i, item in enumerate(items):
        name = item.get("name")
        if not isinstance(name, str):
            name = "prediction" if len(unnamed) == 1 else f"prediction_{unnamed.index(i)}"
        columns.append(OutputColumn(name, str(item.get("dtype") or "")))
    return columns


def arrow_type(column: OutputColumn) -> Any:
    import pyarrow as pa

    name = _ARROW_TYPES.get(column.dtype)
    return getattr(pa, name)() if name else None


def prediction_arrays(answer: Any, columns: list[OutputColumn], rows: int) -> list[Any]:
    """score.py's answer for ``rows`` rows as one Arrow array per output column: one
    output, or several side by side (a dict of outputs, batch first). Numeric answers
    stay numpy arrays on the way (no Python objects per value). ValueError saying what
    does not fit."""
    import pyarrow as pa

    values = answer_columns(answer, rows, len(columns))
    arrays = []
    for column, value in zip(columns, values, strict=True):
        wanted = arrow_type(column)
        array = _arrow_array(value)
        if wanted is not None and array.type != wanted:
            try:
                array = array.cast(wanted)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise ValueError(f"{column.name}: not {column.dtype} values ({exc})") from None
        arrays.append(array)
    return arrays


def _arrow_array(value: Any) -> Any:
    """One numpy column as an Arrow array. Numbers go over as their buffer, which is what
    ``pa.array`` does too, but ``pa.array`` imports pandas on its first call (to tell a
    Series), and pandas cost mdreg's own process 0.4 s and 40 MB it has no other use for."""
    import numpy as np
    import pyarrow as pa

    if value.dtype.kind in "iuf" and value.dtype.isnative:
        data = np.ascontiguousarray(value)
        return pa.Array.from_buffers(
            pa.from_numpy_dtype(data.dtype), len(data), [None, pa.py_buffer(data)]
        )
    return pa.array(value.tolist() if value.dtype == object else value)


def null_arrays(columns: list[OutputColumn], rows: int) -> list[Any]:
    import pyarrow as pa

    return [pa.nulls(rows, type=arrow_type(c) or pa.null()) for c in columns]
