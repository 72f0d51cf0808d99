"""The Spark engine of ``mdreg score``: ``mdreg.spark.score`` and ``--engine spark``, in real
pyspark, compared with the model's own predict, the local engine and Spark's transform.

A SparkSession costs a JVM: these tests share ONE (conftest.py's ``spark``, the settings
prepare uses); only the multi-process case starts its own, under spark-submit.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mdreg.errors import ArtifactError, InputError, UsageError

pytest.importorskip("pyarrow")
pyspark = pytest.importorskip("pyspark")
pytestmark = [  # pyspark 4 on pandas 3: its own conversions warn
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

JOB = Path(__file__).parent / "spark_job"
FAIL_ON_LONG_SEPALS = (
    "    return features\n",
    "    if (features['sepal length (cm)'] > 7.6).any():\n"
    "        raise ValueError('sepal too long')\n"
    "    return features\n",
)


@pytest.fixture(scope="module")
def iris_artifact(
    iris_rf: Path, iris_x_csv: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    from mdreg import prepare

    out = tmp_path_factory.mktemp("spark-score") / "artifact"
    return prepare(iris_rf, out, x_sample=iris_x_csv).artifact_dir


@pytest.fixture(scope="module")
def rows(iris) -> pd.DataFrame:
    """1,500 iris rows in a shuffled order, with an id column the model does not use."""
    X, _ = iris
    frame = pd.concat([X] * 10, ignore_index=True).sample(frac=1.0, random_state=1)
    frame.insert(0, "id", np.arange(len(frame)) * 3)
    return frame.reset_index(drop=True)


def _expected(iris_rf: Path, frame: pd.DataFrame) -> np.ndarray:
    import joblib

    model = joblib.load(iris_rf)
    return model.predict(frame[list(model.feature_names_in_)])


def _edited(artifact: Path, dest: Path, old: str, new: str) -> Path:
    shutil.copytree(artifact, dest)
    score = dest / "score.py"
    text = score.read_text()
    assert old in text
    score.write_text(text.replace(old, new, 1))
    return dest


def _by_id(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("id").reset_index(drop=True)


def test_score_py_on_spark_predicts_as_the_model_and_the_local_engine(
    spark, iris_artifact, iris_rf, rows, tmp_path
):
    import mdreg.spark
    from mdreg.flows.score import score_dataset

    df = spark.createDataFrame(rows)
    scored = mdreg.spark.score(spark, iris_artifact, df, batch_rows=400)
    assert scored.columns == [*rows.columns, "prediction"]
    assert scored.schema["prediction"].dataType.simpleString() == "bigint"  # int64
    assert "MapInPandas" in scored._jdf.queryExecution().analyzed().toString()
    got = _by_id(scored.toPandas())
    pd.testing.assert_frame_equal(got[rows.columns], _by_id(rows), check_dtype=False)
    want = _expected(iris_rf, _by_id(rows))
    assert (got["prediction"].to_numpy() == want).all()

    source, out = tmp_path / "in.parquet", tmp_path / "local.parquet"
    rows.to_parquet(source)
    score_dataset(iris_artifact, str(source), str(out), workers=1, batch_rows=400)
    local = _by_id(pd.read_parquet(out))
    pd.testing.assert_frame_equal(got, local, check_dtype=False)

    # a zip, the columns named, only the id kept
    zipped = tmp_path / "art.zip"
    shutil.make_archive(str(zipped.with_suffix("")), "zip", iris_artifact)
    features = [c for c in rows.columns if c != "id"]
    scored = mdreg.spark.score(spark, zipped, df, columns=features, keep_columns=["id"])
    got = _by_id(scored.toPandas())
    assert got.columns.tolist() == ["id", "prediction"]
    assert (got["prediction"].to_numpy() == want).all()


def test_missing_column_and_clash_are_one_line_errors_before_any_job(spark, iris_artifact, rows):
    import mdreg.spark

    context = spark.sparkContext
    context.setJobGroup("mdreg-checks", "no job may run")
    try:
        df = spark.createDataFrame(rows.drop(columns=["petal width (cm)"]))
        with pytest.raises(InputError) as caught:
            mdreg.spark.score(spark, iris_artifact, df)
        message = str(caught.value)
        assert "\n" not in message
        assert message.startswith(
            "the DataFrame lacks the column petal width (cm) that score.py needs"
        )
        clash = spark.createDataFrame(rows.assign(error="x"))
        with pytest.raises(UsageError, match="error would be overwritten"):
            mdreg.spark.score(spark, iris_artifact, clash, on_error="skip")
        with pytest.raises(InputError, match="--keep-columns: the DataFrame has no column nope"):
            mdreg.spark.score(spark, iris_artifact, df, columns=["id"], keep_columns=["nope"])
        assert list(context.statusTracker().getJobIdsForGroup("mdreg-checks")) == []
    finally:
        context.setLocalProperty("spark.jobGroup.id", None)


def test_on_error_skip_writes_the_error_and_fail_names_the_batch(
    spark, iris_artifact, iris_rf, rows, tmp_path, cli
):
    import mdreg.spark

    picky = _edited(iris_artifact, tmp_path / "art", *FAIL_ON_LONG_SEPALS)
    bad = rows["sepal length (cm)"] > 7.6
    df = spark.createDataFrame(rows).coalesce(1)  # one partition: rows in input order
    scored = mdreg.spark.score(spark, picky, df, on_error="skip", batch_rows=500).toPandas()
    assert scored.columns.tolist() == [*rows.columns, "prediction", "error"]
    assert scored["id"].tolist() == rows["id"].tolist()
    assert scored["error"].notna().tolist() == bad.tolist()
    assert set(scored.loc[bad, "error"]) == {"predict raised ValueError: sepal too long"}
    assert scored.loc[bad, "prediction"].isna().all()
    good = ~bad
    assert (scored.loc[good, "prediction"].to_numpy() == _expected(iris_rf, rows[good])).all()

    first_bad = int(np.flatnonzero(bad.to_numpy())[0])
    batch = first_bad // 500
    source = tmp_path / "in.parquet"
    rows.to_parquet(source)
    out = tmp_path / "out.parquet"
    run = cli("score", picky, source, "-o", out, "--engine", "spark", "--batch-rows", "500", "-q")
    assert run.code == 1
    message = run.err.strip()
    assert "\n" not in message
    assert message.startswith(
        f"error: partition 0, rows {batch * 500:,}-{batch * 500 + 499:,} (first row {{"
    )
    assert message.endswith("): predict raised ValueError: sepal too long")
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_cli_engine_spark_end_to_end(spark, iris_artifact, iris_rf, rows, tmp_path, cli):
    source, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    rows.to_parquet(source)
    run = cli("score", iris_artifact, source, "-o", out, "--engine", "spark", "--json")
    assert run.code == 0, run.err
    summary = json.loads(run.out)
    assert summary["rows"] == len(rows) and summary["engine"] == "spark"
    assert summary["output"] == str(out)
    assert out.is_dir() and list(out.glob("part-*.parquet"))  # a folder of part files
    scored = _by_id(pd.read_parquet(out))
    assert scored.columns.tolist() == [*rows.columns, "prediction"]
    assert (scored["prediction"].to_numpy() == _expected(iris_rf, _by_id(rows))).all()

    run = cli("score", iris_artifact, source, "-o", out, "--engine", "spark")
    assert run.code == 3 and "exists: pass --force" in run.err
    run = cli("score", iris_artifact, source, "-o", out, "--engine", "spark", "-w", "2")
    assert run.code == 2 and "--workers is for the local engine" in run.err

    csv, lines = tmp_path / "in.csv", tmp_path / "out.jsonl"
    rows.to_csv(csv, index=False)
    lines.mkdir()  # replaced by --force, only once the new output is complete
    args = ("score", iris_artifact, csv, "-o", lines, "--engine", "spark", "--keep-columns", "id")
    run = cli(*args, "--force")
    assert run.code == 0, run.err
    assert run.out.strip() == str(lines)
    scored = _by_id(pd.concat(pd.read_json(p, lines=True) for p in lines.glob("part-*")))
    assert scored.columns.tolist() == ["id", "prediction"]
    assert (scored["prediction"].to_numpy() == _expected(iris_rf, _by_id(rows))).all()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    run = cli(
        "score", iris_artifact, tmp_path / "none.parquet", "-o", tmp_path / "o", "--engine", "spark"
    )
    assert run.code == 3 and "none.parquet: no such file or folder" in run.err


def test_spark_engine_without_pyspark_says_what_to_install(iris_artifact, tmp_path, monkeypatch):
    from mdreg.errors import FrameworkNotInstalledError
    from mdreg.flows.score import score_dataset

    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark: ImportError
    with pytest.raises(FrameworkNotInstalledError) as caught:
        score_dataset(iris_artifact, "in.parquet", str(tmp_path / "o"), engine="spark")
    assert "mdreg score --engine spark" in str(caught.value)
    assert "mdreg[spark]" in str(caught.value)


# -- a Spark model: scored by Spark itself --------------------------------------------------


@pytest.fixture(scope="module")
def pipeline(spark, tmp_path_factory) -> tuple[Path, Path, pd.DataFrame]:
    """A fitted PipelineModel saved by Spark, its artifact, and rows to score."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import StringIndexer, VectorAssembler

    from mdreg import prepare

    rng = np.random.default_rng(7)
    n = 60
    data = pd.DataFrame(
        {
            "x1": rng.normal(size=n).round(3),
            "x2": rng.normal(size=n).round(3),
            "color": rng.choice(["red", "green", "blue"], n),
        }
    )
    data["label"] = ((data.x1 + data.x2 + (data.color == "red")) > 0.4).astype(float)
    out = tmp_path_factory.mktemp("spark-pipeline")
    frame = spark.createDataFrame(
        [tuple(r) for r in data.itertuples(index=False)],
        "x1 double, x2 double, color string, label double",
    )
    stages = [
        StringIndexer(inputCol="color", outputCol="color_idx", handleInvalid="keep"),
        VectorAssembler(inputCols=["x1", "x2", "color_idx"], outputCol="features"),
        LogisticRegression(maxIter=20, regParam=0.01),
    ]
    Pipeline(stages=stages).fit(frame).write().save(str(out / "pipeline"))
    data[["x1", "x2", "color"]].head(8).to_csv(out / "x_sample.csv", index=False)
    art = prepare(out / "pipeline", out / "art", x_sample=out / "x_sample.csv").artifact_dir
    return out / "pipeline", art, data.assign(id=np.arange(n))


def test_spark_pipeline_artifact_is_scored_by_its_own_transform(spark, pipeline, tmp_path):
    from pyspark.ml import PipelineModel

    import mdreg.spark

    model_dir, art, data = pipeline
    df = spark.createDataFrame(
        [tuple(r) for r in data[["id", "x1", "x2", "color"]].itertuples(index=False)],
        "id long, x1 double, x2 double, color string",
    )
    scored = mdreg.spark.score(spark, art, df)
    plan = scored._jdf.queryExecution().analyzed().toString()
    assert "MapInPandas" not in plan  # no pandas, no Python worker
    assert scored.columns == ["id", "x1", "x2", "color", "prediction"]
    want = PipelineModel.load(str(model_dir)).transform(df).select("id", "prediction")
    got = {r.id: r.prediction for r in scored.collect()}
    assert got == {r.id: r.prediction for r in want.collect()}

    skipping = mdreg.spark.score(spark, art, df, keep_columns=["id"], on_error="skip")
    assert skipping.columns == ["id", "prediction", "error"]

    with pytest.raises(InputError, match="lacks the column color"):
        mdreg.spark.score(spark, art, df.drop("color"))
    changed = tmp_path / "changed"
    shutil.copytree(art, changed)
    meta = next((changed / "model/stages").glob("2_*/metadata/part-*"))
    meta.write_text(meta.read_text().replace('"maxIter":20', '"maxIter":21'))
    with pytest.raises(ArtifactError, match="sha256 differs"):
        mdreg.spark.score(spark, changed, df)


def test_local_engine_refuses_a_spark_pipeline_artifact_for_engine_spark(
    spark, pipeline, tmp_path, cli
):
    """Its score.py starts a SparkSession: a JVM in each local worker (measured on 2 busy
    cores: 50 s to start two, then 540 rows/s), where ``--engine spark`` runs the
    pipeline in the one JVM. Refused before any worker starts, pointing there."""
    from pyspark.ml import PipelineModel

    model_dir, art, data = pipeline
    source, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    data.drop(columns=["label"]).to_parquet(source)
    run = cli("score", art, source, "-o", out)
    assert run.code == 2
    assert run.err == (
        "error: a Spark PipelineModel artifact is scored by Spark itself: use --engine spark "
        "(the local engine would start a JVM in each of its workers)\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet"]

    run = cli("score", art, source, "-o", out, "--engine", "spark", "--keep-columns", "id", "-q")
    assert run.code == 0, run.err
    got = pd.read_parquet(out).set_index("id")["prediction"]
    df = spark.read.parquet(str(source))
    want = PipelineModel.load(str(model_dir)).transform(df).toPandas()
    assert got.to_dict() == want.set_index("id")["prediction"].to_dict()


# -- several executor processes, none of which can import mdreg ------------------------------


def _spark_home(tmp_path: Path) -> Path:
    """pyspark's folder seen through links, so the local cluster's workers write their
    work folders here, not into the installed package."""
    home = tmp_path / "spark-home"
    home.mkdir()
    for entry in Path(pyspark.__file__).parent.iterdir():
        if entry.name != "work":
            (home / entry.name).symlink_to(entry)
    return home


@pytest.mark.slow
def test_spark_submit_local_cluster_executors_without_mdreg(iris_artifact, iris_rf, rows, tmp_path):
    """``spark-submit --master local-cluster[2,1,1024]``: two executor JVMs, each with
    Python workers run by a PYSPARK_PYTHON wrapper that puts ``spark_job/sitecustomize.py``
    first, which makes ``import mdreg`` fail. The driver imports mdreg; the workers score."""
    source, out, report = tmp_path / "in.parquet", tmp_path / "out.parquet", tmp_path / "r.json"
    rows.to_parquet(source)
    wrapper = tmp_path / "python-without-mdreg"
    wrapper.write_text(
        f'#!/bin/sh\nPYTHONPATH="{JOB}${{PYTHONPATH:+:$PYTHONPATH}}" exec "{sys.executable}" "$@"\n'
    )
    wrapper.chmod(0o755)
    home = _spark_home(tmp_path)
    fast_jvm = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": str(wrapper),
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }
    command = [
        str(Path(sys.executable).parent / "spark-submit"),
        "--master",
        "local-cluster[2,1,1024]",
        "--conf",
        "spark.ui.enabled=false",
        "--conf",
        f"spark.executor.extraJavaOptions={fast_jvm}",
        "--driver-java-options",
        fast_jvm,
        str(JOB / "job.py"),
        str(iris_artifact),
        str(source),
        str(out),
        str(report),
    ]
    proc = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its JVMs and Python workers, stopped together on timeout
    )
    try:
        log, _ = proc.communicate(timeout=420)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        log, _ = proc.communicate()
        pytest.fail(f"spark-submit did not finish in 420 s:\n{log[-4000:]}")
    assert proc.returncode == 0, log[-4000:]
    facts = json.loads(report.read_text())
    assert facts["master"] == "local-cluster[2,1,1024]"
    assert facts["executors"] == 3  # two executors and the driver's block manager
    assert facts["driver_has_mdreg"]
    assert facts["workers"] and all(not w["importable"] for w in facts["workers"])
    assert all(w["loaded"] == "" for w in facts["workers"])  # no mdreg module ever loaded
    # Each executor fetched the archive and unpacked it into its own work folder.
    unpacked = list((home / "work").glob("app-*/*/mdreg-*/score.py"))
    assert len(unpacked) == 2, sorted(str(p) for p in (home / "work").rglob("*"))[:20]

    scored = _by_id(pd.read_parquet(out))
    assert scored.columns.tolist() == [*rows.columns, "prediction"]
    assert (scored["prediction"].to_numpy() == _expected(iris_rf, _by_id(rows))).all()
    assert facts["partitions"] == 4
    assert facts["cli_exit"] == 0  # mdreg score --engine spark in the cluster's session
    by_cli = _by_id(pd.read_parquet(f"{out}.cli"))
    pd.testing.assert_frame_equal(by_cli, scored)
