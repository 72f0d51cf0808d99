"""The local engine gives what the model itself predicts, for XGBoost, LightGBM and
PyTorch artifacts (scikit-learn: test_score.py; Spark: test_spark_score.py), on the
same rows, read from Parquet."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import mdreg_proc

pytest.importorskip("pyarrow")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def table(iris) -> pd.DataFrame:
    X, _ = iris
    return pd.concat([X] * 20, ignore_index=True).sample(frac=1.0, random_state=2)


def _score(artifact: Path, table: pd.DataFrame, tmp_path: Path) -> pd.DataFrame:
    source, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    table.to_parquet(source, index=False)
    run = mdreg_proc("score", artifact, source, "-o", out, "--batch-rows", "512", "--json")
    assert run.code == 0, run.err
    assert json.loads(run.out)["rows"] == len(table)
    return pd.read_parquet(out)


def _prepare(model_path: Path, x_sample: Path, dest: Path) -> Path:
    from mdreg import prepare

    return prepare(model_path, dest, x_sample=x_sample).artifact_dir


def test_xgboost(iris, table, tmp_path):
    xgb = pytest.importorskip("xgboost")
    X, y = iris
    model = xgb.XGBClassifier(n_estimators=8, max_depth=3).fit(X, y)
    path = tmp_path / "model.json"
    model.save_model(path)
    X.head(20).to_csv(tmp_path / "x.csv", index=False)
    artifact = _prepare(path, tmp_path / "x.csv", tmp_path / "art")
    scored = _score(artifact, table, tmp_path)
    assert (scored["prediction"].to_numpy() == model.predict(table)).all()


def test_lightgbm(iris, table, tmp_path):
    lgb = pytest.importorskip("lightgbm")
    X, y = iris
    model = lgb.LGBMClassifier(n_estimators=8, verbose=-1).fit(X, y)
    path = tmp_path / "model.txt"
    model.booster_.save_model(path)
    X.head(20).to_csv(tmp_path / "x.csv", index=False)
    artifact = _prepare(path, tmp_path / "x.csv", tmp_path / "art")
    scored = _score(artifact, table, tmp_path)
    # A native Booster file answers class probabilities: one column per class.
    expected = model.booster_.predict(table)
    got = scored[[c for c in scored.columns if c.startswith("prediction")]].to_numpy()
    np.testing.assert_allclose(got.reshape(expected.shape), expected, rtol=1e-6)


def test_pytorch_exported_program(iris, table, tmp_path):
    torch = pytest.importorskip("torch")
    X, _ = iris
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    model.eval()
    example = torch.tensor(X.head(2).to_numpy(), dtype=torch.float32)
    batch = torch.export.Dim("batch")
    program = torch.export.export(model, (example,), dynamic_shapes={"input": {0: batch}})
    path = tmp_path / "model.pt2"
    torch.export.save(program, path)
    X.head(20).to_csv(tmp_path / "x.csv", index=False)
    artifact = _prepare(path, tmp_path / "x.csv", tmp_path / "art")
    scored = _score(artifact, table, tmp_path)
    with torch.no_grad():
        expected = model(torch.tensor(table.to_numpy(), dtype=torch.float32)).numpy()
    got = scored[[c for c in scored.columns if c.startswith("prediction")]].to_numpy()
    np.testing.assert_allclose(got.astype(np.float32), expected, rtol=1e-5, atol=1e-6)
