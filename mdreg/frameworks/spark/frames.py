"""Sample rows as a Spark DataFrame (column types from the input schema or the stages'
needs), and Spark's answers back as plain values."""

from __future__ import annotations

from typing import Any

from mdreg.frameworks.spark.session import quiet


def spark_type_name(dtype: str | None) -> str | None:
    """The Spark SQL type for a pandas dtype string (as written in input_schema.json)."""
    if not dtype:
        return None
    d = dtype.lower()
    if d.startswith("float") and d.endswith("32"):
        return "float"
    if d.startswith("float"):
        return "double"
    if d.startswith(("int", "uint")):
        return {"int8": "byte", "int16": "short", "int32": "integer"}.get(d, "long")
    if d in ("bool", "boolean"):
        return "boolean"
    if d in ("object", "str", "string", "category") or d.startswith("string"):
        return "string"
    if d.startswith("datetime64"):
        return "timestamp"
    return None


def _python_values(series: Any, kind: str) -> list[Any]:
    import pandas as pd

    missing = series.isna().to_numpy()
    if kind in ("double", "float"):
        values = pd.to_numeric(series, errors="raise").astype("float64").tolist()
    elif kind in ("long", "integer", "short", "byte"):
        values = [int(v) if not m else None for v, m in zip(series.tolist(), missing, strict=True)]
    elif kind == "boolean":
        values = [bool(v) if not m else None for v, m in zip(series.tolist(), missing, strict=True)]
    elif kind == "timestamp":
        values = pd.to_datetime(series).dt.to_pydatetime().tolist()
    else:
        values = [str(v) if not m else None for v, m in zip(series.tolist(), missing, strict=True)]
    return [None if m else v for v, m in zip(values, missing, strict=True)]


_ARROW_TYPES = {
    "double": "float64",
    "float": "float32",
    "long": "int64",
    "integer": "int32",
    "short": "int16",
    "byte": "int8",
    "boolean": "bool_",
    "string": "string",
}


def arrow_input() -> bool:
    """Whether rows can reach the JVM as an Arrow table (pyspark 4+ with pyarrow). The
    other way, a list of rows, makes Spark start a Python worker process to decode them."""
    import importlib.util

    import pyspark

    return (
        importlib.util.find_spec("pyarrow") is not None
        and int(pyspark.__version__.split(".")[0]) >= 4
    )


def to_spark_frame(spark: Any, frame: Any, types: dict[str, str]) -> Any:
    """A pandas DataFrame as a Spark DataFrame, column types from ``types`` (Spark type
    names), else from the frame's dtypes. Missing values become SQL nulls."""
    from pyspark.sql import types as T

    by_name = {
        "double": T.DoubleType(),
        "float": T.FloatType(),
        "long": T.LongType(),
        "integer": T.IntegerType(),
        "short": T.ShortType(),
        "byte": T.ByteType(),
        "boolean": T.BooleanType(),
        "string": T.StringType(),
        "timestamp": T.TimestampType(),
    }
    names, kinds, fields, columns = [], [], [], []
    for name in frame.columns:
        kind = types.get(str(name)) or spark_type_name(str(frame[name].dtype)) or "string"
        names.append(str(name))
        kinds.append(kind)
        fields.append(T.StructField(str(name), by_name[kind], True))
        columns.append(_python_values(frame[name], kind))
    schema = T.StructType(fields)
    with quiet():
        if columns and arrow_input():
            import pyarrow as pa

            arrays = [
                pa.array(
                    values,
                    type=pa.timestamp("us")
                    if kind == "timestamp"
                    else getattr(pa, _ARROW_TYPES[kind])(),
                )
                for values, kind in zip(columns, kinds, strict=True)
            ]
            return spark.createDataFrame(pa.Table.from_arrays(arrays, names=names), schema)
        rows = list(zip(*columns, strict=True)) if columns else [() for _ in range(len(frame))]
        return spark.createDataFrame(rows, schema)


def plain(value: Any) -> Any:
    """A Spark result value as JSON can hold it (ML vectors become lists)."""
    if hasattr(value, "toArray"):
        return value.toArray().tolist()
    return value
