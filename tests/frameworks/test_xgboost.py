"""XGBoost: every input form prepared, introspected, verified in a subprocess and zipped;
score.py predicts what XGBoost itself predicts on the same rows."""

from __future__ import annotations

import base64
import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mdreg.errors import EXIT_INPUT
from mdreg.frameworks.probe import Probe
from mdreg.frameworks.xgboost import XGBoostFramework, legacy_binary
from tests.frameworks.suite import (
    FrameworkSuite,
    assert_checks_pass,
    assert_same,
    detect_in_fresh_interpreter,
    hyperparameters,
    taxonomy,
    verified,
)

xgb = pytest.importorskip("xgboost")

SUITE = FrameworkSuite(
    "xgboost", version=xgb.__version__, score_modules={"numpy", "pandas", "xgboost"}
)
FEATURES = ["sepal_len", "sepal_wid", "petal_len", "petal_wid"]

# A Booster (binary:logistic, 4 features, 3 rounds) written by xgboost 2.1.4 with
# save_model("m.deprecated"): the legacy binary format, which xgboost >= 3.1 can neither
# write nor read. Kept inline because this environment cannot produce one.
LEGACY_BINARY = base64.b64decode("""
YmluZvTD9T4EAAAAAAAAAAEAAAAAAAAAAgAAAAEAAAABAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAPAAAAAAAAAGJp
bmFyeTpsb2dpc3RpYwYAAAAAAAAAZ2J0cmVlAwAAAAEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEAAAADAAAAAAAAAAAAAAAEAAAAAQAAAAAAAAAAAAAAAAAAAAAA
AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAD/////AQAAAAIAAAAAAAAA0f8FPwAAAID//////////wAAAABb8/++
AAAAAP//////////AAAAAMUbCT/yTSxCK65HQRdbJbgAAAAAAAAAAOWqz0Bb8/++AAAAAAAAAABxsb9AxRsJPwAAAAABAAAAAwAA
AAAAAAAAAAAABAAAAAEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/////wEAAAAC
AAAAAAAAANH/BT8AAACA//////////8AAAAAXUvNvgAAAAD//////////wAAAAAph9U+TlzLQQrpOkHMj866AAAAAAAAAADKcr9A
XUvNvgAAAAAAAAAASl+2QCmH1T4AAAAAAQAAAAMAAAAAAAAAAAAAAAQAAAABAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
AAAAAAAAAAAAAAAAAAAAAAAAAAAAAP////8BAAAAAgAAAAAAAADR/wU/AAAAgP//////////AAAAADDlsL4AAAAA//////////8A
AAAAY2q1PscohEHJUyJB4EXQugAAAAAAAAAAlAWlQDDlsL4AAAAAAAAAAP6hn0BjarU+AAAAAAAAAAAAAAAAAAAAAAEAAAAAAAAA
CQAAAAAAAABvYmplY3RpdmVEAAAAAAAAAHsibmFtZSI6ImJpbmFyeTpsb2dpc3RpYyIsInJlZ19sb3NzX3BhcmFtIjp7InNjYWxl
X3Bvc193ZWlnaHQiOiIxIn19
""")
#: Its predictions (xgboost 2.1.4) on the first 5 rows of default_rng(0).random((50, 4)).
LEGACY_PREDICTIONS = [0.7732849717140198] * 5


def _installed_before(major: int, minor: int) -> bool:
    return tuple(int(p) for p in xgb.__version__.split(".")[:2]) < (major, minor)


# -- fixtures: tiny real models, each input form saved for real ------------------------------


@pytest.fixture(scope="session")
def data():
    rng = np.random.default_rng(7)
    X = pd.DataFrame(rng.normal(size=(120, 4)), columns=FEATURES)
    y_bin = (X.sepal_len + X.petal_wid > 0).astype(int)
    y_multi = (X.sum(axis=1) > 0).astype(int) + (X.petal_len > 0.7).astype(int)
    y_reg = 2 * X.sepal_len - X.petal_len + 0.1 * X.sepal_wid
    return X, y_bin, y_multi, y_reg


@pytest.fixture(scope="session")
def xgb_dir(tmp_path_factory, data) -> Path:
    """Every input form of the issue's table, written once: {form: path}."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y_bin, y_multi, y_reg = data
    out = tmp_path_factory.mktemp("xgb")
    params = {"max_depth": 2, "nthread": 1}
    booster = xgb.train({**params, "objective": "binary:logistic"}, xgb.DMatrix(X, label=y_bin), 4)
    booster.save_model(out / "booster.json")
    booster.save_model(out / "booster.ubj")
    clf = xgb.XGBClassifier(n_estimators=4, max_depth=2, n_jobs=1).fit(X, y_multi)
    with (out / "clf.pkl").open("wb") as f:
        pickle.dump(clf, f)
    import joblib

    joblib.dump(clf, out / "clf.joblib", compress=3)  # joblib+zlib container
    clf.save_model(out / "clf_native.json")  # native file that remembers it is a classifier
    reg = xgb.XGBRegressor(n_estimators=4, max_depth=2, n_jobs=1).fit(X, y_reg)
    joblib.dump(reg, out / "reg.joblib")
    arr = xgb.train(
        {**params, "objective": "reg:squarederror"}, xgb.DMatrix(X.to_numpy(), label=y_reg), 4
    )  # no feature names
    arr.save_model(out / "array.json")
    pipe = make_pipeline(StandardScaler(), xgb.XGBClassifier(n_estimators=3, max_depth=2, n_jobs=1))
    joblib.dump(pipe.fit(X, y_bin), out / "pipeline.joblib")
    (out / "legacy.bin").write_bytes(LEGACY_BINARY)
    X.head(8).to_csv(out / "x_sample.csv", index=False)
    return out


ROWS = slice(30, 37)


def _expected(form: str, path: Path, X: pd.DataFrame):
    """What XGBoost itself predicts for the rows, loading the input the user's way."""
    import joblib

    rows = X.iloc[ROWS]
    if form in ("booster.json", "booster.ubj"):
        return xgb.Booster(model_file=str(path)).predict(xgb.DMatrix(rows))
    if form == "array.json":
        return xgb.Booster(model_file=str(path)).predict(xgb.DMatrix(rows.to_numpy()))
    if form == "clf_native.json":
        clf = xgb.XGBClassifier()
        clf.load_model(path)
        return clf.predict(rows)
    return joblib.load(path).predict(rows)


#: form -> (artifact model file, Algorithm, UseCaseType, prediction kind)
BINARY_BOOSTER = (
    "model.json",
    "Booster(gbtree, binary:logistic)",
    "binary_classification",
    "float",
)
FORMS = {
    "booster.json": BINARY_BOOSTER,
    "booster.ubj": BINARY_BOOSTER,
    "clf.pkl": ("model.json", "XGBClassifier", "multinomial_classification", "label"),
    "clf.joblib": ("model.json", "XGBClassifier", "multinomial_classification", "label"),
    "clf_native.json": ("model.json", "XGBClassifier", "multinomial_classification", "label"),
    "reg.joblib": ("model.json", "XGBRegressor", "regression", "float"),
    "array.json": ("model.json", "Booster(gbtree, reg:squarederror)", "regression", "float"),
    "pipeline.joblib": ("model.pkl", "Pipeline(XGBClassifier)", "binary_classification", "label"),
}


# -- every input form, end to end ---------------------------------------------------------------


@pytest.mark.parametrize("form", sorted(FORMS))
def test_input_form_end_to_end(form, xgb_dir, data, cli, tmp_path):
    model_file, algorithm, use_case, kind = FORMS[form]
    rows = data[0].iloc[ROWS]
    sample = [] if form == "array.json" else ["--x-sample", xgb_dir / "x_sample.csv"]
    # a model fitted on an array takes rows; the others take records with their names
    payload = rows.to_numpy().tolist() if form == "array.json" else rows.to_dict(orient="records")
    done = SUITE.end_to_end(
        cli,
        xgb_dir / form,
        tmp_path,
        *sample,
        payload=payload,
        expected=_expected(form, xgb_dir / form, data[0]),
        model_file=model_file,
        labels=kind == "label",
        rtol=1e-6,
        atol=1e-6,
        taxonomy={"Algorithm": algorithm, "UseCaseType": use_case},
    )
    assert not ({"model.json", "model.pkl"} - {model_file}) & {p.name for p in done.art.iterdir()}


def test_default_sample_payload_and_output_schema(xgb_dir, data, cli, tmp_path):
    """verify with the rows kept at prepare time; the output schema comes from predict()."""
    art = tmp_path / "art"
    assert (
        cli(
            "prepare", xgb_dir / "clf.joblib", "-o", art, "--x-sample", xgb_dir / "x_sample.csv"
        ).code
        == 0
    )
    run = cli("verify", art, "--json")
    assert run.code == 0, run.err
    import joblib

    expected = joblib.load(xgb_dir / "clf.joblib").predict(data[0].head(5))
    assert json.loads(run.out)["prediction"] == {"prediction": expected.tolist()}
    out_schema = json.loads((art / "output_schema.json").read_text())["schema"]
    assert len(out_schema) == 1 and out_schema[0]["dtype"].startswith("int")
    params = hyperparameters(art)
    assert params["n_estimators"] == 4 and params["max_depth"] == 2


@pytest.mark.parametrize("form", ["booster.json", "clf.joblib"])
def test_sample_columns_in_another_order(form, xgb_dir, data, cli, tmp_path):
    """XGBoost checks the column order: score.py puts a DataFrame's columns in the trained order."""
    X = data[0]
    shuffled = X[FEATURES[::-1]].head(6)
    shuffled.to_csv(tmp_path / "x.csv", index=False)
    art = tmp_path / "art"
    SUITE.prepare(cli, xgb_dir / form, art, "--x-sample", tmp_path / "x.csv")
    result = verified(art)  # the sample kept at prepare time, in its own column order
    import joblib

    rows = X.head(5)  # the trained order
    if form.endswith(".json"):
        booster = xgb.Booster(model_file=str(xgb_dir / form))
        expected, labels = booster.predict(xgb.DMatrix(rows)), False
    else:
        expected, labels = joblib.load(xgb_dir / form).predict(rows), True
    assert_same(result.prediction["prediction"], expected, labels=labels, rtol=1e-6, atol=1e-6)


def test_schema_from_booster_feature_names_without_sample(xgb_dir, cli, tmp_path):
    art = tmp_path / "art"
    run = cli("prepare", xgb_dir / "booster.ubj", "-o", art)
    assert run.code == 0, run.err
    schema = json.loads((art / "input_schema.json").read_text())["schema"]
    assert [c["name"] for c in schema] == FEATURES
    hyper = taxonomy(art)["Hyperparameters"]  # only what the model file records
    assert hyper["objective"] == "binary:logistic" and hyper["num_boosted_rounds"] == 4
    assert hyper["base_score"] == pytest.approx(float(hyper["base_score"]))
    assert "max_depth" not in hyper  # not recorded in a model file: not invented


def test_array_booster_schema_is_a_feature_count(xgb_dir, cli, tmp_path):
    art = tmp_path / "art"
    assert cli("prepare", xgb_dir / "array.json", "-o", art).code == 0
    schema = json.loads((art / "input_schema.json").read_text())["schema"]
    assert [c["name"] for c in schema] == [0, 1, 2, 3]


def test_score_py_rebuilds_the_estimator_class(xgb_dir, cli, tmp_path):
    art = tmp_path / "art"
    assert cli("prepare", xgb_dir / "clf.pkl", "-o", art).code == 0
    text = (art / "score.py").read_text()
    assert 'ESTIMATOR_CLASS = "XGBClassifier"' in text
    saved = xgb.Booster(model_file=str(art / "model.json"))
    assert json.loads(saved.attr("scikit_learn"))["_estimator_type"] == "classifier"


# -- the legacy binary format --------------------------------------------------------------------


def test_legacy_binary_is_recognised(xgb_dir):
    assert legacy_binary(LEGACY_BINARY) == ("binary:logistic", "gbtree")
    claim = XGBoostFramework().sniff(Probe.of(xgb_dir / "legacy.bin"))
    assert claim is not None and claim.confidence == 0.95
    assert "legacy binary" in claim.evidence and "binary:logistic" in claim.evidence
    assert legacy_binary(b"binf" + bytes(200)) is None  # the marker alone is not enough


@pytest.mark.skipif(_installed_before(3, 1), reason="xgboost < 3.1 still reads legacy binaries")
def test_legacy_binary_refused_with_the_way_out(xgb_dir, cli, tmp_path):
    run = cli("prepare", xgb_dir / "legacy.bin", "-o", tmp_path / "art")
    assert run.code == EXIT_INPUT
    assert "legacy binary XGBoost model" in run.err and "removed in 3.1" in run.err
    assert "save_model('model.json')" in run.err
    assert len(run.err.strip().splitlines()) <= 2  # one clear line, not XGBoost's stack trace
    assert not (tmp_path / "art").exists()


@pytest.mark.skipif(not _installed_before(3, 1), reason="xgboost >= 3.1 cannot read legacy binary")
def test_legacy_binary_converted_to_json(xgb_dir, cli, tmp_path):  # pragma: no cover - old xgboost
    art = tmp_path / "art"
    assert cli("prepare", xgb_dir / "legacy.bin", "-o", art).code == 0
    assert_checks_pass(art)
    rows = np.random.default_rng(0).random((50, 4))[:5]
    result = verified(art, rows.tolist())
    assert np.allclose(result.prediction["prediction"], LEGACY_PREDICTIONS)


# -- detection: bytes only ---------------------------------------------------------------------


def test_sniffing_imports_no_framework(xgb_dir):
    forms = [*sorted(FORMS), "legacy.bin"]
    found = detect_in_fresh_interpreter({name: xgb_dir / name for name in forms})
    assert {name: f[0] for name, f in found.items()} == dict.fromkeys(forms, "xgboost")
    assert "saved by XGBoost" in found["booster.json"][2]
    assert "UBJSON" in found["booster.ubj"][2]
    assert "xgboost.sklearn.XGBClassifier" in found["clf.pkl"][2]
    assert found["pipeline.joblib"][1] > 0.9  # beats sklearn: our allow-list covers both


@pytest.mark.parametrize(
    "head",
    [
        b'{"learners": {}}',
        b'{"model": {"learner": {}}}',
        b"[1, 2, 3]",
        b"{L\x00\x00\x00\x00\x00\x00\x00\x05model{}}",
        b"binf" + bytes(300),
        b"tree\nversion=v4\n",
    ],
)
def test_other_files_are_not_claimed(head, tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(head)
    assert XGBoostFramework().sniff(Probe.of(path)) is None


def test_version_from_either_distribution(monkeypatch):
    import importlib.metadata

    real = importlib.metadata.version

    def only(dist: str):
        def version(name: str) -> str:
            if name != dist:
                raise importlib.metadata.PackageNotFoundError(name)
            return real(next(d for d in ("xgboost", "xgboost-cpu") if _has(d)))

        return version

    for dist in ("xgboost", "xgboost-cpu", "xgboost-cu12"):
        monkeypatch.setattr(importlib.metadata, "version", only(dist))
        assert XGBoostFramework().version() == xgb.__version__
        assert XGBoostFramework().installed()
    monkeypatch.setattr(importlib.metadata, "version", only("nothing"))
    assert XGBoostFramework().version() is None and not XGBoostFramework().installed()


def _has(dist: str) -> bool:
    import importlib.metadata

    try:
        importlib.metadata.distribution(dist)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def test_pickle_without_xgboost_inside_is_refused(tmp_path, cli):
    """--framework xgboost on a plain scikit-learn pickle: a clear error, not a crash."""
    SUITE.assert_refuses_a_sklearn_pickle(cli, tmp_path, "not an XGBoost Booster or estimator")
