"""Spark: a PipelineModel over two numeric columns and a string column gets every JSON
table form and Arrow/Parquet bodies in one fresh interpreter (one JVM); it predicts what
Spark predicts. The array formats cannot carry a string column: a one-line input error.

A JVM starts in seconds on an idle machine and in a minute on a busy one: the requests
all go through one interpreter, and the errors are raised before any starts. Reuses the
session's SparkSession and tiny pipeline from ``tests/frameworks/test_spark.py``.
"""

from __future__ import annotations

import pytest

import mdreg
from mdreg.errors import EXIT_INPUT, InputError
from tests.payloads.conftest import TABLE_JSON, assert_all_match, body_for, request_body, serve

pytest.importorskip("pyspark")
from tests.frameworks.test_spark import FEATURES, data, spark, spark_dir, spark_predict  # noqa: F401


@pytest.fixture(scope="module")
def spark_payload(spark, spark_dir, data, tmp_path_factory) -> dict:  # noqa: F811
    art = mdreg.prepare(
        spark_dir / "pipeline",
        tmp_path_factory.mktemp("payload-spark") / "art",
        x_sample=spark_dir / "x_sample.csv",
    ).artifact_dir
    rows = data[FEATURES].iloc[10:17].reset_index(drop=True)
    return {
        "art": art,
        "rows": rows,
        "expected": spark_predict(spark, spark_dir / "pipeline", rows),
        "sample_expected": spark_predict(spark, spark_dir / "pipeline", data.head(5)),
    }


def test_every_table_payload(spark_payload, tmp_path):
    art, rows = spark_payload["art"], spark_payload["rows"]
    kinds = [k for k in TABLE_JSON if k != "ads_npy"] + ["json_encode", "arrow", "parquet"]
    bodies = {kind: body_for(art, kind, rows) for kind in kinds}
    bodies["json_response_npy"] = ("json", request_body(art, rows, "json", "npy"))
    # verify's own request: the kept sample as Arrow (one JVM start less than mdreg.verify)
    bodies["kept_sample_arrow"] = ("arrow", request_body(art, None, "arrow"))
    results = serve(art, bodies, tmp_path)
    binary = results.pop("json_response_npy")
    kept = results.pop("kept_sample_arrow")
    assert_all_match(results, spark_payload["expected"], exact=True)
    assert_all_match({"kept_sample_arrow": kept}, spark_payload["sample_expected"], exact=True)
    from mdreg.payload import decode_response

    answer = decode_response(binary["prediction"])["prediction"]
    assert answer.tolist() == spark_payload["expected"]


@pytest.mark.parametrize("fmt", ["npy", "safetensors"])
def test_array_formats_cannot_carry_strings(spark_payload, cli, fmt):
    with pytest.raises(InputError, match="Python objects"):
        request_body(spark_payload["art"], spark_payload["rows"], fmt)
    run = cli("verify", spark_payload["art"], "--payload", fmt)
    assert run.code == EXIT_INPUT
    assert run.err.count("\n") == 1 and "Traceback" not in run.err
