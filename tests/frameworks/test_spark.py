"""Spark: a saved PipelineModel folder (and a single model folder) prepared, introspected,
verified in a subprocess and zipped; score.py predicts what Spark itself predicts.

A SparkSession costs a JVM (5-10 s on an idle machine, a minute on a busy one): this module
starts ONE for the whole session, fits ONE tiny pipeline, and runs score.py in a fresh
interpreter (its own JVM) once; the other score.py checks import it into this process,
where it reuses the running session.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mdreg.checks.verify import verify
from mdreg.errors import EXIT_INPUT
from mdreg.frameworks.spark.metadata import read_metadata, stage_metadata
from mdreg.frameworks.spark.plugin import SparkFramework
from tests.frameworks.suite import (
    FrameworkSuite,
    assert_checks_pass,
    assert_same,
    detect_in_fresh_interpreter,
    hyperparameters,
    metadata,
    taxonomy,
    verified,
)

pyspark = pytest.importorskip("pyspark")

# pyarrow ships with pyspark's sql extra; score.py imports it optionally (try/except)
SUITE = FrameworkSuite(
    "spark",
    taxonomy_name="pyspark",
    version=pyspark.__version__,
    score_modules={"numpy", "pandas", "pyspark", "pyarrow"},
    score_module="pyspark",
)
FEATURES = ["x1", "x2", "color"]


@pytest.fixture(scope="session")
def spark():
    from mdreg.frameworks.spark.session import local_session

    session = local_session()  # the settings prepare and score.py use
    yield session
    session.stop()


@pytest.fixture(scope="session")
def data() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 60
    X = pd.DataFrame(
        {
            "x1": rng.normal(size=n).round(3),
            "x2": rng.normal(size=n).round(3),
            "color": rng.choice(["red", "green", "blue"], n),
        }
    )
    X["label"] = ((X.x1 + X.x2 + (X.color == "red")) > 0.4).astype(float)
    return X


@pytest.fixture(scope="session")
def spark_dir(spark, data, tmp_path_factory) -> Path:
    """Every input form, written once: the fitted PipelineModel, its last stage saved on its
    own, the unfitted Pipeline and estimator (refused); the sample rows as CSV."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import StringIndexer, VectorAssembler

    out = tmp_path_factory.mktemp("spark")
    frame = spark.createDataFrame(
        [tuple(r) for r in data.itertuples(index=False)],
        "x1 double, x2 double, color string, label double",
    )
    pipeline = Pipeline(
        stages=[
            StringIndexer(inputCol="color", outputCol="color_idx", handleInvalid="keep"),
            VectorAssembler(inputCols=["x1", "x2", "color_idx"], outputCol="features"),
            LogisticRegression(maxIter=20, regParam=0.01),
        ]
    )
    model = pipeline.fit(frame)
    model.write().save(str(out / "pipeline"))
    model.stages[-1].write().save(str(out / "single_lr"))
    pipeline.write().save(str(out / "unfitted"))
    pipeline.getStages()[-1].write().save(str(out / "unfitted_lr"))
    data[FEATURES].head(8).to_csv(out / "x_sample.csv", index=False)
    return out


def spark_predict(spark, path: Path, rows: pd.DataFrame) -> list[float]:
    """What Spark itself predicts: the saved model loaded, the rows as a Spark DataFrame."""
    from pyspark.ml import PipelineModel

    frame = spark.createDataFrame(
        [tuple(r) for r in rows[FEATURES].itertuples(index=False)],
        "x1 double, x2 double, color string",
    )
    out = PipelineModel.load(str(path)).transform(frame).select("prediction").collect()
    return [r[0] for r in out]


@pytest.fixture(scope="module")
def expected(spark, spark_dir, data) -> list[float]:
    return spark_predict(spark, spark_dir / "pipeline", data)


@pytest.fixture(scope="module")
def spark_art(spark, spark_dir, tmp_path_factory, cli_module) -> Path:
    art = tmp_path_factory.mktemp("spark-art") / "art"
    run = SUITE.prepare(
        cli_module, spark_dir / "pipeline", art, "--x-sample", spark_dir / "x_sample.csv"
    )
    assert "PipelineModel" in run.err
    return art


@pytest.fixture(scope="module")
def cli_module():
    """The CLI in this process (module scope: the ``cli`` fixture is per test)."""
    import contextlib
    import io

    from mdreg.cli import main
    from tests.conftest import Run

    def run(*args) -> Run:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main([str(a) for a in args])
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        return Run(code, out.getvalue(), err.getvalue())

    return run


def import_score(art: Path, name: str):
    """The artifact's score.py imported into this process (it reuses the running session)."""
    spec = importlib.util.spec_from_file_location(f"score_{name}", art / "score.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- detection ------------------------------------------------------------------------------


def test_sniff_reads_metadata_only(spark_dir, tmp_path):
    (tmp_path / "other" / "metadata").mkdir(parents=True)
    (tmp_path / "other" / "metadata" / "part-00000").write_text('{"class": "com.example.Thing"}')
    found = detect_in_fresh_interpreter(
        [
            spark_dir / "pipeline",
            spark_dir / "single_lr",
            spark_dir / "unfitted",
            tmp_path / "other",
        ]
    )
    evidence = (
        f"Spark {pyspark.__version__} PipelineModel metadata, stages: "
        "StringIndexerModel, VectorAssembler, LogisticRegressionModel"
    )
    assert found["pipeline"] == ["spark", 1.0, evidence]
    assert found["single_lr"][:2] == ["spark", 0.9]
    assert "LogisticRegressionModel" in found["single_lr"][2]
    assert found["unfitted"][:2] == ["spark", 0.9] and "unfitted" in found["unfitted"][2]
    assert found["other"][0] == "DetectionError"


def test_stage_folders_follow_stage_uids(spark_dir):
    doc = read_metadata(spark_dir / "pipeline")
    stages = stage_metadata(spark_dir / "pipeline", doc)
    assert [m["class"].rsplit(".", 1)[-1] for _, m in stages] == [
        "StringIndexerModel",
        "VectorAssembler",
        "LogisticRegressionModel",
    ]
    assert [p.name.split("_", 1)[0] for p, _ in stages] == ["0", "1", "2"]


# -- the PipelineModel, end to end -----------------------------------------------------------


def test_pipeline_artifact_files_and_metadata(spark_art, spark_dir):
    files = {p.relative_to(spark_art).as_posix() for p in spark_art.rglob("*") if p.is_file()}
    source = {
        "model/" + p.relative_to(spark_dir / "pipeline").as_posix()
        for p in (spark_dir / "pipeline").rglob("*")
        if p.is_file()
    }
    assert source <= files  # the folder as Spark wrote it, .crc files included
    for rel in source:
        assert (spark_art / rel).read_bytes() == (spark_dir / "pipeline" / rel[6:]).read_bytes()
    manifest = json.loads((spark_art / "model_artifact_manifest.json").read_text())
    assert source <= set(manifest["files"])  # every file of the folder is hashed
    SUITE.assert_taxonomy(
        spark_art, Algorithm="LogisticRegressionModel", UseCaseType="binary_classification"
    )
    meta = metadata(spark_art)
    assert meta["mdreg"]["model_file"] == "model"
    assert meta["mdreg"]["features"] == ["color", "x1", "x2"]  # in the order stages read them
    params = hyperparameters(spark_art)
    assert params["maxIter"] == 20 and params["regParam"] == 0.01
    custom = {i["key"]: i["value"] for i in meta["custom"]}
    assert custom["ModelSerializationFormat"] == "spark"
    assert custom["SlugName"] == SparkFramework.default_conda_env
    schema = json.loads((spark_art / "input_schema.json").read_text())["schema"]
    assert [(c["name"], c["dtype"]) for c in schema] == [
        ("x1", "float64"),
        ("x2", "float64"),
        ("color", "object"),
    ]
    out_schema = json.loads((spark_art / "output_schema.json").read_text())["schema"]
    assert [c["name"] for c in out_schema] == ["prediction"]


def test_pipeline_artifact_passes_introspection(spark_art):
    assert_checks_pass(spark_art)


def test_score_py_imports_only_pyspark_numpy_pandas_stdlib(spark_art):
    SUITE.assert_score_imports(spark_art)


def test_verify_in_a_fresh_interpreter(spark_art, expected):
    """The deployment's path: score.py imported by a new Python, which starts its own JVM."""
    result = verified(spark_art)  # the sample kept at prepare time: the first 5 rows
    assert_same(result.prediction["prediction"], expected[:5])
    left = {p.name for p in spark_art.iterdir()}
    assert not {"spark-warehouse", "metastore_db", "derby.log"} & left


def test_zip(spark_art, cli, tmp_path):
    names = SUITE.assert_zip(cli, spark_art, tmp_path / "art.zip", "model")
    assert any(n.startswith("model/metadata/part-") for n in names)
    assert any(n.startswith("model/stages/2_LogisticRegression") for n in names)


@pytest.fixture(scope="module")
def score(spark_art):
    return import_score(spark_art, "pipeline")


@pytest.mark.parametrize(
    "shape",
    [
        "records",
        "columns",
        "rows",
        "one_row",
        "one_record",
        "ads_envelope",
        "ads_dataframe",
        "bytes",
    ],
)
def test_payload_shapes(score, data, expected, shape):
    rows = data[FEATURES].iloc[20:26]
    want = expected[20:26]
    payload = {
        "records": rows.to_dict(orient="records"),
        "columns": rows.to_dict(orient="list"),
        "rows": rows.to_numpy().tolist(),
        "one_row": rows.iloc[0].tolist(),
        "one_record": rows.iloc[0].to_dict(),
        "ads_envelope": {"data": rows.to_numpy().tolist(), "data_type": "<class 'list'>"},
        "ads_dataframe": {
            "data": rows.to_json(),
            "data_type": "<class 'pandas.core.frame.DataFrame'>",
        },
        "bytes": json.dumps(rows.to_dict(orient="records")).encode(),
    }[shape]
    got = score.predict(payload)["prediction"]
    assert np.allclose(got, want[:1] if shape.startswith("one_") else want)


def test_ints_and_extra_columns_are_accepted(score, spark, spark_dir, data):
    """JSON numbers without a fraction still reach Spark as doubles; columns the pipeline
    does not read are dropped."""
    rows = data[FEATURES].iloc[30:34].copy()
    rows["x1"] = rows["x1"].round().astype(int)
    payload = [{**r, "unused": "zzz"} for r in rows.to_dict(orient="records")]
    assert isinstance(json.loads(json.dumps(payload))[0]["x1"], int)
    got = score.predict(json.loads(json.dumps(payload)))["prediction"]
    want = spark_predict(spark, spark_dir / "pipeline", rows.astype({"x1": float}))
    assert np.allclose(got, want)


def test_rows_path_without_arrow(score, data, expected, monkeypatch):
    """Without pyarrow (or on pyspark 3) the request reaches Spark as a list of rows."""
    assert score.ARROW_INPUT  # pyarrow is installed here: the default path is Arrow
    monkeypatch.setattr(score, "ARROW_INPUT", False)
    rows = data[FEATURES].iloc[10:14]
    assert np.allclose(score.predict(rows.to_dict(orient="records"))["prediction"], expected[10:14])


def test_request_lacking_a_column_fails_clearly(score):
    with pytest.raises(ValueError, match=r"request lacks input columns \['color'\]"):
        score.predict([{"x1": 1.0, "x2": 2.0}])


def test_model_folder_tampering_is_refused(spark_art, tmp_path):
    """score.py checks every file of the model folder against the manifest before Spark
    reads it: a changed file and an added part file are both refused (no JVM starts)."""
    changed = tmp_path / "changed"
    shutil.copytree(spark_art, changed)
    meta = next((changed / "model/stages").glob("2_*/metadata/part-*"))
    meta.write_text(meta.read_text().replace('"maxIter":20', '"maxIter":21'))
    result = verify(changed)
    assert not result.ok and result.stage in ("import", "load_model")
    assert "sha256 differs" in result.error and meta.name in result.error

    added = tmp_path / "added"
    shutil.copytree(spark_art, added)
    data_dir = next((added / "model/stages").glob("2_*/data"))
    (data_dir / "part-99999-extra.snappy.parquet").write_bytes(b"PAR1")
    result = verify(added)
    assert not result.ok and "part-99999-extra.snappy.parquet" in result.error


# -- other input forms ---------------------------------------------------------------------------


def test_prepare_without_sample_uses_the_pipeline_inputs(spark_dir, data, expected, cli, tmp_path):
    art = tmp_path / "art"
    run = cli("prepare", spark_dir / "pipeline", "-o", art)
    assert run.code == 0, run.err
    assert "no --x-sample" in run.err
    schema = json.loads((art / "input_schema.json").read_text())["schema"]
    # what the StringIndexer, then the VectorAssembler, read
    assert [c["name"] for c in schema] == ["color", "x1", "x2"]
    assert not (art / ".mdreg/sample.json").exists()
    # the schema guesses float64 everywhere; score.py still sends "color" as a string,
    # because the StringIndexer reading it says so
    score = import_score(art, "nosample")
    rows = data[FEATURES].iloc[40:45]
    assert np.allclose(score.predict(rows.to_dict(orient="records"))["prediction"], expected[40:45])
    rows_in_schema_order = rows[["color", "x1", "x2"]].to_numpy().tolist()
    assert np.allclose(score.predict(rows_in_schema_order)["prediction"], expected[40:45])


def test_single_model_folder_becomes_a_one_stage_pipeline(spark, spark_dir, cli, tmp_path):
    art = tmp_path / "art"
    run = cli("prepare", spark_dir / "single_lr", "-o", art)
    assert run.code == 0, run.err
    assert "a single model, not a PipelineModel" in run.err
    doc = read_metadata(art / "model")
    assert doc["class"] == "org.apache.spark.ml.PipelineModel"
    assert [m["class"] for _, m in stage_metadata(art / "model", doc)] == [
        "org.apache.spark.ml.classification.LogisticRegressionModel"
    ]
    assert taxonomy(art)["Algorithm"] == "LogisticRegressionModel"
    schema = json.loads((art / "input_schema.json").read_text())["schema"]
    assert [c["name"] for c in schema] == ["features"]  # a vector column
    assert_checks_pass(art)


def test_unfitted_pipeline_and_estimator_are_refused(spark_dir, cli, tmp_path):
    run = cli("prepare", spark_dir / "unfitted", "-o", tmp_path / "art")
    assert run.code == EXIT_INPUT
    assert "unfitted Spark Pipeline" in run.err and "pipeline.fit" in run.err
    run = cli("prepare", spark_dir / "unfitted_lr", "-o", tmp_path / "art")
    assert run.code == EXIT_INPUT
    assert "an unfitted LogisticRegression: fit it" in run.err
    assert not (tmp_path / "art").exists()


def test_custom_stage_class_is_refused(spark_dir, cli, tmp_path):
    """A stage naming a class outside Spark ML would import (run) that code: refused."""
    folder = tmp_path / "custom"
    shutil.copytree(spark_dir / "pipeline", folder)
    meta = next(folder.glob("stages/1_*/metadata/part-*"))
    meta.write_text(
        meta.read_text().replace("org.apache.spark.ml.feature.VectorAssembler", "evil_module.Stage")
    )
    run = cli("prepare", folder, "-o", tmp_path / "art")
    assert run.code == EXIT_INPUT
    assert "evil_module.Stage, not a Spark ML class" in run.err
    assert not (tmp_path / "art").exists()


def test_a_file_is_not_a_spark_model(cli, tmp_path):
    (tmp_path / "model.bin").write_bytes(b"not a folder")
    run = cli("prepare", tmp_path / "model.bin", "--framework", "spark", "-o", tmp_path / "art")
    assert run.code == EXIT_INPUT
    assert "a Spark model is a folder" in run.err
