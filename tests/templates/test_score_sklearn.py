"""The scikit-learn score.py: which models get the rows as an array, and that it changes
no prediction."""

from __future__ import annotations

import importlib.util
import re
import sys
import warnings
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mdreg import prepare


def _score(artifact: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, artifact / "score.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(artifact))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(artifact))
    return module


def _prepared(model, X: pd.DataFrame, tmp_path: Path, name: str):
    joblib.dump(model, tmp_path / f"{name}.joblib")
    X.head(10).to_csv(tmp_path / f"{name}.csv", index=False)
    art = prepare(
        tmp_path / f"{name}.joblib", tmp_path / name, x_sample=tmp_path / f"{name}.csv"
    ).artifact_dir
    return _score(art, f"score_{name}")


def test_plain_estimator_gets_an_array_and_predicts_the_same(iris, tmp_path):
    X, y = iris
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    score = _prepared(model, X, tmp_path, "rf")
    features = score.deserialize(X.to_dict(orient="list"))
    assert score.fed_as_array(score.load_model(), features)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the skipped feature-name check must not warn
        got = score.predict(X.to_numpy().tolist())["prediction"]
    assert got == model.predict(X).tolist()


def test_pipelines_and_mixed_columns_keep_the_dataframe(tmp_path):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"size": rng.normal(size=60), "colour": rng.choice(["red", "blue"], 60)})
    y = (X["size"] > 0).astype(int)
    columns = ColumnTransformer(
        [("num", StandardScaler(), ["size"]), ("cat", OneHotEncoder(), ["colour"])]
    )
    model = make_pipeline(columns, LogisticRegression()).fit(X, y)
    score = _prepared(model, X, tmp_path, "pipe")
    features = score.deserialize(X.to_dict(orient="records"))
    assert not score.fed_as_array(score.load_model(), features)
    assert score.predict(X.to_dict(orient="records"))["prediction"] == model.predict(X).tolist()


@pytest.mark.parametrize("columns", [["a", "b"], ["b", "a"]])
def test_columns_sent_in_another_order_are_put_back(tmp_path, columns):
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": rng.normal(size=50), "b": rng.normal(size=50) * 10})
    y = (X["a"] + X["b"] / 10 > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    score = _prepared(model, X, tmp_path, "lr")
    body = X[columns].to_dict(orient="list")
    assert score.predict(body)["prediction"] == model.predict(X).tolist()


@pytest.mark.parametrize("edit", ["none", "missing_key", "null", "extra_key", "bool", "int"])
def test_records_read_as_pandas_reads_them(iris, tmp_path, edit):
    """The column-wise and float fast paths for records give what from_records + the
    schema's cast give, whatever the records hold."""
    X, y = iris
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    score = _prepared(model, X, tmp_path, f"rec_{edit}")
    records = X.head(6).to_dict(orient="records")
    first = X.columns[0]
    if edit == "missing_key":
        del records[2][first]
    elif edit == "null":
        records[3][first] = None
    elif edit == "extra_key":
        records[4]["note"] = "x"
    elif edit == "bool":
        records[1][first] = True
    elif edit == "int":
        records[0][first] = 5
    got = score.deserialize(records)
    reference = pd.DataFrame.from_records(records)
    want = pd.DataFrame({c: reference[c].astype("float64") for c in X.columns})
    pd.testing.assert_frame_equal(got.reset_index(drop=True)[list(X.columns)], want)


def test_a_feature_named_response_is_data_not_a_request_option(tmp_path):
    rng = np.random.default_rng(2)
    X = pd.DataFrame({"dose": rng.normal(size=40), "response": rng.normal(size=40)})
    y = (X["dose"] + X["response"] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    score = _prepared(model, X, tmp_path, "resp")
    row = X.iloc[0].to_dict()
    assert score.predict(row)["prediction"] == model.predict(X.head(1)).tolist()
    assert score.response_format(row) == "json"
    assert score.response_format({"data": [row], "response": "npy"}) == "npy"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ([[1.0, 2.0]], "got rows of 2 values"),
        ([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0]], "got rows of 2 and 4 values"),
        ([[[1.0], [2.0], [3.0], [4.0]]], "got rows nested deeper"),
        ([], "got no rows"),
        (5, "got int"),
    ],
)
def test_rows_of_the_wrong_shape_name_the_columns(iris, tmp_path, body, says):
    """The error reaches the client: it says what a row is, not pandas' shape mismatch."""
    X, y = iris
    score = _prepared(
        RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y), X, tmp_path, "rf"
    )
    with pytest.raises(ValueError, match="expected rows of 4 values") as err:
        score.predict(body)
    assert says in str(err.value) and "sepal length (cm)" in str(err.value)


def test_a_word_in_a_number_column_is_an_error_not_a_missing_value(iris, tmp_path):
    X, y = iris
    score = _prepared(
        RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y), X, tmp_path, "rf"
    )
    row = X.iloc[0].tolist()
    with pytest.raises(
        ValueError, match=r"input column 'sepal length \(cm\)' takes numbers \(float64\)"
    ):
        score.predict([["five", *row[1:]]])
    with pytest.raises(ValueError, match="takes numbers"):
        score.predict({**X.head(1).to_dict(orient="list"), "petal width (cm)": ["wide"]})
    # A missing value is still NaN (the forest handles it), and a single flat row is a row.
    assert len(score.predict([[None, *row[1:]]])["prediction"]) == 1
    assert score.predict(row)["prediction"] == score.predict([row])["prediction"]


def test_numbers_of_other_dtypes_become_the_float64_the_per_column_cast_gives(iris, tmp_path):
    """float32 (as Parquet often holds), int and bool columns under a float64 schema take
    to_model_input's one-block path; the frame must equal the per-column astype's."""
    X, y = iris
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    score = _prepared(model, X, tmp_path, "cast")
    assert score.ALL_FLOAT64
    sent = X.astype("float32")
    sent[sent.columns[0]] = (X.iloc[:, 0] * 10).round().astype("int64")
    sent[sent.columns[1]] = X.iloc[:, 1] > 3
    sent = sent.set_axis(range(100, 100 + len(sent)))  # the index is kept as it came
    got = score.to_model_input(sent)
    want = pd.DataFrame({name: sent[name].astype("float64") for name in score.INPUT_NAMES})
    pd.testing.assert_frame_equal(got, want)
    assert got.dtypes.eq("float64").all()
    # a column of text still goes the per-column way (and its error names the column)
    sent[sent.columns[2]] = "x"
    with pytest.raises(ValueError, match=re.escape(sent.columns[2])):
        score.to_model_input(sent)
