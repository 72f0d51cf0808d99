"""``score_dataset``: a dataset in, the same rows with the artifact's predictions out.

Everything that can be checked is checked before any work starts: the output path
(exists: ``force``), the input's format and columns (the columns score.py is sent
default to input_schema.json's; a missing one is one error line), and name clashes
between kept columns and the prediction columns (output_schema.json). The engine then
runs the artifact's own score.py over the data: ``local`` (``mdreg.batch.local``, every
core of this machine) or ``spark`` (``mdreg.spark``). The output is renamed into place
only when complete.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mdreg.artifact import layout
from mdreg.errors import FrameworkNotInstalledError, InputError, UsageError
from mdreg.flows._source import artifact_folder

ENGINES = ("local", "spark")
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
        raise UsageError(
            "the spark engine runs inside Spark: use mdreg.spark.score(spark, artifact, df)"
        )
    try:
        import pyarrow  # noqa: F401 - the local engine reads and writes with it
    except ImportError:
        raise FrameworkNotInstalledError("mdreg score", "pyarrow", "arrow") from None
    from mdreg.batch import local, tables
    from mdreg.batch.outputs import ERROR_COLUMN, output_columns

    n_workers = workers or _cores()
    if n_workers < 1:
        raise UsageError(f"--workers must be at least 1, not {n_workers}")
    out = tables.OutputTable(output_uri, force)
    table = tables.open_input(input_uri)
    with artifact_folder(str(artifact), trust) as folder:
        outputs = output_columns(folder)
        names = table.schema.names
        sent = columns if columns is not None else _model_columns(folder, names)
        missing = [c for c in sent if c not in names]
        if missing:
            raise InputError(
                f"{input_uri} lacks the column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(missing)} that score.py needs (input_schema.json; "
                f"the input has {', '.join(names[:8])}{', ...' if len(names) > 8 else ''})"
            )
        keep = list(names) if keep_columns is None else keep_columns
        unknown = [c for c in keep if c not in names]
        if unknown:
            raise InputError(f"--keep-columns: {input_uri} has no column {', '.join(unknown)}")
        clash = set(keep) & ({c.name for c in outputs} | {ERROR_COLUMN})
        if clash:
            raise UsageError(
                f"the input column{'s' if len(clash) > 1 else ''} {', '.join(sorted(clash))} "
                "would be overwritten by the predictions: leave it out with --keep-columns"
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
        str(out.path),
        outcome.rows,
        outcome.skipped,
        seconds,
        outcome.load_seconds,
        engine,
        n_workers,
    )


def _model_columns(folder: Path, names: list[str]) -> list[str]:
    """input_schema.json's column names in order; every input column when the model
    was fitted on an array (numbered columns) or the schema is empty."""
    try:
        doc = json.loads((folder / layout.INPUT_SCHEMA).read_text(encoding="utf-8"))
        items = sorted(doc.get("schema", []), key=lambda c: c.get("order", 0))
    except (OSError, ValueError):
        items = []
    named = [c["name"] for c in items if isinstance(c.get("name"), str)]
    return named if named else list(names)


def _cores() -> int:
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
