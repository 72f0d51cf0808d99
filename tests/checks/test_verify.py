"""verify: score.py runs in a fresh interpreter, as the deployment server would run it."""

from __future__ import annotations

import json
import sys

import pytest

from mdreg.checks.verify import verify


def test_good_artifact_default_sample(artifact, cli, iris_rf, iris):
    import joblib

    run = cli("verify", artifact, "--json")
    assert run.code == 0, run.err
    doc = json.loads(run.out)
    X, _ = iris
    expected = joblib.load(iris_rf).predict(X.head(5)).tolist()
    assert doc["prediction"] == {"prediction": expected}
    assert doc["load_s"] > 0 and doc["predict_s"] > 0
    text = cli("verify", artifact)
    assert "load_model:" in text.out and "predict:" in text.out


@pytest.mark.parametrize("shape", ["records", "columns", "rows", "ads_envelope", "ads_dataframe"])
def test_payload_shapes(artifact, iris, iris_rf, shape):
    import joblib

    X, _ = iris
    rows = X.iloc[10:13]
    payload = {
        "records": rows.to_dict(orient="records"),
        "columns": rows.to_dict(orient="list"),
        "rows": rows.to_numpy().tolist(),
        "ads_envelope": {"data": rows.to_numpy().tolist(), "data_type": "<class 'list'>"},
        "ads_dataframe": {
            "data": rows.to_json(),
            "data_type": "<class 'pandas.core.frame.DataFrame'>",
        },
    }[shape]
    result = verify(artifact, json.dumps(payload))
    assert result.ok, result.traceback
    assert result.prediction == {"prediction": joblib.load(iris_rf).predict(rows).tolist()}


def test_ads_base64_numpy_envelope(tmp_path, iris):
    import base64
    import io

    import joblib
    import numpy as np
    from sklearn.linear_model import LinearRegression

    from mdreg import prepare

    X, y = iris
    arr = X.to_numpy()
    joblib.dump(LinearRegression().fit(arr, y), tmp_path / "lr.joblib")
    art = prepare(tmp_path / "lr.joblib", tmp_path / "art").artifact_dir
    buf = io.BytesIO()
    np.save(buf, arr[:4])
    body = {
        "data": base64.b64encode(buf.getvalue()).decode(),
        "data_type": "<class 'numpy.ndarray'>",
    }
    result = verify(art, json.dumps(body))
    assert result.ok, result.traceback
    assert np.allclose(
        result.prediction["prediction"], joblib.load(tmp_path / "lr.joblib").predict(arr[:4])
    )


def _score(artifact, body: str) -> None:
    (artifact / "score.py").write_text(body)


def test_score_that_raises(artifact, cli):
    _score(
        artifact,
        "def load_model():\n    return 1\n\ndef predict(data, model=load_model()):\n    raise ValueError('boom in predict')\n",
    )
    run = cli("verify", artifact)
    assert run.code == 1
    assert (
        "ValueError: boom in predict" in run.err and "Traceback" in run.err
    )  # the user's traceback
    assert "failed at predict" in run.err


def test_load_model_returning_none(artifact):
    _score(
        artifact,
        "def load_model():\n    return None\n\ndef predict(data, model=None):\n    return {}\n",
    )
    result = verify(artifact)
    assert not result.ok and result.stage == "load_model" and "returned None" in result.error


def test_prediction_not_json(artifact):
    _score(
        artifact,
        "def load_model():\n    return 1\n\ndef predict(data, model=load_model()):\n    return {'prediction': object()}\n",
    )
    result = verify(artifact)
    assert not result.ok and result.stage == "serialize" and "JSON" in result.error


# verify's --timeout, which kills score.py's whole process group, is tested once:
# tests/security/test_artifacts.py::test_score_py_whose_child_sleeps_forever.


def test_other_interpreter(artifact):
    result = verify(artifact, python=sys.executable)
    assert result.ok


def _one_error(run, code: int) -> str:
    lines = run.err.strip().splitlines()
    assert run.code == code and len(lines) == 1 and lines[0].startswith("error: "), run.err
    assert "internal error" not in run.err
    return lines[0]


def test_python_that_cannot_run_is_bad_input(artifact, cli, tmp_path):
    (tmp_path / "not-exec").write_text("#!/bin/sh\n")
    for python, says in (
        (tmp_path / "nope", "no such file"),
        (tmp_path, "a folder"),
        (tmp_path / "not-exec", "not executable"),
        ("mdreg-no-such-python", "not found on PATH"),
    ):
        line = _one_error(cli("verify", artifact, "--python", python), 3)
        assert f"--python {python}: {says}" in line, line


def test_missing_artifact_is_named_as_introspect_names_it(cli, tmp_path):
    missing = tmp_path / "nope"
    verified = _one_error(cli("verify", missing), 3)
    introspected = _one_error(cli("introspect", missing), 3)
    assert verified == introspected == f"error: {missing}: no such artifact folder or zip"


def test_bad_payload_and_flags(artifact, cli, tmp_path):
    assert cli("verify", artifact, "--data-json", "{nope").code == 3
    (tmp_path / "p.json").write_text("[1,2")
    assert cli("verify", artifact, "--data", tmp_path / "p.json").code == 3
    run = cli("verify", artifact, "--data", tmp_path / "p.json", "--data-json", "[]")
    assert run.code == 2 and "not both" in run.err


def test_csv_payload_file(artifact, iris_x_csv, iris_rf, iris):
    import joblib

    from mdreg.checks.verify import payload_from_file

    result = verify(artifact, payload_from_file(iris_x_csv))
    X, _ = iris
    assert result.prediction == {"prediction": joblib.load(iris_rf).predict(X.head(20)).tolist()}


def test_a_zip_is_verified_as_its_folder_and_left_as_it_was(artifact, cli, tmp_path, monkeypatch):
    """The zip that would be uploaded runs as the folder did, sample included; the zip
    is not touched and its extracted copy is removed."""
    import hashlib
    import tempfile

    from mdreg import zip_artifact

    zipped = zip_artifact(artifact, tmp_path / "a.zip").path
    before = hashlib.sha256(zipped.read_bytes()).hexdigest()
    expected = verify(artifact).prediction
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))  # where the zip is extracted
    result = verify(zipped)
    assert result.ok, result.error
    assert result.prediction == expected
    assert hashlib.sha256(zipped.read_bytes()).hexdigest() == before
    assert list(private.iterdir()) == []
    monkeypatch.undo()
    run = cli("verify", zipped, "--json")
    assert run.code == 0 and json.loads(run.out)["prediction"] == expected
    (tmp_path / "not.zip").write_text("hello")
    run = cli("verify", tmp_path / "not.zip")
    assert run.code == 3 and "neither a folder nor a zip file" in run.err
