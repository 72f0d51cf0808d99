"""input_schema.json / output_schema.json: infer and measure data schemas (a loaded
document is checked by ``schema_validation``).

A schema document is ``{"schema": [column, ...], "version": "1.1"}``, one column per
feature (or per prediction output), each with these keys in this order::

    dtype         the pandas dtype string ("float64", "int64", "object", "category", ...)
    feature_type  Continuous | Integer | String | Category | Boolean | DateTime
    name          the column name, or its integer position for array input
    domain        {"values": <feature type>, "stats": {...}, "constraints": [...]}
    required      false when the column has missing values ("missing" is then in stats)
    description   the name as a string
    order         0-based position

Statistics follow ADS 2.16 so the files read the same in either tool: ``count`` is the
number of rows *including* missing ones; Continuous and Integer columns get
count, mean, standard deviation, sample minimum, lower/upper quartile, median and
sample maximum (rounded to 3 decimals; Continuous adds ``skew`` unless the standard
deviation is 0 or undefined); String, Category and Boolean columns get count and
unique; ``missing`` is added when values are missing. Where we part from ADS:

- DateTime columns (ADS crashes on them) get count, unique, and sample minimum/maximum
  as ISO 8601 strings.
- A Category column's constraint lists the dtype's declared categories (the allowed
  set), not only the values seen.
- pandas 3's default string dtype (``str``) is written as ``object``, the spelling
  every pandas version and ADS read; an explicit ``string`` dtype stays ``string``.
- A statistic that is undefined (mean of an all-missing column, a mean that is
  infinite) is written as null: NaN and infinity are not JSON.
- Above ``MAX_COLUMNS`` columns (where ADS gives up) the schema is written in a reduced
  form: every key is still there, but ``domain.stats`` is empty. ``schema_notes``
  says so in words a user can read.

numpy and pandas are imported inside the functions that need them.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from mdreg.artifact import schema_columns as cols
from mdreg.errors import InputError

SCHEMA_VERSION = "1.1"
#: ADS refuses to build a schema wider than this; we write a reduced one instead.
MAX_COLUMNS = 2000
#: The Model Catalog rejects an input or output schema larger than this (bytes).
MAX_SCHEMA_BYTES = 32_000

#: The feature types mdreg writes.
FEATURE_TYPES = ("Continuous", "Integer", "String", "Category", "Boolean", "DateTime")
COLUMN_KEYS = ("dtype", "feature_type", "name", "domain", "required", "description", "order")


# -- building -----------------------------------------------------------------------


def infer_schema(data: Any, *, names: Sequence[str | int] | None = None) -> dict[str, Any]:
    """Describe ``data`` column by column.

    ``data`` may be a pandas DataFrame or Series, a 1-D or 2-D numpy array, a list of
    rows, a list of records (dicts), a list of scalars or a dict of columns. Array-like
    input gets integer column names 0..n-1, as ADS gives them; ``names``, when given,
    replaces the column names by position. Raises ``InputError`` for data that has no
    columns to describe (3-D arrays, scalars) or for duplicate column names.
    """
    frame = cols.to_frame(data)
    if names is not None:
        names = list(names)
        if len(names) != frame.shape[1]:
            raise InputError(
                f"{len(names)} column names were given for data with {frame.shape[1]} columns"
            )
        frame = frame.set_axis(names, axis=1)
    columns = [cols.plain_name(c) for c in frame.columns]
    duplicates = sorted(str(c) for c, n in Counter(columns).items() if n > 1)
    if duplicates:
        raise InputError(f"the data has duplicate column names: {', '.join(duplicates)}")
    dtypes = list(frame.dtypes)
    feature_types = [cols.feature_type(frame, i, dtype) for i, dtype in enumerate(dtypes)]
    missing = [int(m) for m in frame.isna().sum().to_numpy()]
    with_stats = len(columns) <= MAX_COLUMNS
    numeric = [i for i, t in enumerate(feature_types) if t in ("Continuous", "Integer")]
    numeric_stats = cols.numeric_stats(frame, numeric) if with_stats else {}
    schema = []
    for order, (name, feature_type) in enumerate(zip(columns, feature_types, strict=True)):
        stats: dict[str, Any] = {}
        constraints: list[dict[str, str]] = []
        if order in numeric_stats:
            stats = numeric_stats[order]
            if feature_type == "Integer":
                stats.pop("skew", None)
            if missing[order]:
                stats["missing"] = float(missing[order])
        elif with_stats:
            series = frame.iloc[:, order]
            stats = cols.value_stats(series, feature_type, missing[order])
            constraints = cols.constraints(series, feature_type)
        dtype = cols.dtype_name(dtypes[order])
        schema.append(
            cols.column(dtype, feature_type, name, order, missing[order] == 0, stats, constraints)
        )
    return {"schema": schema, "version": SCHEMA_VERSION}


def schema_from_feature_names(
    names: Sequence[str | int], dtypes: Sequence[str] | None = None
) -> dict[str, Any]:
    """A schema from column names alone (e.g. a model's ``feature_names_in_``), no sample.

    Each column gets the dtype given, or ``float64`` (what scikit-learn computes in
    whatever it was fed) when none is; its feature type follows from the dtype. With
    no data there are no statistics: ``domain.stats`` is empty and ``required`` is
    true (the model needs every column it was trained on).
    """
    names = [cols.plain_name(n) for n in names]
    if dtypes is not None and len(dtypes) != len(names):
        raise ValueError(f"{len(dtypes)} dtypes given for {len(names)} names")
    schema = []
    for order, name in enumerate(names):
        dtype = str(dtypes[order]) if dtypes is not None else "float64"
        schema.append(cols.column(dtype, cols.feature_type_of_dtype_name(dtype), name, order, True))
    return {"schema": schema, "version": SCHEMA_VERSION}


def schema_from_count(n: int) -> dict[str, Any]:
    """A schema of ``n`` float64 columns named 0..n-1, for a model that only knows how
    many features it takes."""
    if n < 0:
        raise ValueError(f"a schema cannot have {n} columns")
    return schema_from_feature_names(list(range(n)))


def schema_dtypes(doc: dict[str, Any]) -> dict[str | int, str]:
    """``{name: dtype}`` in column order, for coercing a request in score.py."""
    columns = [c for c in doc.get("schema", []) if isinstance(c, dict) and "name" in c]
    columns.sort(key=lambda c: c["order"] if isinstance(c.get("order"), int) else 0)
    return {c["name"]: c["dtype"] for c in columns if isinstance(c.get("dtype"), str)}


# -- measuring ------------------------------------------------------------------------


def schema_json(doc: dict[str, Any]) -> str:
    """The schema as the JSON text written to the artifact and sent to the catalog.

    Raises ``ValueError`` if the document holds NaN or infinity.
    """
    return json.dumps(doc, ensure_ascii=False, allow_nan=False)


def schema_size(doc: dict[str, Any]) -> int:
    """Size in bytes (UTF-8) of ``schema_json(doc)``."""
    return len(schema_json(doc).encode("utf-8"))


def fits_in_catalog(doc: dict[str, Any]) -> bool:
    """Whether the catalog accepts this schema (at most ``MAX_SCHEMA_BYTES``)."""
    return schema_size(doc) <= MAX_SCHEMA_BYTES


def schema_notes(doc: dict[str, Any]) -> list[str]:
    """What a user should know about a schema before it is saved: one line each."""
    notes = []
    n = len(doc.get("schema", []))
    if n > MAX_COLUMNS:
        notes.append(
            f"the data has {n} columns (more than {MAX_COLUMNS}): "
            "the schema lists them without statistics"
        )
    size = schema_size(doc)
    if size > MAX_SCHEMA_BYTES:
        notes.append(
            f"the schema is {size:,} bytes, over the catalog's {MAX_SCHEMA_BYTES:,}-byte limit: "
            "it stays in the artifact but cannot be sent to the catalog"
        )
    return notes


# -- tensors (images and other samples of rank 3 or more) -------------------------------

TENSOR_SHAPE_EXPR = "$x.shape[1:] == {shape}"


def tensor_schema(data: Any, name: str = "input") -> dict[str, Any]:
    """An input (or output) schema for a sample of rank 3 or more, batch first (and for
    each input of a model of several, whatever its rank).

    One column per feature would describe an 8x8 image as 64 unrelated columns (and a
    224x224 RGB image as 150,528, far past what the catalog takes), so the tensor is one
    column: ``dtype`` is the array's, the statistics are over all its values, and the
    constraint ``$x.shape[1:] == (C, H, W)`` records the shape of one item (score.py reads
    it back). The description says the same in words.
    """
    import numpy as np

    array = np.asarray(data)
    if array.ndim < 1 or array.dtype.kind not in "biuf":
        raise InputError(
            f"a tensor schema needs a numeric array, batch first, "
            f"not {array.dtype} of rank {array.ndim}"
        )
    shape = tuple(int(d) for d in array.shape[1:])  # () for one value per item
    column = infer_schema(array.reshape(-1), names=[name])["schema"][0]
    column["dtype"] = str(array.dtype)
    column["domain"]["constraints"] = [
        {"expression": TENSOR_SHAPE_EXPR.format(shape=shape), "language": "python"}
    ]
    dims = "".join(f", {d}" for d in shape) or ","  # (N, C, H, W); (N,) for one value per item
    column["description"] = (
        f"{array.dtype} tensor of shape (N{dims}), batch first; statistics over all its values"
    )
    return {"schema": [column], "version": SCHEMA_VERSION}


def tensor_facts(data: Any) -> dict[str, Any]:
    """Shape (batch axis as null) and dtype of a tensor sample, for the metadata."""
    import numpy as np

    array = np.asarray(data)
    return {"shape": [None, *(int(d) for d in array.shape[1:])], "dtype": str(array.dtype)}


def inputs_schema(arrays: dict[str, Any]) -> dict[str, Any]:
    """The schema of a model of several inputs: one column per input, named as the model
    names it, in its order; each a tensor column (``tensor_schema``), whatever its rank."""
    columns = [
        {**tensor_schema(data, name)["schema"][0], "order": order}
        for order, (name, data) in enumerate(arrays.items())
    ]
    return {"schema": columns, "version": SCHEMA_VERSION}


def describe(data: Any, name: str = "input") -> dict[str, Any]:
    """The schema of a sample: a table's columns, one tensor column for rank > 2, or one
    column per input for arrays by input name."""
    if isinstance(data, dict):
        return inputs_schema(data)
    return tensor_schema(data, name) if getattr(data, "ndim", 2) > 2 else infer_schema(data)
