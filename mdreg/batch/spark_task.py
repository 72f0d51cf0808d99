"""What runs in Spark's Python workers for ``mdreg.spark.score``: score.py over pandas
batches. Standard library, pandas, pyarrow and score.py only: executors need no mdreg.

``mdreg.spark`` registers this module with cloudpickle's ``register_pickle_by_value``,
so ``score_frames`` travels to the executors as code, with its plan (plain strings,
lists and dicts) bound by ``functools.partial``; nothing here imports mdreg, at module
level or in a function.

The artifact reaches each executor as an archive (``SparkContext.addArchive(zip#alias)``),
unpacked by Spark under ``SparkFiles.get(alias)``. A Python worker imports score.py
from there once: the module is kept in ``sys.modules`` under a name made from the alias
(which carries the zip's sha256), because each task unpickles this code afresh while
the worker process, and its ``sys.modules``, lives on from task to task. Each pandas
batch then goes to ``predict`` as an Arrow IPC stream, the body the local engine sends,
so deserialize, pre_inference, the model and post_inference all run as on a deployment.
score.py runs with the artifact folder as its working directory and first on
``sys.path``, as the deployment runs it.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import io
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

#: Starts the message of every error raised here, so the driver can find it in Spark's
#: wrapped exception (``error_message``).
MARKER = "mdreg scoring error: "
ERROR_COLUMN = "error"
_MODULE_PREFIX = "_mdreg_score_"


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def error_message(text: str) -> str | None:
    """The message of an error raised here, found in the text of the exception Spark
    raised on the driver (which wraps the worker's traceback); None when absent."""
    at = text.find(MARKER)
    if at < 0:
        return None
    return text[at + len(MARKER) :].splitlines()[0].strip()


class ScoringError(RuntimeError):
    def __init__(self, message: str) -> None:
        super().__init__(MARKER + message)


def artifact_dir(root: str) -> str:
    """The folder holding score.py in an unpacked artifact: ``root`` or its one subfolder."""
    if os.path.isfile(os.path.join(root, "score.py")):
        return root
    found = [
        os.path.join(root, name)
        for name in sorted(os.listdir(root))
        if os.path.isfile(os.path.join(root, name, "score.py"))
    ]
    if len(found) != 1:
        raise FileNotFoundError(f"{root}: no score.py in the unpacked artifact")
    return found[0]


@contextlib.contextmanager
def _inside(folder: str) -> Iterator[None]:
    """The artifact folder as the working directory (put back afterwards: Spark's own
    paths in the worker may be relative)."""
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def load_score(alias: str, root: str | None = None) -> Any:
    """score.py of the archive ``alias`` (unpacked at ``root``, default
    ``SparkFiles.get(alias)``), imported once per Python worker."""
    name = _MODULE_PREFIX + "".join(c if c.isalnum() else "_" for c in alias)
    module = sys.modules.get(name)
    if module is not None:
        return module
    try:
        if root is None:
            from pyspark import SparkFiles

            root = SparkFiles.get(alias)
        folder = os.path.abspath(artifact_dir(root))
        spec = importlib.util.spec_from_file_location(name, os.path.join(folder, "score.py"))
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {folder}/score.py")
        module = importlib.util.module_from_spec(spec)
        if folder not in sys.path:
            sys.path.insert(0, folder)  # modules shipped beside score.py import
        sys.modules[name] = module
        with _inside(folder):
            spec.loader.exec_module(module)  # predict's default argument loads the model
        if not callable(getattr(module, "predict", None)):
            raise AttributeError("score.py defines no predict(data) function")
    except Exception as exc:  # noqa: BLE001 - any failure of the user's code
        sys.modules.pop(name, None)
        raise ScoringError(f"score.py could not load the model: {one_line(exc)}") from exc
    module.__dict__["_mdreg_folder"] = folder
    return module


def score_frames(plan: dict[str, Any], frames: Iterator[Any]) -> Iterator[Any]:
    """``mapInPandas``' function: each pandas batch with its predictions.

    ``plan``: ``alias`` (the archive), ``columns`` (sent to score.py), ``keep`` (copied
    to the output), ``outputs`` (``[name, arrow type name or None]`` per prediction
    column), ``skip`` (failing rows get null predictions and an error), ``batch_rows``
    (at most this many rows per predict call; None: Spark's batches)."""
    score = None
    where = _partition()
    first = 0
    for frame in frames:
        if score is None:  # on the first batch: an empty partition loads nothing
            score = load_score(plan["alias"], plan.get("root"))
        size = plan.get("batch_rows") or max(len(frame), 1)
        for start in range(0, len(frame), size):
            chunk = frame.iloc[start : start + size].reset_index(drop=True)
            yield score_frame(
                score, chunk, plan, f"{where}rows {first:,}-{first + len(chunk) - 1:,}"
            )
            first += len(chunk)


def _partition() -> str:
    try:
        from pyspark import TaskContext

        context = TaskContext.get()
    except ImportError:
        context = None
    return f"partition {context.partitionId()}, " if context is not None else ""


def score_frame(score: Any, frame: Any, plan: dict[str, Any], where: str) -> Any:
    import pandas as pd
    import pyarrow as pa

    batch = pa.RecordBatch.from_pandas(frame[plan["columns"]], preserve_index=False)
    rows = len(frame)
    errors: list[str | None] | None = None
    failure, answer = _ask(score, batch)
    try:
        if failure is None:
            arrays = fit(answer, plan["outputs"], rows)
        elif plan["skip"]:
            arrays, errors = _bisect(score, batch, plan["outputs"])
        else:
            raise ScoringError(f"{where} (first row {_first_row(frame)}): {failure}")
    except ValueError as exc:
        raise ScoringError(f"{where}: score.py's answer does not fit: {exc}") from None
    out = {name: frame[name] for name in plan["keep"]}
    for (name, _), array in zip(plan["outputs"], arrays, strict=True):
        out[name] = _series(array)
    if plan["skip"]:
        out[ERROR_COLUMN] = pd.Series(errors or [None] * rows, dtype=object)
    return pd.DataFrame(out, index=pd.RangeIndex(rows))


def _first_row(frame: Any) -> str:
    row = {str(k): v for k, v in frame.iloc[0].to_dict().items()}
    text = json.dumps(row, default=str)
    return text if len(text) <= 200 else text[:197] + "..."


def _ask(score: Any, batch: Any) -> tuple[str | None, Any]:
    """(None, score.py's answer) or (what went wrong, None)."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    body = sink.getvalue().to_pybytes()
    try:
        with _inside(score._mdreg_folder):
            return None, score.predict(body)
    except Exception as exc:  # noqa: BLE001 - the user's code, reported per batch or row
        return f"predict raised {one_line(exc)}", None


def _bisect(score: Any, batch: Any, outputs: list[Any]) -> tuple[list[Any], list[str | None]]:
    """Predictions for the rows of ``batch`` score.py can answer, and the error of each
    row it cannot: halves are retried until the failing rows stand alone."""
    import pyarrow as pa

    rows = batch.num_rows
    failure, answer = _ask(score, batch)
    if failure is None:
        return fit(answer, outputs, rows), [None] * rows
    if rows == 1:
        return [pa.nulls(1, type=_arrow_type(t) or pa.string()) for _, t in outputs], [failure]
    half = rows // 2
    a, a_errors = _bisect(score, batch.slice(0, half), outputs)
    b, b_errors = _bisect(score, batch.slice(half), outputs)
    return [pa.concat_arrays([x, y]) for x, y in zip(a, b, strict=True)], a_errors + b_errors


def _arrow_type(name: str | None) -> Any:
    import pyarrow as pa

    return getattr(pa, name)() if name else None


def answer_columns(prediction: Any, rows: int, width: int) -> list[Any]:
    """score.py's prediction for ``rows`` rows as ``width`` numpy columns: one output, or
    several side by side (a dict of outputs, batch first); ValueError saying what does
    not fit. The local engine (``batch/outputs``) uses it too: this is the module both
    can import, as executors have no mdreg."""
    import numpy as np

    parts = list(prediction.values()) if isinstance(prediction, dict) else [prediction]
    blocks = []
    for part in parts:
        block = np.asarray(part)
        if block.dtype.kind in "US":
            block = block.astype(object)
        if block.ndim == 0 or len(block) != rows:
            got = "one value" if block.ndim == 0 else f"{len(block)} rows"
            raise ValueError(f"the answer has {got} for {rows} rows")
        blocks.append(block.reshape(rows, -1))
    found = sum(b.shape[1] for b in blocks)
    if found != width:
        raise ValueError(
            f"the answer has {found} values per row; output_schema.json describes {width}"
        )
    return [b[:, j] for b in blocks for j in range(b.shape[1])]


def fit(answer: Any, outputs: list[Any], rows: int) -> list[Any]:
    """score.py's answer for ``rows`` rows as one Arrow array per output column, of the
    column's type (a column of no known type: text); ValueError saying what does not fit."""
    import pyarrow as pa

    if not isinstance(answer, dict) or "prediction" not in answer:
        raise ValueError('predict did not return {"prediction": ...}')
    values = answer_columns(_unwrap(answer["prediction"]), rows, len(outputs))
    arrays = []
    for (name, type_name), value in zip(outputs, values, strict=True):
        wanted = _arrow_type(type_name)
        if wanted is None:  # no type Spark can be told in advance: the values as text
            arrays.append(pa.array([_text(v) for v in value.tolist()], type=pa.string()))
            continue
        array = pa.array(value.tolist() if value.dtype == object else value)
        if array.type != wanted:
            try:
                array = array.cast(wanted)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise ValueError(f"{name}: not {type_name} values ({exc})") from None
        arrays.append(array)
    return arrays


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def _unwrap(value: Any) -> Any:
    """Base64 .npy envelopes (score.py's answer when MDREG_RESPONSE=npy) as arrays."""
    if isinstance(value, dict):
        data = value.get("data")
        if isinstance(data, str) and str(value.get("data_type", "")).endswith("ndarray'>"):
            import numpy as np

            return np.load(io.BytesIO(base64.b64decode(data)), allow_pickle=False)
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list) and value and isinstance(value[0], (dict, list)):
        return [_unwrap(v) for v in value]
    return value


def _series(array: Any) -> Any:
    """An Arrow array as the pandas column Spark reads back into the declared type: plain
    values where there are nulls or text (no NaN standing in for a missing integer)."""
    import pandas as pd
    import pyarrow as pa

    if array.null_count or pa.types.is_string(array.type):
        return pd.Series(array.to_pylist(), dtype=object)
    return array.to_pandas()
