"""Batch scoring (``mdreg score``): a dataset run through the artifact's own score.py.

    tables    the input read in record batches (Parquet, CSV, JSON lines), the output
              written under a temporary name and renamed when complete
    outputs   the prediction columns: names and types from output_schema.json
    local     the local engine: worker processes (mdreg.worker) over every core,
              batches in input order
    columns   the columns sent to score.py and kept, checked before any work (both engines)
    spark_task  what Spark's Python workers run for mdreg.spark (no mdreg imports: it
              travels by value)
    spark_io  the spark engine's session, input and output (written, then renamed)

Needs pyarrow (the ``arrow`` extra); the spark engine (``mdreg.spark``) needs pyspark too.
"""
