"""Sample data files: read them, keep a few rows, turn them into a JSON payload.

A sample is what the user passes with ``--sample``: it gives the input schema its
statistics, the output schema its predictions, and ``mdreg verify`` its default
request. Formats, by file extension:

    .csv .tsv        a header row, then rows; a text column whose every value is an ISO 8601
                     date or date-time (2024-01-31, 2024-01-31T12:00:00Z) is read as
                     datetime64, as Parquet gives it; other text stays text
    .json            a list of records, a list of rows, a list of values,
                     a dict of columns, {"columns": [...], "data": [...]} or {"data": ...};
                     {name: rows, ...} is one array per input (as an .npz of several)
    .jsonl .ndjson   one record (or one row) per line
    .parquet .pq     needs pyarrow
    .npy .npz        numeric or string arrays; never unpickled (.npz of several arrays:
                     one per input of a model of several inputs, by name)

Rows of plain numbers (a JSON list of lists, .npy, .npz) come back as a numpy array,
because that is what an array model is fed; an .npz of several arrays as a dict of them
(name -> array, in the file's order); everything else as a pandas DataFrame.
Every failure is an ``InputError`` naming the file and what is wrong with it. The JSON
forms are read, and values written as JSON, by ``sample_json``.
"""

from __future__ import annotations

import importlib.util
import json
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mdreg.artifact.sample_json import named_arrays, plain, table_from_json
from mdreg.errors import FrameworkNotInstalledError, InputError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

SAMPLE_EXTENSIONS = (
    ".csv",
    ".tsv",
    ".json",
    ".jsonl",
    ".ndjson",
    ".parquet",
    ".pq",
    ".npy",
    ".npz",
)


def read_sample(path: Path) -> pd.DataFrame | np.ndarray | dict[str, np.ndarray]:
    """Read a sample file into a DataFrame or an array (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"sample file {path} does not exist")
    if path.is_dir():
        raise InputError(f"sample {path} is a folder: give a .csv, .json, .parquet or .npy file")
    suffix = path.suffix.lower()
    if suffix not in SAMPLE_EXTENSIONS:
        raise InputError(
            f"sample file {path}: unknown extension {suffix or '(none)'!r}: "
            f"use one of {', '.join(SAMPLE_EXTENSIONS)}"
        )
    if path.stat().st_size == 0:
        raise InputError(f"sample file {path} is empty")
    if importlib.util.find_spec("pandas") is None or importlib.util.find_spec("numpy") is None:
        raise FrameworkNotInstalledError("Sample file", "pandas", "tabular")
    if suffix in (".csv", ".tsv"):
        data = _read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    elif suffix == ".json":
        data = table_from_json(_load_json(path), path)
    elif suffix in (".jsonl", ".ndjson"):
        data = _read_jsonl(path)
    elif suffix in (".parquet", ".pq"):
        data = _read_parquet(path)
    else:
        data = _read_numpy(path)
    if len(data) == 0:
        raise InputError(f"sample file {path} has no rows")
    return data


def from_json(
    doc: Any, source: str = "the payload"
) -> pd.DataFrame | np.ndarray | dict[str, np.ndarray]:
    """The table a parsed JSON document describes (the forms a .json sample file takes);
    ``source`` names it in error messages."""
    if importlib.util.find_spec("pandas") is None or importlib.util.find_spec("numpy") is None:
        raise FrameworkNotInstalledError("Sample data", "pandas", "tabular")
    data = table_from_json(doc, source)
    if len(data) == 0:
        raise InputError(f"{source} has no rows")
    return data


def head_rows(data: Any, n: int = 5) -> Any:
    """The first ``n`` rows of ``data``, of the same type (the sample kept in the artifact)."""
    if n < 0:
        raise ValueError(f"cannot keep {n} rows")
    if hasattr(data, "iloc"):  # DataFrame, Series
        return data.iloc[:n].copy()
    if hasattr(data, "shape") and hasattr(data, "copy"):  # numpy array
        return data[:n].copy()
    if isinstance(data, dict):  # arrays by input name
        return {name: head_rows(array, n) for name, array in data.items()}
    return list(data)[:n]


def to_json_payload(data: Any) -> list[Any] | dict[str, Any]:
    """``data`` in a form ``json.dumps(..., allow_nan=False)`` accepts, for a request.

    A DataFrame whose column names are all strings becomes a list of records
    ``[{column: value}, ...]``; one with other names (integer positions from array
    data) becomes a list of rows, as do arrays (nested lists). Missing values, NaN
    and infinity become null; dates and times become ISO 8601 strings; numpy
    scalars become Python numbers.
    """
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        if all(isinstance(c, str) for c in data.columns):
            columns = list(data.columns)
            return [
                {c: plain(v) for c, v in zip(columns, row, strict=True)}
                for row in data.itertuples(index=False, name=None)
            ]
        return [[plain(v) for v in row] for row in data.itertuples(index=False, name=None)]
    if isinstance(data, pd.Series):
        return [plain(v) for v in data.tolist()]
    if isinstance(data, np.ndarray):
        if data.dtype.names:  # structured: one record per row
            return to_json_payload(pd.DataFrame(data))
        if data.dtype.kind in "mM":  # tolist() would give nanoseconds as bare integers
            cells = np.empty(data.shape, dtype=object)
            for index, value in np.ndenumerate(data):
                cells[index] = plain(value)
            return cells.tolist()
        return plain(data.tolist())
    if isinstance(data, dict):
        return {
            str(k): to_json_payload(v) if isinstance(v, np.ndarray) else plain(v)
            for k, v in data.items()
        }
    return plain(list(data))


# -- readers ---------------------------------------------------------------------------


def _read_csv(path: Path, *, sep: str) -> pd.DataFrame:
    import pandas as pd

    try:
        return _iso_dates(pd.read_csv(path, sep=sep, parse_dates=False))
    except pd.errors.EmptyDataError as exc:
        raise InputError(f"sample file {path} has no header and no rows") from exc
    except pd.errors.ParserError as exc:
        raise InputError(f"sample file {path} is not valid CSV: {_first_line(exc)}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"sample file {path} is not UTF-8 text: {exc.reason}") from exc


#: What a text column's values must all look like to be read as dates: an ISO 8601 date,
#: alone or followed by a time (pandas alone would also take "2024" or "2024-01").
_ISO_DATE = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?"
)


def _iso_dates(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each text column whose every value (missing ones aside) is an ISO
    8601 date or date-time turned into datetime64; numbers and other text are left alone.
    A column of mixed UTC offsets stays text (it has no one datetime64 dtype)."""
    import pandas as pd

    for name in frame.columns:
        column = frame[name]
        if not (
            pd.api.types.is_object_dtype(column.dtype) or pd.api.types.is_string_dtype(column.dtype)
        ):
            continue
        present = column.dropna()
        if (
            present.empty
            or not isinstance(present.iloc[0], str)
            or not re.fullmatch(_ISO_DATE, present.iloc[0])
        ):
            continue  # the first value decides most columns at once
        if not present.astype(str).str.fullmatch(_ISO_DATE).all():
            continue
        try:
            with warnings.catch_warnings():  # pandas 2 warns of mixed offsets, pandas 3 raises
                warnings.simplefilter("ignore")
                dates = pd.to_datetime(column, format="ISO8601")
        except (ValueError, TypeError, OverflowError):  # out of range, mixed offsets
            continue
        if dates.dtype.kind == "M":
            frame[name] = dates
    return frame


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(f"sample file {path} is not UTF-8 text: {exc.reason}") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"sample file {path} is not valid JSON: {exc}") from exc


def _read_jsonl(path: Path) -> pd.DataFrame | np.ndarray:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise InputError(f"sample file {path} is not UTF-8 text: {exc.reason}") from exc
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise InputError(f"sample file {path}, line {number}: not valid JSON: {exc}") from exc
    if not rows:
        raise InputError(f"sample file {path} has no rows")
    if not (all(isinstance(r, dict) for r in rows) or all(isinstance(r, list) for r in rows)):
        raise InputError(
            f"sample file {path}: every line must be a JSON object (a record), "
            "or every line a JSON list (a row)"
        )
    return table_from_json(rows, path)


def _read_parquet(path: Path) -> pd.DataFrame:
    if importlib.util.find_spec("pyarrow") is None:
        raise FrameworkNotInstalledError("Parquet", "pyarrow")
    import pandas as pd

    try:
        return pd.read_parquet(path, engine="pyarrow")
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise InputError(f"sample file {path} is not valid Parquet: {_first_line(exc)}") from exc


def _read_numpy(path: Path) -> np.ndarray | pd.DataFrame | dict[str, np.ndarray]:
    import numpy as np
    import pandas as pd

    with path.open("rb") as f:
        magic = f.read(6)
    if magic != b"\x93NUMPY" and not magic.startswith(b"PK\x03\x04"):
        raise InputError(f"sample file {path} is not a numpy .npy/.npz file (no numpy header)")
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                arrays = {name: loaded[name] for name in loaded.files}
            if len(arrays) != 1:  # one per input of a model of several inputs
                return named_arrays(arrays, f"sample file {path}")
            loaded = next(iter(arrays.values()))
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise InputError(
                f"sample file {path} holds Python objects, which mdreg does not unpickle: "
                "save a numeric or string array"
            ) from exc
        raise InputError(f"sample file {path} is not a valid numpy file: {exc}") from exc
    except (OSError, EOFError) as exc:
        raise InputError(f"sample file {path} is not a valid numpy file: {exc}") from exc
    if loaded.ndim == 0:
        raise InputError(f"sample file {path} holds a single value, not rows")
    if loaded.dtype.names:  # a structured array: its fields are columns
        return pd.DataFrame(loaded)
    return loaded


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
