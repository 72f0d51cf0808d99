"""One schema column from one data column, as ADS 2.16 writes it: the dtype's name, the
feature type, the statistics (numeric columns all at once), the constraints; and the
frame any sample is turned into first. ``mdreg.artifact.schema`` puts them together
(the rules are in its docstring).

numpy and pandas are imported inside the functions that need them.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

from mdreg.errors import InputError

if TYPE_CHECKING:
    import pandas as pd


def column(
    dtype: str,
    feature_type: str,
    name: str | int,
    order: int,
    required: bool,
    stats: dict[str, Any] | None = None,
    constraints: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    return {
        "dtype": dtype,
        "feature_type": feature_type,
        "name": name,
        "domain": {"values": feature_type, "stats": stats or {}, "constraints": constraints or []},
        "required": required,
        "description": str(name),
        "order": order,
    }


def to_frame(data: Any) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame(name=0 if data.name is None else data.name)
    if isinstance(data, dict):
        return pd.DataFrame(data)
    if isinstance(data, (list, tuple)):
        if data and all(isinstance(r, dict) for r in data):
            return pd.DataFrame(list(data))
        if data and all(isinstance(r, (list, tuple)) for r in data):
            return pd.DataFrame(list(data))
        return pd.DataFrame({0: list(data)})
    array = np.asarray(data)
    if array.dtype.names:  # a structured array: its fields are the columns
        return pd.DataFrame(array)
    if array.ndim in (1, 2):
        return pd.DataFrame(array)
    raise InputError(
        f"cannot describe {type(data).__name__} data with {array.ndim} dimensions as columns: "
        "a schema needs a table (2-D) or a single column (1-D)"
    )


def plain_name(name: Any) -> str | int:
    """Column names as JSON can hold them: integers stay integers, the rest is text."""
    if isinstance(name, bool):
        return str(name)
    if isinstance(name, int):
        return name
    if type(name).__module__ == "numpy" and hasattr(name, "item"):
        return plain_name(name.item())
    return name if isinstance(name, str) else str(name)


def dtype_name(dtype: Any) -> str:
    text = str(dtype)
    return "object" if text == "str" else text  # pandas 3's default strings


def feature_type(frame: pd.DataFrame, position: int, dtype: Any) -> str:
    import pandas as pd

    # Python objects: booleans with a None among them are still Boolean.
    if dtype == object:  # noqa: E721 - a numpy dtype equals object; `is` would not
        kind = pd.api.types.infer_dtype(frame.iloc[:, position], skipna=True)
        return "Boolean" if kind == "boolean" else "String"
    return feature_type_of_dtype(dtype)


def feature_type_of_dtype(dtype: Any) -> str:
    from pandas import CategoricalDtype
    from pandas.api import types

    if types.is_bool_dtype(dtype):
        return "Boolean"
    if isinstance(dtype, CategoricalDtype):
        return "Category"
    if types.is_datetime64_any_dtype(dtype):
        return "DateTime"
    if types.is_integer_dtype(dtype):
        return "Integer"
    if types.is_float_dtype(dtype):
        return "Continuous"
    return "String"


def feature_type_of_dtype_name(dtype: str) -> str:
    """The feature type for a dtype named in text, without needing pandas."""
    text = dtype.lower()
    if text in ("bool", "boolean"):
        return "Boolean"
    if text == "category":
        return "Category"
    if text.startswith("datetime"):
        return "DateTime"
    if text.startswith(("int", "uint")):
        return "Integer"
    if text.startswith("float") or text in ("double", "single", "half"):
        return "Continuous"
    return "String"


def numeric_stats(frame: pd.DataFrame, positions: list[int]) -> dict[int, dict[str, Any]]:
    """Statistics of the numeric columns at ``positions``, computed for all at once."""
    import numpy as np

    if not positions:
        return {}
    values = frame.iloc[:, positions].astype("float64").set_axis(range(len(positions)), axis=1)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # inf and all-missing columns
        quartiles = values.quantile([0.25, 0.5, 0.75]).to_numpy()
        columns = {
            "mean": values.mean().to_numpy(),
            "standard deviation": values.std().to_numpy(),
            "sample minimum": values.min().to_numpy(),
            "lower quartile": quartiles[0],
            "median": quartiles[1],
            "upper quartile": quartiles[2],
            "sample maximum": values.max().to_numpy(),
        }
        skews = values.skew().to_numpy()
    result = {}
    for j, position in enumerate(positions):
        stats: dict[str, Any] = {"count": float(len(frame))}
        stats.update((key, number(column[j])) for key, column in columns.items())
        spread = columns["standard deviation"][j]
        skew = number(skews[j])
        if math.isfinite(spread) and spread > 0 and skew is not None:
            stats["skew"] = skew
        result[position] = stats
    return result


def value_stats(series: pd.Series, feature_type: str, n_missing: int) -> dict[str, Any]:
    """Statistics of a String, Category, Boolean or DateTime column."""
    present = series.dropna()
    stats: dict[str, Any] = {"count": len(series), "unique": n_unique(present)}
    if feature_type == "DateTime":
        stats["sample minimum"] = present.min().isoformat() if len(present) else None
        stats["sample maximum"] = present.max().isoformat() if len(present) else None
    if n_missing:
        stats["missing"] = n_missing
    return stats


def number(value: Any) -> float | None:
    """Round to 3 decimals; None where undefined or not finite (not JSON)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    return round(number, 3) + 0.0  # + 0.0 turns -0.0 into 0.0


def n_unique(values: pd.Series) -> int:
    try:
        return int(values.nunique())
    except TypeError:  # unhashable cells (lists, dicts)
        return int(values.astype(str).nunique())


def constraints(series: pd.Series, feature_type: str) -> list[dict[str, str]]:
    if feature_type == "Boolean":
        allowed: list[Any] = [True, False]
    elif feature_type == "Category":
        allowed = [python_value(v) for v in series.dtype.categories]
    else:
        return []
    return [{"expression": f"$x in {allowed!r}", "language": "python"}]


def python_value(value: Any) -> Any:
    """A category as a Python literal: numpy scalars unwrapped, timestamps as text."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value
