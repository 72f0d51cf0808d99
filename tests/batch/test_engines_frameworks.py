"""Both engines of ``mdreg score`` answer as the model itself predicts, for XGBoost,
LightGBM and PyTorch (.pt2) artifacts, on the same rows: the local engine (a real
``mdreg score`` subprocess, Parquet in and out) and the Spark engine
(``mdreg.spark.score``; ``--engine spark`` once), whose output equals the local
engine's, column for column, types included. Multi-column answers (a LightGBM Booster's
one probability per class, a network's several outputs) come out the same on both.
scikit-learn and Spark PipelineModel artifacts: test_score.py and test_spark_score.py."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import mdreg_proc

pytest.importorskip("pyarrow")
pytestmark = [
    pytest.mark.slow,
    # pyspark 4 on pandas 3: its own conversions warn
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

BATCH_ROWS = 512


@dataclass
class Case:
    artifact: Path
    expected: np.ndarray  # the model's own predict on the table's rows: rows x outputs
    exact: bool  # class labels compare equal; scores, allclose
    local: pd.DataFrame  # the local engine's output


@pytest.fixture(scope="module")
def table(iris) -> pd.DataFrame:
    """3,000 iris rows in a shuffled order, with an id column the models do not use."""
    X, _ = iris
    frame = pd.concat([X] * 20, ignore_index=True).sample(frac=1.0, random_state=2)
    frame.insert(0, "id", np.arange(len(frame)))
    return frame.reset_index(drop=True)


def _features(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=["id"])


def _case(model_path: Path, iris, table: pd.DataFrame, expected: np.ndarray, exact: bool) -> Case:
    """The model file prepared into an artifact (a sample of iris) and scored by the
    local engine."""
    from mdreg import prepare

    dest = model_path.parent
    X, _ = iris
    X.head(20).to_csv(dest / "x.csv", index=False)
    artifact = prepare(model_path, dest / "art", x_sample=dest / "x.csv").artifact_dir
    source, out = dest / "in.parquet", dest / "local.parquet"
    table.to_parquet(source, index=False)
    args = ("score", artifact, source, "-o", out, "--batch-rows", str(BATCH_ROWS), "--json")
    run = mdreg_proc(*args)
    assert run.code == 0, run.err
    assert json.loads(run.out)["rows"] == len(table)
    expected = expected.reshape(len(table), -1)
    return Case(artifact, expected, exact, pd.read_parquet(out))


@pytest.fixture(scope="module")
def xgboost_case(iris, table, tmp_path_factory) -> Case:
    xgb = pytest.importorskip("xgboost")
    X, y = iris
    model = xgb.XGBClassifier(n_estimators=8, max_depth=3).fit(X, y)
    path = tmp_path_factory.mktemp("xgboost") / "model.json"
    model.save_model(path)
    return _case(path, iris, table, model.predict(_features(table)), exact=True)


@pytest.fixture(scope="module")
def lightgbm_case(iris, table, tmp_path_factory) -> Case:
    lgb = pytest.importorskip("lightgbm")
    X, y = iris
    model = lgb.LGBMClassifier(n_estimators=8, verbose=-1).fit(X, y)
    path = tmp_path_factory.mktemp("lightgbm") / "model.txt"
    model.booster_.save_model(path)
    # A native Booster file answers class probabilities: one column per class.
    expected = model.booster_.predict(_features(table))
    return _case(path, iris, table, expected, exact=False)


@pytest.fixture(scope="module")
def pytorch_case(iris, table, tmp_path_factory) -> Case:
    torch = pytest.importorskip("torch")
    X, _ = iris
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    model.eval()
    example = torch.tensor(X.head(2).to_numpy(), dtype=torch.float32)
    batch = torch.export.Dim("batch")
    program = torch.export.export(model, (example,), dynamic_shapes={"input": {0: batch}})
    path = tmp_path_factory.mktemp("pytorch") / "model.pt2"
    torch.export.save(program, path)
    with torch.no_grad():
        inputs = torch.tensor(_features(table).to_numpy(), dtype=torch.float32)
        expected = model(inputs).numpy()
    return _case(path, iris, table, expected, exact=False)


@pytest.fixture(scope="module", params=["xgboost", "lightgbm", "pytorch"])
def case(request: pytest.FixtureRequest) -> Case:
    return request.getfixturevalue(f"{request.param}_case")


def _predictions(frame: pd.DataFrame) -> np.ndarray:
    return frame[[c for c in frame.columns if c.startswith("prediction")]].to_numpy()


def _assert_predicts(case: Case, frame: pd.DataFrame) -> None:
    """``frame`` (rows in the table's order) holds the model's own predictions."""
    got = _predictions(frame)
    assert got.shape == case.expected.shape
    if case.exact:
        assert (got == case.expected).all()
    else:
        np.testing.assert_allclose(got, case.expected, rtol=1e-5, atol=1e-6)


def _by_id(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("id").reset_index(drop=True)


def test_local_engine_answers_as_the_model(case, table):
    assert case.local.columns.tolist()[: len(table.columns)] == table.columns.tolist()
    assert (case.local["id"] == table["id"]).all()  # the input's order
    _assert_predicts(case, case.local)


def test_spark_engine_answers_as_the_model_and_the_local_engine(spark, case, table):
    import mdreg.spark

    scored = mdreg.spark.score(spark, case.artifact, spark.createDataFrame(table))
    got = _by_id(scored.toPandas())
    _assert_predicts(case, got)
    # same columns, same types, same values (floats to the last few bits)
    pd.testing.assert_frame_equal(got, case.local, rtol=1e-6)


def test_engine_spark_writes_what_the_local_engine_writes(spark, pytorch_case, table):
    """``score_dataset(engine="spark")``: Parquet in, a folder of Parquet part files out,
    several float32 prediction columns typed as the local engine types them."""
    from mdreg.flows.score import score_dataset

    dest = pytorch_case.artifact.parent
    source, out = dest / "in.parquet", dest / "spark.parquet"
    result = score_dataset(
        pytorch_case.artifact, str(source), str(out), engine="spark", batch_rows=BATCH_ROWS
    )
    assert result.rows == len(table) and result.engine == "spark"
    written = _by_id(pd.read_parquet(out))
    assert [c for c in written.columns if c.startswith("prediction")] == [
        "prediction_0",
        "prediction_1",
        "prediction_2",
    ]
    assert (written.dtypes[-3:] == np.float32).all()
    pd.testing.assert_frame_equal(written, pytorch_case.local, rtol=1e-6)
    _assert_predicts(pytorch_case, written)
