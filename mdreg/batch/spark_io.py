"""``mdreg score --engine spark``'s files: the SparkSession, the input read with
``spark.read``, the output written by Spark beside its path and renamed into place.

Paths are whatever Spark reads (local paths, ``file://``, ``hdfs://``, ``oci://`` with
the connector...); existence checks and renames go through Hadoop's FileSystem, the one
Spark writes with. The format is told by the name: ``.parquet``/``.pq`` (or a folder
without a known suffix: Parquet), ``.csv`` (header, schema inferred), ``.jsonl``,
``.ndjson``, ``.json`` (JSON lines). Spark writes a folder of part files, so the output
is a folder, whatever its suffix.
"""

from __future__ import annotations

import os
from typing import Any

from mdreg._files import owned_name
from mdreg.errors import DestinationExistsError, InputError, UsageError

FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".jsonl": "json",
    ".ndjson": "json",
    ".json": "json",
}


def session() -> tuple[Any, bool]:
    """The SparkSession this process has, or a new one from Spark's configuration (under
    spark-submit, the cluster's; else ``local[*]``), and whether it was made here."""
    from mdreg.frameworks.spark.session import quiet

    if "PYSPARK_GATEWAY_PORT" not in os.environ:  # not under spark-submit, which says
        os.environ.setdefault("PYSPARK_PYTHON", _python())  # local workers: this Python
    with quiet():
        from pyspark.sql import SparkSession

        active = SparkSession.getActiveSession()
        if active is not None:
            return active, False
        return SparkSession.builder.appName("mdreg score").getOrCreate(), True


def _python() -> str:
    import sys

    return sys.executable


def _suffix(uri: str) -> str:
    name = uri.rstrip("/").rsplit("/", 1)[-1]
    return os.path.splitext(name)[1].lower()


class _Files:
    """Hadoop's FileSystem for one path, through Spark's JVM."""

    def __init__(self, spark: Any, uri: str) -> None:
        context = spark.sparkContext
        self.jvm = context._jvm
        self.conf = context._jsc.hadoopConfiguration()
        path = self.jvm.org.apache.hadoop.fs.Path(uri)
        self.fs = path.getFileSystem(self.conf)
        self.path = self.fs.makeQualified(path)

    def sibling(self, tag: str) -> Any:
        return self.jvm.org.apache.hadoop.fs.Path(
            self.path.getParent(), f".{self.path.getName()}.{owned_name(tag)}"
        )

    def exists(self, path: Any = None) -> bool:
        return bool(self.fs.exists(self.path if path is None else path))

    def is_local(self) -> bool:
        return str(self.fs.getUri().getScheme()) == "file"


def read_input(spark: Any, uri: str) -> Any:
    """The input as a DataFrame; InputError when it is not there, UsageError when its
    format cannot be told."""
    files = _Files(spark, uri)
    if not files.exists():
        raise InputError(f"{uri}: no such file or folder")
    fmt = FORMATS.get(_suffix(uri))
    if fmt is None:
        if not files.fs.getFileStatus(files.path).isDirectory():
            raise UsageError(
                f"{uri}: cannot tell the format from the name; use .parquet, .csv or .jsonl"
            )
        fmt = "parquet"
    reader = spark.read
    if fmt == "csv":
        reader = reader.option("header", True).option("inferSchema", True)
    try:
        return reader.format(fmt).load(uri)
    except Exception as exc:  # noqa: BLE001 - Spark's AnalysisException and kin
        raise InputError(f"{uri}: cannot read it as {fmt}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Output:
    """The scored DataFrame, written by Spark beside its final path and renamed there by
    ``commit``; an existing output is refused unless ``force``, and then replaced only
    once the new one is complete."""

    def __init__(self, spark: Any, uri: str, force: bool) -> None:
        self.uri = uri
        self.format = FORMATS.get(_suffix(uri), "parquet")
        self.files = _Files(spark, uri)
        if self.files.exists() and not force:
            raise DestinationExistsError(f"{uri} exists: pass --force to replace it")
        parent = self.files.path.getParent()
        if self.files.is_local() and parent is not None and not self.files.exists(parent):
            raise InputError(f"{parent.toUri().getPath()}: no such folder for the output")
        self.work = self.files.sibling("scoring")

    def write(self, scored: Any) -> None:
        writer = scored.write.format(self.format)
        if self.format == "csv":
            writer = writer.option("header", True)
        writer.save(str(self.work.toString()))

    def commit(self) -> None:
        fs, final = self.files.fs, self.files.path
        if not fs.exists(final):
            self._rename(self.work, final)
            return
        old = self.files.sibling("old")
        self._rename(final, old)
        try:
            self._rename(self.work, final)
        except BaseException:
            self._rename(old, final)
            raise
        fs.delete(old, True)

    def _rename(self, source: Any, dest: Any) -> None:
        if not self.files.fs.rename(source, dest):
            raise InputError(f"cannot rename {source.toString()} to {dest.toString()}")

    def abort(self) -> None:
        try:
            self.files.fs.delete(self.work, True)
        except Exception:  # noqa: BLE001, S110 - the JVM may be gone already (Ctrl-C)
            pass

    def counts(self, spark: Any, skip: bool) -> tuple[int, int]:
        """(rows written, rows with an error), read back from the output."""
        from pyspark.sql import functions as F

        reader = spark.read.format(self.format)
        if self.format == "csv":
            reader = reader.option("header", True)
        table = reader.load(self.uri)
        if skip and "error" in table.columns:
            row = table.agg(F.count(F.lit(1)), F.count(F.col("error"))).first()
            return int(row[0]), int(row[1])
        return int(table.count()), 0
