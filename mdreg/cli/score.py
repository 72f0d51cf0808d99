"""``mdreg score``: batch predictions with the artifact's own score.py."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated, Any

import typer

from mdreg.cli._app import app
from mdreg.cli._output import emit_json, note, stderr


class Engine(str, Enum):  # mdreg.flows.score.ENGINES
    local = "local"
    spark = "spark"


class OnError(str, Enum):  # mdreg.flows.score.ON_ERROR
    fail = "fail"
    skip = "skip"


def _names(values: list[str] | None) -> list[str] | None:
    """``--columns a,b --columns c`` -> [a, b, c]."""
    if values is None:
        return None
    return [name for value in values for name in value.split(",") if name]


@app.command("score")
def score_cmd(
    artifact: Annotated[
        str, typer.Argument(help="Artifact folder or zip, a bucket URI of a zip, or a model id.")
    ],
    input_path: Annotated[
        str,
        typer.Argument(
            metavar="INPUT",
            help="Parquet file or folder, CSV or JSON lines (path, file:// or oci://).",
        ),
    ],
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            help="Where to write: .parquet (default), .csv or .jsonl (path, file:// or an oci:// object).",
        ),
    ],
    engine: Annotated[
        Engine,
        typer.Option(
            "--engine",
            help="local: worker processes on this machine; spark: a SparkSession (spark-submit's "
            "cluster, else local[*]; needs pyspark), writing OUTPUT as a folder of part files.",
        ),
    ] = Engine.local,
    batch_rows: Annotated[
        int, typer.Option("--batch-rows", min=1, help="Rows per predict call.")
    ] = 10_000,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", "-w", min=1, help="Worker processes [default: one per core] (local)."
        ),
    ] = None,
    columns: Annotated[
        list[str] | None,
        typer.Option(
            "--columns",
            help="Columns sent to score.py (comma-separated or repeated) "
            "[default: input_schema.json's].",
        ),
    ] = None,
    keep_columns: Annotated[
        list[str] | None,
        typer.Option(
            "--keep-columns",
            help="Input columns written beside the predictions [default: all].",
        ),
    ] = None,
    on_error: Annotated[
        OnError,
        typer.Option(
            "--on-error",
            help="fail: stop at the first batch predict fails on; skip: write those rows "
            "with empty predictions and the error in an 'error' column.",
        ),
    ] = OnError.fail,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing output.")] = False,
    trust: Annotated[
        bool,
        typer.Option("--trust", help="Load a zip or model whose pickles the scan does not clear."),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON document: rows, seconds, rows/s, output.")
    ] = False,
) -> None:
    """Run score.py's predict over a dataset in batches, on every core (needs pyarrow).

    Each worker imports score.py once; batches go to it as Arrow, so the same hooks run
    as on a deployment. The output keeps the input's order and is written under a
    temporary name, then renamed: an interrupted run leaves nothing at OUTPUT. With
    --engine spark the same runs on Spark's executors (a Spark model: its own transform),
    reading and writing what Spark reads and writes; run it under spark-submit for a
    cluster.
    """
    from mdreg.batch.memory import hold_flat
    from mdreg.flows.score import score_dataset

    hold_flat()
    bar = _RowsBar(quiet or as_json)
    try:
        result = score_dataset(
            artifact,
            input_path,
            output,
            engine=engine.value,
            batch_rows=batch_rows,
            workers=workers,
            columns=_names(columns),
            keep_columns=_names(keep_columns),
            on_error=on_error.value,
            force=force,
            trust=trust,
            progress=bar.advance,
            on_start=bar.start,
        )
    finally:
        bar.stop()
    if as_json:
        emit_json(result.to_dict())
        return
    skipped = f", {result.skipped:,} skipped (see the error column)" if result.skipped else ""
    where = f"{result.workers} workers"
    if result.engine == "spark":
        where = f"Spark's {result.workers} cores"
    note(
        f"scored {result.rows:,} rows in {result.seconds:.1f} s ({result.load_seconds:.1f} s "
        f"loading the model; then {result.rows_per_second:,.0f} rows/s on {where}){skipped}"
    )
    typer.echo(result.output)


class _RowsBar:
    """Rows and rows/s on stderr when it is a terminal."""

    def __init__(self, quiet: bool) -> None:
        self.enabled = not quiet and sys.stderr.isatty()
        self._progress: Any = None
        self._task: Any = None

    def start(self, rows: int | None) -> None:
        if not self.enabled:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self._progress = Progress(
            "scoring",
            BarColumn(),
            MofNCompleteColumn(),
            "rows",
            "[progress.data.speed]{task.fields[rate]}",
            TimeElapsedColumn(),
            console=stderr(),
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task("scoring", total=rows, rate="")

    def advance(self, rows: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, rows)
            speed = self._progress.tasks[0].speed
            if speed:
                self._progress.update(self._task, rate=f"{speed:,.0f} rows/s")

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
