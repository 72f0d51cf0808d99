"""Batch scoring (``mdreg score``): a dataset run through the artifact's own score.py.

    tables    the input read in record batches (Parquet, CSV, JSON lines), the output
              written under a temporary name and renamed when complete
    outputs   the prediction columns: names and types from output_schema.json
    local     the local engine: worker processes (mdreg.worker) over every core,
              batches in input order

Needs pyarrow (the ``arrow`` extra).
"""
