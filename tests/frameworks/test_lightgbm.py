"""LightGBM: every input form prepared, introspected, verified in a subprocess and zipped;
score.py predicts what LightGBM itself predicts on the same rows (class labels for a
scikit-learn classifier, as its predict() gives them)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mdreg.errors import EXIT_INPUT
from mdreg.frameworks.lightgbm import LightGBMFramework
from mdreg.frameworks.probe import Probe
from tests.frameworks.suite import (
    FrameworkSuite,
    assert_same,
    detect_in_fresh_interpreter,
    hyperparameters,
    metadata,
    verified,
)

lgb = pytest.importorskip("lightgbm")

SUITE = FrameworkSuite(
    "lightgbm", version=lgb.__version__, score_modules={"numpy", "pandas", "lightgbm"}
)
FEATURES = ["sepal_len", "sepal_wid", "petal_len", "petal_wid"]
SMALL = {"n_estimators": 4, "num_leaves": 4, "min_child_samples": 5, "n_jobs": 1, "verbose": -1}


@pytest.fixture(scope="session")
def data():
    rng = np.random.default_rng(11)
    X = pd.DataFrame(rng.normal(size=(120, 4)), columns=FEATURES)
    y_bool = (X.sepal_len + X.petal_wid > 0).to_numpy()  # bool labels: JSON true/false
    y_str = np.array(["setosa", "versicolor", "virginica"])[
        (X.sum(axis=1) > 0).astype(int) + (X.petal_len > 0.7).astype(int)
    ]
    y_reg = 2 * X.sepal_len - X.petal_len + 0.1 * X.sepal_wid
    return X, y_bool, y_str, y_reg


@pytest.fixture(scope="session")
def lgb_dir(tmp_path_factory, data) -> Path:
    """Every input form of the issue's table, written once."""
    import joblib
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y_bool, y_str, y_reg = data
    out = tmp_path_factory.mktemp("lgb")
    params = {
        "objective": "binary",
        "num_leaves": 4,
        "min_data_in_leaf": 5,
        "num_threads": 1,
        "verbose": -1,
    }
    booster = lgb.train(params, lgb.Dataset(X, label=y_bool.astype(int)), num_boost_round=4)
    booster.save_model(out / "booster.txt")
    with (out / "booster.pkl").open("wb") as f:
        pickle.dump(booster, f)
    clf = lgb.LGBMClassifier(**SMALL).fit(X, y_str)
    clf.booster_.save_model(out / "multi.txt")  # a classifier's booster: probabilities
    with (out / "clf.pkl").open("wb") as f:
        pickle.dump(clf, f)
    joblib.dump(clf, out / "clf.joblib", compress=3)  # joblib+zlib container
    joblib.dump(lgb.LGBMClassifier(**SMALL).fit(X, y_bool), out / "bin_clf.joblib")
    joblib.dump(lgb.LGBMRegressor(**SMALL).fit(X, y_reg), out / "reg.joblib")
    arr = lgb.train(
        {**params, "objective": "regression"},
        lgb.Dataset(X.to_numpy(), label=y_reg),
        num_boost_round=4,
    )  # features Column_0..3: positions, not names
    arr.save_model(out / "array.txt")
    pipe = make_pipeline(StandardScaler(), lgb.LGBMClassifier(**SMALL))
    joblib.dump(pipe.fit(X, y_str), out / "pipeline.joblib")
    X.head(8).to_csv(out / "x_sample.csv", index=False)
    return out


ROWS = slice(40, 47)

#: form -> (artifact model file, Algorithm, UseCaseType, prediction kind)
FORMS = {
    "booster.txt": ("model.txt", "Booster(gbdt, binary)", "binary_classification", "float"),
    "booster.pkl": ("model.txt", "Booster(gbdt, binary)", "binary_classification", "float"),
    "multi.txt": ("model.txt", "Booster(gbdt, multiclass)", "multinomial_classification", "float"),
    "array.txt": ("model.txt", "Booster(gbdt, regression)", "regression", "float"),
    "clf.pkl": ("model.txt", "LGBMClassifier", "multinomial_classification", "label"),
    "clf.joblib": ("model.txt", "LGBMClassifier", "multinomial_classification", "label"),
    "bin_clf.joblib": ("model.txt", "LGBMClassifier", "binary_classification", "label"),
    "reg.joblib": ("model.txt", "LGBMRegressor", "regression", "float"),
    "pipeline.joblib": (
        "model.pkl",
        "Pipeline(LGBMClassifier)",
        "multinomial_classification",
        "label",
    ),
}


def _expected(form: str, path: Path, X: pd.DataFrame):
    """What LightGBM itself predicts for the rows, loading the input the user's way."""
    import joblib

    rows = X.iloc[ROWS]
    if form.endswith(".txt"):
        booster = lgb.Booster(model_file=str(path))
        return booster.predict(rows.to_numpy() if form == "array.txt" else rows)
    return joblib.load(path).predict(rows)


@pytest.mark.parametrize("form", sorted(FORMS))
def test_input_form_end_to_end(form, lgb_dir, data, cli, tmp_path):
    model_file, algorithm, use_case, kind = FORMS[form]
    rows = data[0].iloc[ROWS]
    sample = [] if form == "array.txt" else ["--x-sample", lgb_dir / "x_sample.csv"]
    payload = rows.to_numpy().tolist() if form == "array.txt" else rows.to_dict(orient="records")
    done = SUITE.end_to_end(
        cli,
        lgb_dir / form,
        tmp_path,
        *sample,
        payload=payload,
        expected=_expected(form, lgb_dir / form, data[0]),
        model_file=model_file,
        labels=kind == "label",
        rtol=1e-9,
        atol=1e-12,
        taxonomy={"Algorithm": algorithm, "UseCaseType": use_case},
    )
    assert not ({"model.txt", "model.pkl"} - {model_file}) & {p.name for p in done.art.iterdir()}


def test_text_model_is_kept_byte_for_byte(lgb_dir, cli, tmp_path):
    art = tmp_path / "art"
    assert cli("prepare", lgb_dir / "booster.txt", "-o", art).code == 0
    assert (art / "model.txt").read_bytes() == (lgb_dir / "booster.txt").read_bytes()


def test_classifier_labels_and_metadata(lgb_dir, cli, tmp_path):
    art = tmp_path / "art"
    assert (
        cli(
            "prepare", lgb_dir / "clf.joblib", "-o", art, "--x-sample", lgb_dir / "x_sample.csv"
        ).code
        == 0
    )
    assert 'CLASSES = ["setosa", "versicolor", "virginica"]' in (art / "score.py").read_text()
    meta = metadata(art)
    assert meta["mdreg"]["classes"] == ["setosa", "versicolor", "virginica"]
    assert meta["mdreg"]["features"] == FEATURES
    out_schema = json.loads((art / "output_schema.json").read_text())["schema"]
    assert out_schema[0]["feature_type"] in ("String", "Category")
    params = hyperparameters(art)
    assert params["n_estimators"] == 4 and params["num_leaves"] == 4


@pytest.mark.parametrize("form", ["booster.txt", "clf.joblib"])
def test_sample_columns_in_another_order(form, lgb_dir, data, cli, tmp_path):
    """LightGBM reads columns by position: score.py puts them in the trained order, so a
    sample (and so a schema) in another order still predicts right."""
    import joblib

    X = data[0]
    X[FEATURES[::-1]].head(6).to_csv(tmp_path / "x.csv", index=False)
    art = tmp_path / "art"
    SUITE.prepare(cli, lgb_dir / form, art, "--x-sample", tmp_path / "x.csv")
    result = verified(art)  # the sample kept at prepare time, in its own column order
    rows = X.head(5)  # the trained order
    if form.endswith(".txt"):
        expected, labels = lgb.Booster(model_file=str(lgb_dir / form)).predict(rows), False
    else:
        expected, labels = joblib.load(lgb_dir / form).predict(rows), True
    assert_same(result.prediction["prediction"], expected, labels=labels, rtol=1e-9, atol=1e-12)


def test_schema_from_feature_name_without_sample(lgb_dir, cli, tmp_path):
    art = tmp_path / "art"
    run = cli("prepare", lgb_dir / "booster.txt", "-o", art)
    assert run.code == 0, run.err
    schema = json.loads((art / "input_schema.json").read_text())["schema"]
    assert [c["name"] for c in schema] == FEATURES
    art2 = tmp_path / "art2"
    assert cli("prepare", lgb_dir / "array.txt", "-o", art2).code == 0
    schema = json.loads((art2 / "input_schema.json").read_text())["schema"]
    assert [c["name"] for c in schema] == [0, 1, 2, 3]  # Column_0.. are positions


def test_sample_with_spaces_in_column_names(data, tmp_path, cli):
    X, y_bool, _, _ = data
    spaced = X.rename(columns=lambda c: c.replace("_", " "))
    clf = lgb.LGBMClassifier(**SMALL).fit(spaced, y_bool)
    import joblib

    joblib.dump(clf, tmp_path / "clf.joblib")
    spaced.head(5).to_csv(tmp_path / "x.csv", index=False)
    run = cli(
        "prepare", tmp_path / "clf.joblib", "-o", tmp_path / "art", "--x-sample", tmp_path / "x.csv"
    )
    assert run.code == 0, run.err
    result = verified(tmp_path / "art")
    assert result.prediction["prediction"] == clf.predict(spaced.head(5)).tolist()


def test_sniffing_imports_no_framework(lgb_dir):
    found = detect_in_fresh_interpreter({name: lgb_dir / name for name in FORMS})
    assert {name: f[0] for name, f in found.items()} == dict.fromkeys(FORMS, "lightgbm")
    assert "version=v4" in found["booster.txt"][2]
    assert "objective=binary" in found["booster.txt"][2]
    assert "lightgbm.sklearn.LGBMClassifier" in found["clf.joblib"][2]
    assert found["pipeline.joblib"][1] > 0.9  # beats sklearn: our allow-list covers both


@pytest.mark.parametrize(
    "head",
    [
        b"tree\n",
        b"trees\nversion=v4\n",
        b"version=v4\ntree\n",
        b'{"learner": {}}',
        b"tree\nversion=4\n",
    ],
)
def test_other_files_are_not_claimed(head, tmp_path):
    path = tmp_path / "model.txt"
    path.write_bytes(head)
    assert LightGBMFramework().sniff(Probe.of(path)) is None


def test_damaged_text_model_is_bad_input(lgb_dir, tmp_path, cli):
    path = tmp_path / "broken.txt"
    path.write_text((lgb_dir / "booster.txt").read_text()[:300])
    run = cli("prepare", path, "-o", tmp_path / "art")
    assert run.code == EXIT_INPUT
    assert "LightGBM could not read the model" in run.err
    assert not (tmp_path / "art").exists()


def test_pickle_without_lightgbm_inside_is_refused(tmp_path, cli):
    SUITE.assert_refuses_a_sklearn_pickle(cli, tmp_path, "not a LightGBM Booster or estimator")
