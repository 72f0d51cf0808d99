"""A sample's JSON forms: the table a parsed JSON document describes (a .json or .jsonl
sample file, a request body), and values as JSON holds them (``plain``).

numpy and pandas are imported inside the functions that need them.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mdreg.errors import InputError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


def table_from_json(obj: Any, path: Path | str) -> pd.DataFrame | np.ndarray:
    """The table a parsed JSON sample describes."""
    import pandas as pd

    where = path if isinstance(path, str) else f"sample file {path}"  # str: from_json's source
    if isinstance(obj, dict) and set(obj) == {"data"}:
        return table_from_json(obj["data"], path)
    try:
        if isinstance(obj, dict):
            if {"columns", "data"} <= set(obj) and set(obj) <= {"columns", "data", "index"}:
                return pd.DataFrame(obj["data"], columns=obj["columns"])
            if any(_is_rows(v) for v in obj.values()):
                return named_arrays(obj, where)  # {input: rows}: a model of several inputs
            if obj and all(not isinstance(v, (list, dict)) for v in obj.values()):
                return pd.DataFrame([obj])  # one record
            return pd.DataFrame(obj)
        if isinstance(obj, list):
            if obj and all(isinstance(r, dict) for r in obj):
                return pd.DataFrame(obj)
            if any(isinstance(r, dict) for r in obj):
                raise InputError(f"{where}: a list that mixes records with other values")
            if all(isinstance(r, list) for r in obj):
                rows = _numeric_array(obj)
                return rows if rows is not None else pd.DataFrame(obj)
            if any(isinstance(r, list) for r in obj):
                raise InputError(f"{where}: a list that mixes rows with single values")
            return _values_array(obj)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{where}: cannot read it as a table: {exc}") from exc
    raise InputError(
        f"{where}: expected a list of records, a list of rows, a dict of columns "
        f'or {{"data": ...}}, found {_json_kind(obj)}'
    )


def _is_rows(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(r, list) for r in value)


def named_arrays(obj: dict[str, Any], where: str) -> dict[str, np.ndarray]:
    """One array per input of a model of several inputs, from an .npz or its JSON form
    ({name: nested lists}, as prepare keeps the sample): numbers, batch first, the same
    number of items in each."""
    import numpy as np

    arrays = {}
    for name, value in obj.items():
        try:
            arrays[str(name)] = array = np.asarray(value)
        except ValueError:  # rows of different lengths
            array = None
        if array is None or array.ndim == 0 or array.dtype.kind not in "biuf":
            raise InputError(
                f"{where}: input {name!r} is not an array of numbers, one row "
                "per item (rows of equal length)"
            )
    if len({len(array) for array in arrays.values()}) > 1:
        raise InputError(f"{where}: its arrays have different numbers of items (the first axis)")
    return arrays


def _numeric_array(rows: list[Any]) -> np.ndarray | None:
    """``rows`` as a 2-D numpy array when they are equally long rows of numbers or booleans."""
    import numpy as np

    try:
        array = np.asarray(rows)
    except ValueError:  # ragged rows
        return None
    return array if array.dtype.kind in "biuf" else None


def _values_array(values: list[Any]) -> np.ndarray:
    """A JSON list of single values as a 1-D array: numeric, text, or (mixed) objects."""
    import numpy as np

    if values and all(isinstance(v, (int, float)) for v in values):
        return np.asarray(values)
    if values and all(isinstance(v, str) for v in values):
        return np.asarray(values, dtype=str)
    return np.array(values, dtype=object)


def _json_kind(obj: Any) -> str:
    if obj is None:
        return "null"
    if isinstance(obj, bool):
        return "a boolean"
    return "a number" if isinstance(obj, (int, float)) else "a string"


# -- JSON values -----------------------------------------------------------------------


def plain(value: Any) -> Any:
    """One value (or nested lists of them) as JSON can hold it."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):  # scalars, 0-d arrays
        if getattr(value, "dtype", None) is not None and value.dtype.kind in "mM":
            import pandas as pd  # numpy gives nanosecond datetimes as bare integers

            return plain(pd.Timedelta(value) if value.dtype.kind == "m" else pd.Timestamp(value))
        return plain(value.tolist())
    if _is_missing(value):  # pd.NA, pd.NaT, numpy NaT
        return None
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if hasattr(value, "isoformat"):  # pandas Timestamp, Timedelta
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    try:
        return plain(float(value))  # Decimal, Fraction
    except (TypeError, ValueError):
        return str(value)


def _is_missing(value: Any) -> bool:
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
