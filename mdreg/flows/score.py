"""``score_dataset``: a dataset in, the same rows with the artifact's predictions out.

Everything that can be checked is checked before any work starts: the output path
(exists: ``force``), the input's format and columns (the columns score.py is sent
default to input_schema.json's; a missing one is one error line), and name clashes
between kept columns and the prediction columns (output_schema.json). The engine then
runs the artifact's own score.py over the data: ``local`` (``mdreg.batch.local``, every
core of this machine; local, ``file://`` or ``oci://`` input and output,
``mdreg.batch.tables`` and ``mdreg.batch.remote``) or ``spark`` (``mdreg.spark`` in a SparkSession: the one Spark's
configuration gives, under spark-submit the cluster's, else ``local[*]``; input and output
are whatever Spark reads and writes, ``mdreg.batch.spark_io``). The output is renamed
into place only when complete; the spark engine's output is a folder of part files.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mdreg.errors import FrameworkNotInstalledError, UsageError
from mdreg.flows._source import artifact_folder

ENGINES = ("local", "spark")
_ARROW_BATCH = "spark.sql.execution.arrow.maxRecordsPerBatch"
ON_ERROR = ("fail", "skip")


@dataclass
class ScoreResult:
    output: str
    rows: int
    skipped: int  # rows whose predict failed, written with an error (--on-error skip)
    seconds: float  # all of it, the workers' start included
    load_seconds: float  # until every worker had imported score.py and loaded the model
    engine: str
    workers: int

    @property
    def rows_per_second(self) -> float:
        """Throughput once the model is loaded: what more rows cost."""
        scoring = self.seconds - self.load_seconds
        return self.rows / scoring if scoring > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": self.output,
            "rows": self.rows,
            "skipped": self.skipped,
            "seconds": round(self.seconds, 3),
            "load_seconds": round(self.load_seconds, 3),
            "rows_per_second": round(self.rows_per_second, 1),
            "engine": self.engine,
            "workers": self.workers,
        }


def score_dataset(
    artifact: str | Path,
    input_uri: str,
    output_uri: str,
    *,
    engine: str = "local",
    batch_rows: int = 10_000,
    workers: int | None = None,
    columns: list[str] | None = None,
    keep_columns: list[str] | None = None,
    on_error: str = "fail",
    force: bool = False,
    trust: bool = False,
    progress: Callable[[int], None] = lambda rows: None,
    on_start: Callable[[int | None], None] = lambda rows: None,
) -> ScoreResult:
    """Score ``input_uri`` into ``output_uri`` with the artifact's score.py.
    ``on_start(rows)`` hears the row count when the input knows it (Parquet)."""
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}: use {' or '.join(ENGINES)}")
    if on_error not in ON_ERROR:
        raise UsageError(f"--on-error must be fail or skip, not {on_error!r}")
    if batch_rows < 1:
        raise UsageError(f"--batch-rows must be at least 1, not {batch_rows}")
    if engine == "spark":
        if workers is not None:
            raise UsageError("--workers is for the local engine: Spark runs on its executors")
        return _score_on_spark(
            artifact,
            input_uri,
            output_uri,
            batch_rows,
            columns,
            keep_columns,
            on_error,
            force,
            trust,
        )
    try:
        import pyarrow  # noqa: F401 - the local engine reads and writes with it
    except ImportError:
        raise FrameworkNotInstalledError("mdreg score", "pyarrow", "arrow") from None
    from mdreg.batch import local, tables
    from mdreg.batch.columns import plan_columns
    from mdreg.batch.outputs import output_columns

    n_workers = workers or _cores()
    if n_workers < 1:
        raise UsageError(f"--workers must be at least 1, not {n_workers}")
    out = tables.open_output(output_uri, force)
    table = tables.open_input(input_uri)
    with artifact_folder(str(artifact), trust) as folder:
        outputs = output_columns(folder)
        sent, keep = plan_columns(
            input_uri, folder, table.schema.names, outputs, columns, keep_columns
        )
        plan = local.Plan(sent, keep, outputs, batch_rows, n_workers, on_error == "skip")
        read = list(dict.fromkeys(sent + keep))
        on_start(table.rows)
        start = time.perf_counter()
        try:
            outcome = local.run(folder, table.batches(batch_rows, read), out.write, plan, progress)
            out.commit()
        except BaseException:
            out.abort()
            raise
    seconds = time.perf_counter() - start
    return ScoreResult(
        out.location,
        outcome.rows,
        outcome.skipped,
        seconds,
        outcome.load_seconds,
        engine,
        n_workers,
    )


def _score_on_spark(
    artifact: str | Path,
    input_uri: str,
    output_uri: str,
    batch_rows: int,
    columns: list[str] | None,
    keep_columns: list[str] | None,
    on_error: str,
    force: bool,
    trust: bool,
) -> ScoreResult:
    """The spark engine: the input read by Spark, scored by ``mdreg.spark``, written by
    Spark (a folder of part files) beside the output path and renamed into place."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise FrameworkNotInstalledError("mdreg score --engine spark", "pyspark", "spark") from None
    from mdreg.batch import spark_io
    from mdreg.batch.local import ScoringError
    from mdreg.batch.spark_task import error_message
    from mdreg.frameworks.spark.session import quiet
    from mdreg.spark import score_folder

    start = time.perf_counter()
    spark, made_here = spark_io.session()
    batch_setting = spark.conf.get(_ARROW_BATCH, None)  # put back afterwards
    try:
        spark.conf.set(_ARROW_BATCH, str(batch_rows))  # rows per predict call
        out = spark_io.Output(spark, output_uri, force)
        with quiet(), artifact_folder(str(artifact), trust) as folder:
            scored = score_folder(
                spark,
                folder,
                spark_io.read_input(spark, input_uri),
                columns=columns,
                keep_columns=keep_columns,
                on_error=on_error,
                batch_rows=batch_rows,
                lasting=True,
                source=input_uri,
            )
            load_seconds = time.perf_counter() - start
            try:
                out.write(scored)
                out.commit()
            except BaseException as exc:
                out.abort()
                message = error_message(str(exc)) if isinstance(exc, Exception) else None
                if message is not None:
                    raise ScoringError(message) from None
                raise
        rows, skipped = out.counts(spark, on_error == "skip")
        workers = spark.sparkContext.defaultParallelism
    finally:
        if made_here:
            spark.stop()
        elif batch_setting is None:
            spark.conf.unset(_ARROW_BATCH)
        else:
            spark.conf.set(_ARROW_BATCH, batch_setting)
    seconds = time.perf_counter() - start
    return ScoreResult(output_uri, rows, skipped, seconds, load_seconds, "spark", workers)


def _cores() -> int:
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
