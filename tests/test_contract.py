"""A model that cannot load, or a score.py that answers differently from the model, is
never saved silently: parity on the kept sample, --y-sample checked against the model,
--model-code shipped (and vouched for) for every pickled framework, option combinations
that mean nothing refused."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mdreg.artifact import layout
from mdreg.checks.verify import request_body, verify

EXIT_USAGE, EXIT_INPUT, EXIT_UNSAFE = 2, 3, 4


def test_prepare_records_the_models_answer_and_verify_compares(artifact: Path) -> None:
    expected = json.loads((artifact / layout.SAMPLE_PREDICTION).read_text())
    assert expected["dtype"] == "int64" and len(expected["prediction"]) == 5
    assert layout.SAMPLE_PREDICTION in json.loads((artifact / layout.MANIFEST).read_text())["files"]
    result = verify(artifact)
    assert result.ok and result.parity == "matches"
    assert verify(artifact, response="npy").parity == "matches"  # arrays as base64 .npy
    # another payload: nothing recorded to compare with
    assert verify(artifact, "[[5.1, 3.5, 1.4, 0.2]]").parity is None


def test_verify_catches_a_score_py_edited_into_other_answers(artifact: Path) -> None:
    score = artifact / "score.py"
    text = score.read_text()
    score.write_text(
        text.replace("prediction = post_inference(", "prediction = 2 + post_inference(")
    )
    result = verify(artifact)
    assert not result.ok and result.stage == "parity" and result.parity == "differs"
    assert "row 0: score.py gave 2, the model gave 0" in result.error


def test_verify_sends_a_sample_file_as_a_dict_of_columns(artifact: Path, iris_x_csv: Path) -> None:
    # ADS-generated score.py files build a DataFrame with pd.DataFrame.from_dict / read_json:
    # a dict of columns works there; a list of records does not.
    body = json.loads(request_body(artifact, iris_x_csv))
    assert isinstance(body, dict) and list(body)[:2] == ["sepal length (cm)", "sepal width (cm)"]
    assert len(body["sepal length (cm)"]) == 20
    assert verify(artifact, iris_x_csv).ok


def test_y_sample_must_look_like_the_models_answer(
    cli, iris_rf: Path, iris_x_csv: Path, tmp_path: Path
) -> None:
    short = tmp_path / "y_short.csv"
    short.write_text("label\n" + "0\n" * 7)
    run = cli(
        "prepare", iris_rf, "-o", tmp_path / "a", "--x-sample", iris_x_csv, "--y-sample", short
    )
    assert run.code == EXIT_INPUT and "--y-sample has 7 rows" in run.err
    wide = tmp_path / "y_wide.csv"
    wide.write_text("a,b\n" + "0,1\n" * 20)
    run = cli(
        "prepare", iris_rf, "-o", tmp_path / "b", "--x-sample", iris_x_csv, "--y-sample", wide
    )
    assert run.code == EXIT_INPUT and "--y-sample has 2 column(s)" in run.err
    good = tmp_path / "y.csv"
    good.write_text("label\n" + "0\n" * 20)
    run = cli(
        "prepare", iris_rf, "-o", tmp_path / "c", "--x-sample", iris_x_csv, "--y-sample", good
    )
    assert run.code == 0, run.err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_options_that_mean_nothing_are_usage_errors(cli, iris_rf: Path, tmp_path: Path) -> None:
    run = cli("prepare", iris_rf, "-o", tmp_path / "a", "--model-class", "net:Net")
    assert run.code == EXIT_USAGE and "does not take one" in run.err
    code = tmp_path / "helpers.py"
    code.write_text("X = 1\n")
    run = cli(
        "prepare", iris_rf, "-o", tmp_path / "b", "--framework", "other", "--model-code", code
    )
    assert run.code == EXIT_USAGE and "--model-code" in run.err


TRANSFORMER = textwrap.dedent('''
    import numpy as np
    from sklearn.base import BaseEstimator, TransformerMixin


    class LogAmount(BaseEstimator, TransformerMixin):
        """The OCI docs' example shape: a custom transformer in its own module."""

        def fit(self, X, y=None):
            return self

        def transform(self, X):
            return np.log1p(np.abs(np.asarray(X, dtype=float)))
''')


@pytest.fixture
def custom_pipeline(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A Pipeline using a transformer from the user's own module, pickled in a child
    process that imports that module (as a training script would)."""
    code = tmp_path / "src" / "amount_features.py"
    code.parent.mkdir()
    code.write_text(TRANSFORMER)
    model, sample = tmp_path / "pipe.joblib", tmp_path / "x.csv"
    train = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {str(code.parent)!r})
        import joblib, pandas as pd
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline
        from amount_features import LogAmount
        X = pd.DataFrame({{"amount": [1.0, 20.0, 300.0, 4000.0] * 5, "n": [1, 2, 3, 4] * 5}})
        y = [0, 0, 1, 1] * 5
        joblib.dump(Pipeline([("log", LogAmount()), ("lr", LogisticRegression())]).fit(X, y),
                    {str(model)!r})
        X.to_csv({str(sample)!r}, index=False)
    """)
    subprocess.run([sys.executable, "-c", train], check=True, timeout=120)
    return model, sample, code


def test_model_code_ships_a_custom_transformer(cli, custom_pipeline, tmp_path: Path) -> None:
    model, sample, code = custom_pipeline
    art = tmp_path / "art"
    # without the code: the module is unknown to the allow-list
    run = cli("prepare", model, "-o", art, "--x-sample", sample)
    assert run.code == EXIT_UNSAFE and "amount_features.LogAmount" in run.err
    run = cli("prepare", model, "-o", art, "--x-sample", sample, "--model-code", code)
    assert run.code == 0, run.err
    assert (art / "amount_features.py").read_text() == TRANSFORMER
    meta = json.loads((art / layout.METADATA).read_text())
    assert meta["mdreg"]["model_code"] == {
        "module": "amount_features",
        "file": "amount_features.py",
        "admitted": ["LogAmount"],
    }
    assert '("amount_features", "LogAmount"),' in (art / "score.py").read_text()
    result = verify(art)  # a fresh interpreter: the module comes from the artifact
    assert result.ok and result.parity == "matches", result.error


def test_model_code_admits_only_what_the_file_defines(cli, tmp_path: Path) -> None:
    # The module imports os.system; a pickle naming amount_features.system still reaches
    # os.system and stays dangerous, shipped code or not.
    code = tmp_path / "amount_features.py"
    code.write_text("from os import system\n\nclass LogAmount:\n    pass\n")
    model = tmp_path / "evil.pkl"
    canary = tmp_path / "canary"
    model.write_bytes(f"camount_features\nsystem\n(S'touch {canary}'\ntR.".encode())
    run = cli("prepare", model, "-o", tmp_path / "art", "--model-code", code)
    assert run.code == EXIT_UNSAFE and "amount_features.system" in run.err
    assert not canary.exists() and not (tmp_path / "art").exists()


def test_save_refuses_a_template_artifact(cli, tmp_path: Path, monkeypatch) -> None:
    # --framework other writes a score.py whose load_model() says what to fill in: saving
    # it unfilled would register a model no deployment can load.
    monkeypatch.setenv("MDREG_HOME", str(tmp_path / "home"))
    model = tmp_path / "model.bin"
    model.write_bytes(b"\x00weights" * 8)
    art = tmp_path / "art"
    assert cli("prepare", model, "-o", art, "--framework", "other").code == 0
    run = cli("save", art)
    assert (
        run.code == 1
        and "verify failed at import: NotImplementedError: score.py is a template" in run.err
    )
    assert not (tmp_path / "home" / "blobs" / "sha256").exists()
    run = cli("save", art, "--no-verify")
    assert run.code == 0 and run.out.startswith("mdl-"), run.err


def test_save_refuses_a_model_whose_module_does_not_ship(
    cli, custom_pipeline, tmp_path: Path, monkeypatch
) -> None:
    # Trusted and loadable here (the module is on PYTHONPATH), but not in the artifact:
    # the deployment could not load it, so save refuses it.
    model, sample, code = custom_pipeline
    monkeypatch.setenv("MDREG_HOME", str(tmp_path / "home"))
    monkeypatch.syspath_prepend(str(code.parent))
    art = tmp_path / "art"
    run = cli("prepare", model, "-o", art, "--x-sample", sample, "--trust")
    assert run.code == 0, run.err
    run = cli("save", art)
    assert run.code == 1 and "ModuleNotFoundError" in run.err and "amount_features" in run.err


def test_score_py_reads_iso_dates_of_mixed_precision(artifact: Path) -> None:
    # A CSV or Parquet sample's date-time column mixes "10:00:00" and "11:30:15.5": pandas
    # would parse the whole column with the first value's format and fail.
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import pandas as pd, score\n"
        "s = pd.Series(['2024-01-02T10:00:00', '2024-03-04T11:30:15.500000', '2024-05-06'])\n"
        "print(score._cast(s, 'datetime64[ns]').dt.strftime('%Y-%m-%d %H:%M:%S.%f').tolist())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(artifact)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert out.strip() == (
        "['2024-01-02 10:00:00.000000', '2024-03-04 11:30:15.500000', '2024-05-06 00:00:00.000000']"
    )
