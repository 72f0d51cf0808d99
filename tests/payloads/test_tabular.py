"""Tabular models (scikit-learn, XGBoost, LightGBM, a generic pickle): every payload kind
sent to the artifact's score.py in a fresh interpreter predicts what the model itself
predicts; a binary answer (``response=npy``) decodes to the JSON answer.

One artifact per framework for the whole module; all payload kinds go through one
interpreter (``serve``), and each framework also answers one request through
``mdreg.verify`` itself (the kept sample, encoded in a binary format).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mdreg
from mdreg.payload import decode_response
from tests.payloads.conftest import (
    TABLE_KINDS,
    assert_all_match,
    body_for,
    predictions,
    request_body,
    serve,
)

FRAMEWORKS = ("sklearn", "xgboost", "lightgbm", "generic")
#: Which binary format each framework's mdreg.verify request uses (all four get every kind
#: through ``serve``).
VERIFY_FORMAT = {
    "sklearn": "arrow",
    "xgboost": "npy",
    "lightgbm": "parquet",
    "generic": "safetensors",
}


class Linear:
    """A user's model class, pickled by value (cloudpickle): the generic plugin's case."""

    def __init__(self, w, b):
        self.w, self.b = w, b

    def predict(self, X):
        import numpy as np

        return np.asarray(X, dtype=float) @ np.asarray(self.w) + self.b


@pytest.fixture(scope="module")
def rows(iris) -> pd.DataFrame:
    X, _ = iris
    return X.iloc[[0, 50, 100, 7, 120, 33, 77]].reset_index(drop=True)


@pytest.fixture(scope="module")
def tabular(iris, iris_rf, iris_x_csv, rows, tmp_path_factory) -> dict[str, dict]:
    """{framework: {"art": artifact, "model": the fitted model}}, prepared once."""
    import joblib

    X, y = iris
    out = tmp_path_factory.mktemp("payload-tabular")
    models: dict[str, tuple[Path, object, list[str]]] = {
        "sklearn": (iris_rf, joblib.load(iris_rf), [])
    }
    xgb = pytest.importorskip("xgboost")
    clf = xgb.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1).fit(X, y)
    joblib.dump(clf, out / "xgb.joblib")
    models["xgboost"] = (out / "xgb.joblib", clf, [])
    lgb = pytest.importorskip("lightgbm")
    lgbm = lgb.LGBMClassifier(n_estimators=5, num_leaves=4, min_child_samples=5, verbose=-1).fit(
        X, y
    )
    joblib.dump(lgbm, out / "lgbm.joblib")
    models["lightgbm"] = (out / "lgbm.joblib", lgbm, [])
    import cloudpickle

    linear = Linear([0.5, -1.0, 2.0, 0.25], 0.125)
    cloudpickle.register_pickle_by_value(__import__(__name__, fromlist=["Linear"]))
    try:
        (out / "linear.pkl").write_bytes(cloudpickle.dumps(linear))
    finally:
        cloudpickle.unregister_pickle_by_value(__import__(__name__, fromlist=["Linear"]))
    models["generic"] = (out / "linear.pkl", linear, ["--trust"])
    arts = {}
    for name, (path, model, flags) in models.items():
        art = out / f"art-{name}"
        mdreg.prepare(path, art, x_sample=iris_x_csv, trust=bool(flags))
        meta = json.loads((art / ".mdreg/metadata.json").read_text())
        assert meta["mdreg"]["framework"] == name
        arts[name] = {"art": art, "model": model}
    return arts


def _expected(model, rows: pd.DataFrame) -> list:
    return np.asarray(model.predict(rows)).tolist()


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_every_payload_kind(framework, tabular, rows, tmp_path):
    art, model = tabular[framework]["art"], tabular[framework]["model"]
    bodies = {kind: body_for(art, kind, rows) for kind in TABLE_KINDS}
    # Ask for a binary answer: in a JSON envelope, and in safetensors metadata.
    bodies["json_response_npy"] = ("json", request_body(art, rows, "json", "npy"))
    bodies["safetensors_response_npy"] = (
        "safetensors",
        request_body(art, rows, "safetensors", "npy"),
    )
    results = serve(art, bodies, tmp_path)
    binary = {k: results.pop(k) for k in ("json_response_npy", "safetensors_response_npy")}
    expected = _expected(model, rows)
    assert_all_match(results, expected, exact=framework != "generic")
    for name, result in binary.items():
        answer = decode_response(result["prediction"])["prediction"]
        assert isinstance(answer, np.ndarray), name
        assert answer.tolist() == predictions(results["records"]), name


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_verify_kept_sample_binary(framework, tabular, iris):
    """mdreg.verify itself: the sample kept at prepare time, encoded in a binary format."""
    art, model = tabular[framework]["art"], tabular[framework]["model"]
    fmt = VERIFY_FORMAT[framework]
    result = mdreg.verify(art, payload_format=fmt)
    assert result.ok, result.traceback
    assert result.payload_format == fmt and result.payload_bytes > 0
    X, _ = iris
    want = _expected(model, X.head(5))
    np.testing.assert_allclose(np.asarray(result.prediction["prediction"]), want, rtol=1e-6)


def test_verify_npy_response_through_environment(tabular, iris):
    """An npy body has no place to ask for a binary answer: verify sets MDREG_RESPONSE,
    as a deployment would."""
    art = tabular["sklearn"]["art"]
    result = mdreg.verify(art, payload_format="npy", response="npy")
    assert result.ok, result.traceback
    answer = decode_response(result.prediction)["prediction"]
    X, _ = iris
    assert answer.tolist() == _expected(tabular["sklearn"]["model"], X.head(5))
