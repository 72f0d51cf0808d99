"""LightGBM: every input form prepared, introspected, verified in a subprocess and zipped;
score.py predicts what LightGBM itself predicts on the same rows (class labels for a
scikit-learn classifier, as its predict() gives them)."""

from __future__ import annotations

import ast
import json
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mdreg.checks.introspect import introspect
from mdreg.checks.verify import verify
from mdreg.errors import EXIT_INPUT
from mdreg.frameworks.lightgbm import LightGBMFramework
from mdreg.frameworks.probe import Probe

lgb = pytest.importorskip("lightgbm")

FEATURES = ["sepal_len", "sepal_wid", "petal_len", "petal_wid"]
HEAVY = ("numpy", "pandas", "sklearn", "scipy", "joblib", "xgboost", "lightgbm", "torch",
         "tensorflow", "pyspark")
SMALL = {"n_estimators": 4, "num_leaves": 4, "min_child_samples": 5, "n_jobs": 1, "verbose": -1}


@pytest.fixture(scope="session")
def data():
    rng = np.random.default_rng(11)
    X = pd.DataFrame(rng.normal(size=(120, 4)), columns=FEATURES)
    y_bool = (X.sepal_len + X.petal_wid > 0).to_numpy()  # bool labels: JSON true/false
    y_str = np.array(["setosa", "versicolor", "virginica"])[
        (X.sum(axis=1) > 0).astype(int) + (X.petal_len > 0.7).astype(int)]
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
    params = {"objective": "binary", "num_leaves": 4, "min_data_in_leaf": 5, "num_threads": 1,
              "verbose": -1}
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
    arr = lgb.train({**params, "objective": "regression"}, lgb.Dataset(X.to_numpy(), label=y_reg),
                    num_boost_round=4)  # features Column_0..3: positions, not names
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
    "pipeline.joblib": ("model.pkl", "Pipeline(LGBMClassifier)", "multinomial_classification",
                        "label"),
}


def _expected(form: str, path: Path, X: pd.DataFrame):
    """What LightGBM itself predicts for the rows, loading the input the user's way."""
    import joblib

    rows = X.iloc[ROWS]
    if form.endswith(".txt"):
        booster = lgb.Booster(model_file=str(path))
        return booster.predict(rows.to_numpy() if form == "array.txt" else rows)
    return joblib.load(path).predict(rows)


def _assert_checks_pass(artifact: Path) -> None:
    status = {r.key: r.status.value for r in introspect(artifact).results}
    assert status.pop("runtime_path_exist") == "skipped"  # the only network check
    assert set(status.values()) == {"passed"}, status


def _taxonomy(artifact: Path) -> dict:
    meta = json.loads((artifact / ".mdreg/metadata.json").read_text())
    return {i["key"]: i["value"] for i in meta["taxonomy"]}


def _score_imports(artifact: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse((artifact / "score.py").read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("form", sorted(FORMS))
def test_input_form_end_to_end(form, lgb_dir, data, cli, tmp_path):
    X = data[0]
    model_file, algorithm, use_case, kind = FORMS[form]
    path = lgb_dir / form
    art = tmp_path / "art"
    sample = [] if form == "array.txt" else ["--x-sample", lgb_dir / "x_sample.csv"]
    run = cli("prepare", path, "-o", art, *sample)
    assert run.code == 0, run.err
    assert "framework: lightgbm" in run.err
    assert (art / model_file).is_file()
    assert not ({"model.txt", "model.pkl"} - {model_file}) & {p.name for p in art.iterdir()}
    tax = _taxonomy(art)
    assert tax["Framework"] == "lightgbm" and tax["FrameworkVersion"] == lgb.__version__
    assert tax["Algorithm"] == algorithm and tax["UseCaseType"] == use_case
    _assert_checks_pass(art)

    rows = X.iloc[ROWS]
    payload = rows.to_numpy().tolist() if form == "array.txt" else rows.to_dict(orient="records")
    result = verify(art, json.dumps(payload))  # score.py in a fresh interpreter
    assert result.ok, result.traceback or result.error
    got, expected = result.prediction["prediction"], np.asarray(_expected(form, path, X))
    assert np.asarray(got).shape == expected.shape
    if kind == "label":
        assert got == expected.tolist()  # the labels themselves: strings, bools
    else:
        assert np.allclose(got, expected, rtol=1e-9, atol=1e-12)

    assert _score_imports(art) <= set(sys.stdlib_module_names) | {"numpy", "pandas", "lightgbm"}
    zipped = tmp_path / "art.zip"
    z = cli("zip", art, "-o", zipped, "--json")
    assert z.code == 0, z.err
    assert {"score.py", "runtime.yaml", model_file} <= set(zipfile.ZipFile(zipped).namelist())
    assert introspect(zipped).ok


def test_text_model_is_kept_byte_for_byte(lgb_dir, cli, tmp_path):
    art = tmp_path / "art"
    assert cli("prepare", lgb_dir / "booster.txt", "-o", art).code == 0
    assert (art / "model.txt").read_bytes() == (lgb_dir / "booster.txt").read_bytes()


def test_classifier_labels_and_metadata(lgb_dir, cli, tmp_path):
    art = tmp_path / "art"
    assert cli("prepare", lgb_dir / "clf.joblib", "-o", art, "--x-sample",
               lgb_dir / "x_sample.csv").code == 0
    assert 'CLASSES = ["setosa", "versicolor", "virginica"]' in (art / "score.py").read_text()
    meta = json.loads((art / ".mdreg/metadata.json").read_text())
    assert meta["mdreg"]["classes"] == ["setosa", "versicolor", "virginica"]
    assert meta["mdreg"]["features"] == FEATURES
    out_schema = json.loads((art / "output_schema.json").read_text())["schema"]
    assert out_schema[0]["feature_type"] in ("String", "Category")
    params = json.loads((art / ".mdreg/hyperparameters.json").read_text()) \
        if meta["mdreg"]["hyperparameters_file"] else _taxonomy(art)["Hyperparameters"]
    assert params["n_estimators"] == 4 and params["num_leaves"] == 4


@pytest.mark.parametrize("form", ["booster.txt", "clf.joblib"])
def test_sample_columns_in_another_order(form, lgb_dir, data, cli, tmp_path):
    """LightGBM reads columns by position: score.py puts them in the trained order, so a
    sample (and so a schema) in another order still predicts right."""
    import joblib

    X = data[0]
    X[FEATURES[::-1]].head(6).to_csv(tmp_path / "x.csv", index=False)
    art = tmp_path / "art"
    run = cli("prepare", lgb_dir / form, "-o", art, "--x-sample", tmp_path / "x.csv")
    assert run.code == 0, run.err
    result = verify(art)  # the sample kept at prepare time, in its own column order
    assert result.ok, result.traceback
    rows = X.head(5)  # the trained order
    if form.endswith(".txt"):
        expected = lgb.Booster(model_file=str(lgb_dir / form)).predict(rows)
        assert np.allclose(result.prediction["prediction"], expected, rtol=1e-9, atol=1e-12)
    else:
        expected = joblib.load(lgb_dir / form).predict(rows)
        assert result.prediction["prediction"] == expected.tolist()


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
    run = cli("prepare", tmp_path / "clf.joblib", "-o", tmp_path / "art",
              "--x-sample", tmp_path / "x.csv")
    assert run.code == 0, run.err
    result = verify(tmp_path / "art")
    assert result.ok and result.prediction["prediction"] == clf.predict(spaced.head(5)).tolist()


def test_sniffing_imports_no_framework(lgb_dir):
    forms = sorted(FORMS)
    code = f"""
import json, sys
from pathlib import Path
from mdreg.frameworks.registry import default_registry
reg = default_registry()
found = {{}}
for name in {forms!r}:
    plugin, det, probe = reg.detect(Path({str(lgb_dir)!r}) / name)
    found[name] = [det.framework, det.confidence, det.evidence]
print(json.dumps({{"found": found, "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    doc = json.loads(out.stdout)
    assert doc["heavy"] == []
    assert {name: f[0] for name, f in doc["found"].items()} == dict.fromkeys(forms, "lightgbm")
    assert "version=v4" in doc["found"]["booster.txt"][2]
    assert "objective=binary" in doc["found"]["booster.txt"][2]
    assert "lightgbm.sklearn.LGBMClassifier" in doc["found"]["clf.joblib"][2]
    assert doc["found"]["pipeline.joblib"][1] > 0.9  # beats sklearn: our allow-list covers both


@pytest.mark.parametrize("head", [b"tree\n", b"trees\nversion=v4\n", b"version=v4\ntree\n",
                                  b'{"learner": {}}', b"tree\nversion=4\n"])
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
    import joblib
    from sklearn.linear_model import LinearRegression

    path = tmp_path / "lr.joblib"
    joblib.dump(LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]), path)
    run = cli("prepare", path, "-o", tmp_path / "art", "--framework", "lightgbm")
    assert run.code == EXIT_INPUT
    assert "not a LightGBM Booster or estimator" in run.err
