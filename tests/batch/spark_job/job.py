"""Run by spark-submit: mdreg.spark.score over a Parquet file, the result written as
Parquet; then ``mdreg score --engine spark`` in the same session (to OUTPUT.cli); and a
report of where things ran.

    spark-submit job.py ARTIFACT INPUT OUTPUT REPORT
"""

import json
import os
import sys

from pyspark.sql import SparkSession


def probe(frames):
    """Run in the same Python workers as the scoring: can they import mdreg?"""
    import pandas as pd

    loaded = sorted(m for m in sys.modules if m == "mdreg" or m.startswith("mdreg."))
    try:
        import mdreg  # noqa: F401

        importable = True
    except ImportError:
        importable = False
    for frame in frames:
        yield pd.DataFrame(
            {
                "pid": [os.getpid()] * len(frame),
                "importable": [importable] * len(frame),
                "loaded": [",".join(loaded)] * len(frame),
            }
        )


def main(artifact, source, output, report):
    import mdreg.spark

    spark = SparkSession.builder.appName("mdreg-spark-job").getOrCreate()
    df = spark.read.parquet(source).repartition(4)
    scored = mdreg.spark.score(spark, artifact, df, batch_rows=100)
    scored.write.mode("overwrite").parquet(output)
    from mdreg.cli import main as mdreg_main

    try:
        mdreg_main(["score", artifact, source, "-o", output + ".cli", "--engine", "spark", "-q"])
        code = 0
    except SystemExit as exc:
        code = exc.code
    workers = spark.range(0, 64, numPartitions=8).mapInPandas(
        probe, "pid long, importable boolean, loaded string"
    )
    rows = workers.distinct().collect()
    with open(report, "w") as f:
        json.dump(
            {
                "master": spark.sparkContext.master,
                "partitions": df.rdd.getNumPartitions(),
                "cli_exit": code,
                "driver_has_mdreg": "mdreg" in sys.modules,
                "workers": [r.asDict() for r in rows],
                "executors": spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size(),
            },
            f,
        )
    spark.stop()


if __name__ == "__main__":
    main(*sys.argv[1:5])
