"""``mdreg.spark.score``: an artifact's predictions as columns of a Spark DataFrame.

    import mdreg.spark
    scored = mdreg.spark.score(spark, "artifact.zip", df)   # lazy, like any transformation

Two ways in, chosen by the artifact:

- **Any artifact but a Spark model** runs its own score.py on the executors. The artifact
  is zipped (``artifact.zipping.zip_artifact``, so what ships is what a deployment gets)
  and handed to Spark with ``SparkContext.addArchive(zip#alias)``: each executor fetches
  and unpacks it itself, so no filesystem is assumed shared. The function given to
  ``mapInPandas`` is ``mdreg.batch.spark_task.score_frames``, pickled by value
  (cloudpickle's ``register_pickle_by_value``) with a plan of plain data: executors need
  Python with pandas, pyarrow and what score.py imports (the model's framework), not
  mdreg. Each Python worker imports score.py once and calls ``predict`` with every batch
  as an Arrow IPC stream, the body the local engine sends.
- **A Spark PipelineModel artifact** is scored natively: its model folder, checked
  against the manifest and for Spark's own stage classes as prepare checks it, is loaded
  on the driver and ``transform`` runs on the DataFrame (no pandas, no Python workers).
  Spark's ML reader runs jobs that read the folder: it must be where executors can read
  it (local mode, one machine; on a cluster of several nodes, see the README).

The result holds the kept columns (default: all), then the prediction columns named and
typed from output_schema.json (``mdreg.batch.outputs``; a dtype Spark has no type for
becomes text), then, with ``on_error="skip"``, an ``error`` column: null, or why
``predict`` failed on that row (a failing batch is retried in halves until the failing
rows stand alone). With ``on_error="fail"`` the first failing batch fails the job, its
message naming the partition, the rows and the batch's first row
(``spark_task.error_message`` finds it in Spark's exception). A missing input column is
one ``InputError`` line, raised before any job runs.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from mdreg.batch import spark_task
from mdreg.batch.columns import plan_columns
from mdreg.batch.outputs import ERROR_COLUMN, OutputColumn, arrow_type, output_columns
from mdreg.errors import ArtifactError, UsageError
from mdreg.flows._source import artifact_folder
from mdreg.frameworks.spark.metadata import pipeline_model_dir

ON_ERROR = ("fail", "skip")

# str(Arrow type) of output_schema.json's dtype -> (Spark type, the Arrow type Spark reads
# it from); unsigned integers go to the next wider signed type (uint64: past 2**63 fails)
_SPARK_TYPES = {
    "bool": ("BooleanType", "bool_"),
    "int8": ("ByteType", "int8"),
    "int16": ("ShortType", "int16"),
    "int32": ("IntegerType", "int32"),
    "int64": ("LongType", "int64"),
    "uint8": ("ShortType", "int16"),
    "uint16": ("IntegerType", "int32"),
    "uint32": ("LongType", "int64"),
    "uint64": ("LongType", "int64"),
    "halffloat": ("FloatType", "float32"),
    "float": ("FloatType", "float32"),
    "double": ("DoubleType", "float64"),
    "string": ("StringType", "string"),
}

_work: Path | None = None  # this process's zips and model copies, removed at exit
_shipped: set[tuple[str, str]] = set()  # (application id, alias) already added


def score(
    spark: Any,
    artifact: str | Path,
    df: Any,
    *,
    columns: list[str] | None = None,
    keep_columns: list[str] | None = None,
    on_error: str = "fail",
    batch_rows: int | None = None,
    trust: bool = False,
) -> Any:
    """``df`` with the predictions of ``artifact`` (a folder, a zip, a bucket URI of a
    zip or a model id) as new columns.

    ``columns``: those sent to score.py (default: input_schema.json's); ``keep_columns``:
    those copied to the result (default: all); ``on_error``: "fail" or "skip";
    ``batch_rows``: at most this many rows per predict call (default: Spark's Arrow
    batches, ``spark.sql.execution.arrow.maxRecordsPerBatch``); ``trust``: load a zip or
    model whose pickles the scan does not clear."""
    source = str(artifact)
    with artifact_folder(source, trust) as folder:
        return score_folder(
            spark,
            folder,
            df,
            columns=columns,
            keep_columns=keep_columns,
            on_error=on_error,
            batch_rows=batch_rows,
            lasting=Path(source).is_dir(),
            source="the DataFrame",
        )


def score_folder(
    spark: Any,
    folder: Path,
    df: Any,
    *,
    columns: list[str] | None,
    keep_columns: list[str] | None,
    on_error: str,
    batch_rows: int | None,
    lasting: bool,
    source: str,
) -> Any:
    """``score`` for an artifact folder; ``lasting``: the folder outlives the result
    (else what the result reads from it is copied first); ``source`` names ``df`` in
    errors."""
    if on_error not in ON_ERROR:
        raise UsageError(f"on_error must be fail or skip, not {on_error!r}")
    if batch_rows is not None and batch_rows < 1:
        raise UsageError(f"batch_rows must be at least 1, not {batch_rows}")
    outputs = output_columns(folder)
    sent, keep = plan_columns(source, folder, list(df.columns), outputs, columns, keep_columns)
    skip = on_error == "skip"
    model_dir = pipeline_model_dir(folder)
    if model_dir is not None:
        return _transform(spark, folder, model_dir, df, keep, outputs, skip, lasting)
    return _map_in_pandas(spark, folder, df, sent, keep, outputs, skip, batch_rows)


def _col(name: str) -> Any:
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")  # a name, never a path into a struct


# -- score.py on the executors ------------------------------------------------------------


def _map_in_pandas(
    spark: Any,
    folder: Path,
    df: Any,
    sent: list[str],
    keep: list[str],
    outputs: list[OutputColumn],
    skip: bool,
    batch_rows: int | None,
) -> Any:
    from pyspark import cloudpickle
    from pyspark.sql import types as T

    from mdreg.frameworks.spark.session import quiet

    cloudpickle.register_pickle_by_value(spark_task)  # executors get its code, not its name
    fields = [df.schema[name] for name in keep]
    plan_outputs = []
    for column in outputs:
        wanted = arrow_type(column)
        spark_type, arrow_name = _SPARK_TYPES.get(str(wanted), ("StringType", None))
        fields.append(T.StructField(column.name, getattr(T, spark_type)(), True))
        plan_outputs.append([column.name, arrow_name if wanted is not None else None])
    if skip:
        fields.append(T.StructField(ERROR_COLUMN, T.StringType(), True))
    plan = {
        "alias": _ship(spark, folder),
        "columns": sent,
        "keep": keep,
        "outputs": plan_outputs,
        "skip": skip,
        "batch_rows": batch_rows,
    }
    read = [_col(name) for name in dict.fromkeys(sent + keep)]
    function = functools.partial(spark_task.score_frames, plan)
    with quiet():
        return df.select(*read).mapInPandas(function, T.StructType(fields))


def _ship(spark: Any, folder: Path) -> str:
    """The artifact zipped and added to the SparkContext as an archive; its alias (the
    folder name it is unpacked under on every node, named by the zip's sha256)."""
    from mdreg.artifact.zipping import zip_artifact

    try:
        context = spark.sparkContext
    except Exception as exc:  # noqa: BLE001 - Spark Connect: no SparkContext
        raise UsageError(
            f"mdreg.spark.score needs a classic SparkSession, not Spark Connect ({exc})"
        ) from None
    work = _work_dir()
    staged = work / f"staged-{uuid.uuid4().hex}.zip"
    result = zip_artifact(folder, staged)
    alias = f"mdreg-{result.sha256[:24]}"
    shipped = work / f"{alias}.zip"
    os.replace(staged, shipped)  # the same name for the same bytes
    key = (context.applicationId, alias)
    if key not in _shipped:
        context.addArchive(f"{shipped.as_uri()}#{alias}")
        _shipped.add(key)
    return alias


def _work_dir() -> Path:
    global _work
    if _work is None:
        _work = Path(tempfile.mkdtemp(prefix="mdreg-spark-"))
        atexit.register(shutil.rmtree, _work, True)
    return _work


# -- a Spark model, natively ---------------------------------------------------------------


def _transform(
    spark: Any,
    folder: Path,
    model_dir: Path,
    df: Any,
    keep: list[str],
    outputs: list[OutputColumn],
    skip: bool,
    lasting: bool,
) -> Any:
    from pyspark.ml import PipelineModel
    from pyspark.sql import functions as F

    from mdreg.frameworks.spark.metadata import check_folder

    _check_manifest(folder, model_dir)
    check_folder(model_dir)  # only Spark's own stage classes: nothing else is imported
    if not lasting:  # Spark may read the folder again when the result is computed
        copy = _work_dir() / f"model-{uuid.uuid4().hex}"
        shutil.copytree(model_dir, copy)
        model_dir = copy
    model = PipelineModel.load(model_dir.resolve().as_uri())
    scored = model.transform(df)
    names = [c.name for c in outputs]
    absent = [n for n in names if n not in scored.columns]
    if absent:
        raise ArtifactError(
            f"the pipeline writes no column {', '.join(absent)} (output_schema.json's)"
        )
    selected = [_col(n) for n in keep + names]
    if skip:
        selected.append(F.lit(None).cast("string").alias(ERROR_COLUMN))
    return scored.select(*selected)


def _check_manifest(folder: Path, model_dir: Path) -> None:
    """The model folder as prepare wrote it (what score.py checks before Spark reads it)."""
    from mdreg.artifact.manifest import read_manifest, verify_manifest

    manifest = read_manifest(folder)
    if manifest is None:
        return
    check = verify_manifest(folder, manifest)
    prefix = model_dir.relative_to(folder).as_posix() + "/"
    problems = [
        *(f"{rel} is missing" for rel in check.missing if rel.startswith(prefix)),
        *(f"{rel}: sha256 differs" for rel in check.mismatched if rel.startswith(prefix)),
        *(f"{rel} is not in the manifest" for rel in check.unlisted if rel.startswith(prefix)),
    ]
    if problems:
        raise ArtifactError(
            f"{folder}: {problems[0]}"
            f"{f' (and {len(problems) - 1} more)' if len(problems) > 1 else ''}: "
            "the model folder is not as prepare wrote it"
        )
