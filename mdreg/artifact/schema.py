"""input_schema.json / output_schema.json: infer, check and measure data schemas.

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
import math
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mdreg.artifact import schema_columns as cols
from mdreg.errors import InputError

if TYPE_CHECKING:
    pass

SCHEMA_VERSION = "1.1"
#: ADS refuses to build a schema wider than this; we write a reduced one instead.
MAX_COLUMNS = 2000
#: The Model Catalog rejects an input or output schema larger than this (bytes).
MAX_SCHEMA_BYTES = 32_000

#: The feature types mdreg writes.
FEATURE_TYPES = ("Continuous", "Integer", "String", "Category", "Boolean", "DateTime")
#: Every feature type ADS knows (files made by ADS may use any of them).
ADS_FEATURE_TYPES = frozenset((
    *FEATURE_TYPES,
    "Address", "Constant", "CreditCard", "Discrete", "Document", "GIS", "IpAddress",
    "IpAddressV4", "IpAddressV6", "LatLong", "Object", "Ordinal", "PhoneNumber", "Text",
    "Unknown", "ZipCode",
))  # fmt: skip
KNOWN_VERSIONS = ("1.0", "1.1")
COLUMN_KEYS = ("dtype", "feature_type", "name", "domain", "required", "description", "order")
_DOMAIN_KEYS = ("values", "stats", "constraints")
_CONSTRAINT_KEYS = ("expression", "language")


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


# -- checking -------------------------------------------------------------------------


def validate_schema(doc: Any) -> list[str]:
    """Problems in a loaded schema document, one message each; ``[]`` when valid.

    Checks the version-1.1 form (what ADS can load): a missing ``version`` means
    "1.0" and is accepted; every column must then have ``dtype``, ``name`` and
    ``required``, and a "1.1" column every key in ``COLUMN_KEYS``. Orders must be
    0..n-1 in any sequence (ADS lists columns in no fixed order).
    """
    if not isinstance(doc, dict):
        return [f"the schema document must be a JSON object, not {_json_type(doc)}"]
    problems: list[str] = []
    version = doc.get("version", "1.0")
    if version not in KNOWN_VERSIONS:
        problems.append(f'unknown schema version {version!r}: use "{SCHEMA_VERSION}"')
    columns = doc.get("schema")
    if not isinstance(columns, list):
        found = "missing" if "schema" not in doc else _json_type(columns)
        return [*problems, f"'schema' must be a list of columns, but it is {found}"]
    needed = COLUMN_KEYS if version == "1.1" else ("dtype", "name", "required")
    names: list[Any] = []
    owner_of_order: dict[int, str] = {}
    for i, column in enumerate(columns):
        if not isinstance(column, dict):
            problems.append(f"column #{i}: must be a JSON object, not {_json_type(column)}")
            continue
        label = _label(column, i)
        problems += [f"{label}: missing key {k!r}" for k in needed if k not in column]
        problems += [
            f"{label}: unknown key {k!r} (ADS cannot load it): remove it"
            for k in column
            if k not in COLUMN_KEYS
        ]
        problems += _check_column(column, label)
        if _is_name(column.get("name")):
            names.append(column["name"])
        order = column.get("order")
        if isinstance(order, int) and not isinstance(order, bool) and order >= 0:
            if order >= len(columns):
                problems.append(
                    f"{label}: 'order' {order} is past the last column: "
                    f"use 0..{len(columns) - 1}, each once"
                )
            elif order in owner_of_order:
                problems.append(
                    f"{label}: 'order' {order} is also used by {owner_of_order[order]}: "
                    "give each column its own position"
                )
            else:
                owner_of_order[order] = label
    dupes = sorted(repr(n) for n, count in Counter(names).items() if count > 1)
    problems += [
        f"column {d}: the name appears more than once: names must be unique" for d in dupes
    ]
    return problems


def _check_column(column: dict[str, Any], label: str) -> list[str]:
    problems = []
    if "dtype" in column and not (isinstance(column["dtype"], str) and column["dtype"]):
        problems.append(f"{label}: 'dtype' must be a pandas dtype string such as \"float64\"")
    if "name" in column and not _is_name(column["name"]):
        problems.append(f"{label}: 'name' must be a string or an integer")
    if "required" in column and not isinstance(column["required"], bool):
        problems.append(f"{label}: 'required' must be true or false")
    feature_type = column.get("feature_type")
    if feature_type is not None and feature_type not in ADS_FEATURE_TYPES:
        problems.append(
            f"{label}: 'feature_type' {feature_type!r} is not a feature type: "
            f"use one of {', '.join(FEATURE_TYPES)}"
        )
    description = column.get("description")
    if description is not None and not isinstance(description, str):
        problems.append(f"{label}: 'description' must be a string")
    order = column.get("order")
    if order is not None and (not isinstance(order, int) or isinstance(order, bool) or order < 0):
        problems.append(f"{label}: 'order' must be a whole number from 0")
    if column.get("domain") is not None:
        problems += _check_domain(column["domain"], label)
    return problems


def _check_domain(domain: Any, label: str) -> list[str]:
    if not isinstance(domain, dict):
        return [f"{label}: 'domain' must be an object with values, stats and constraints"]
    problems = [
        f"{label}: unknown key {k!r} in 'domain': keep only values, stats, constraints"
        for k in domain
        if k not in _DOMAIN_KEYS
    ]
    if domain.get("values") is not None and not isinstance(domain["values"], str):
        problems.append(f"{label}: 'domain.values' must be a string")
    stats = domain.get("stats")
    if stats is not None and not isinstance(stats, dict):
        problems.append(f"{label}: 'domain.stats' must be an object")
    elif stats:
        bad = [k for k, v in stats.items() if isinstance(v, float) and not math.isfinite(v)]
        problems += [f"{label}: stat {k!r} is NaN or infinite (not JSON): use null" for k in bad]
    constraints = domain.get("constraints")
    if constraints is None:
        if "constraints" not in domain:
            problems.append(f"{label}: missing key 'domain.constraints' (use [])")
        return problems
    if not isinstance(constraints, list):
        return [*problems, f"{label}: 'domain.constraints' must be a list"]
    for c in constraints:
        if not (
            isinstance(c, dict)
            and set(c) <= set(_CONSTRAINT_KEYS)
            and isinstance(c.get("expression"), str)
            and c["expression"]
            and isinstance(c.get("language", "python"), str)
        ):
            problems.append(
                f'{label}: each constraint must be {{"expression": "<text>", "language": "python"}}'
            )
    return problems


# -- checking helpers ---------------------------------------------------------------------


def _label(column: dict[str, Any], index: int) -> str:
    name = column.get("name")
    return f"column {name!r}" if _is_name(name) else f"column #{index}"


def _is_name(value: Any) -> bool:
    return isinstance(value, (str, int)) and not isinstance(value, bool)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


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
