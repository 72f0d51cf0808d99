"""The output schema and the expected answer come from score.py itself, run in prepare's
process on --x-sample (``mdreg.artifact.scoring``): the generated one, or the user's."""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mdreg.artifact.schema_facts import as_output
from mdreg.checks.verify import verify
from mdreg.errors import EXIT_INPUT, InputError
from mdreg.frameworks.base import ModelFacts

USERS_SCORE = """\
import os

import joblib
import pandas as pd


def load_model():
    return joblib.load(os.path.join(os.path.dirname(__file__), "model.joblib"))


def predict(data, model=load_model()):
    print("the user's score.py prints")  # not prepare's output
    return {"prediction": [f"class {label}" for label in model.predict(pd.DataFrame(data))]}
"""


def _schema(art: Path, name: str = "output_schema.json") -> list[tuple]:
    return [(c["name"], c["dtype"]) for c in json.loads((art / name).read_text())["schema"]]


def test_prepare_leaves_the_process_as_it_found_it(iris_rf, iris_x_csv, tmp_path):
    from mdreg.flows.prepare import prepare

    path, environ = list(sys.path), dict(os.environ)
    filters = list(warnings.filters)
    art = prepare(iris_rf, tmp_path / "art", x_sample=iris_x_csv).artifact_dir
    assert sys.path == path and dict(os.environ) == environ and warnings.filters == filters
    assert not [m for m in sys.modules if m.startswith("_mdreg_score_")]
    assert not list(art.rglob("__pycache__"))  # nothing compiled into the artifact
    assert (art / ".mdreg/sample_prediction.json").is_file()


def test_the_users_score_py_gives_the_output_schema(cli, iris_rf, iris_x_csv, tmp_path):
    """What a hand-written score.py answers is what the deployment answers: the output
    schema and the expected answer are its, not the bare model's."""
    score = tmp_path / "mine.py"
    score.write_text(USERS_SCORE)
    art = tmp_path / "art"
    run = cli("prepare", iris_rf, "-o", art, "--score-py", score, "--x-sample", iris_x_csv)
    assert run.code == 0, run.err
    assert "prints" not in run.out + run.err
    assert _schema(art) == [(0, "object")]
    expected = json.loads((art / ".mdreg/sample_prediction.json").read_text())
    assert expected["prediction"] == ["class 0"] * 5
    result = verify(art)
    assert result.ok and result.parity == "matches", (result.error, result.parity)


def test_the_users_score_py_that_cannot_run_here_is_a_warning(cli, iris_rf, iris_x_csv, tmp_path):
    score = tmp_path / "mine.py"
    score.write_text("import not_a_module_here\n\n\ndef predict(data, model=None):\n    pass\n")
    art = tmp_path / "art"
    run = cli("prepare", iris_rf, "-o", art, "--score-py", score, "--x-sample", iris_x_csv)
    assert run.code == 0, run.err
    assert "score.py (--score-py) could not load the model here: ModuleNotFoundError" in run.err
    assert "output_schema.json is a placeholder" in run.err
    assert not (art / ".mdreg/sample_prediction.json").exists()


def test_a_sample_score_py_cannot_answer_is_bad_input(cli, iris_rf, iris, tmp_path):
    X, _ = iris
    bad = X.head(6).astype(object)
    bad.iloc[2, 1] = "wide"
    bad.to_csv(tmp_path / "x.csv", index=False)
    run = cli("prepare", iris_rf, "-o", tmp_path / "art", "--x-sample", tmp_path / "x.csv")
    assert run.code == EXIT_INPUT
    assert run.err.startswith("error: score.py could not answer --x-sample: ValueError")
    assert not (tmp_path / "art").exists() and not list(tmp_path.glob(".art.*"))


# -- score.py's answer as the output schema describes it ---------------------------------


def test_arrays_and_tables_are_taken_as_they_are():
    array = np.arange(6.0).reshape(3, 2)
    assert as_output(array, ModelFacts()) is array
    frame = pd.DataFrame({"a": [1, 2]})
    assert as_output(frame, ModelFacts()) is frame
    assert as_output([array], ModelFacts()) is array  # one output in a list is that output
    assert as_output({"only": array}, ModelFacts()) is array
    text = as_output(np.array(["a", "bb"]), ModelFacts())
    assert text.dtype == object  # strings, as JSON gives them


def test_a_list_of_values_is_one_column_named_after_the_one_output():
    spark = as_output([0.0, 1.0, 1.0], ModelFacts(output_names=["prediction"]))
    assert isinstance(spark, pd.Series) and spark.name == "prediction"
    assert spark.tolist() == [0.0, 1.0, 1.0]
    rows = as_output([[1, 2], [3, 4]], ModelFacts())
    assert rows.shape == (2, 2) and rows.dtype.kind == "i"


def test_several_outputs_are_a_column_per_value():
    probs, score = np.ones((4, 3), dtype="float32"), np.zeros((4, 1), dtype="float32")
    named = as_output([probs, score], ModelFacts(output_names=["probs", "score"]))
    assert list(named.columns) == ["probs[0]", "probs[1]", "probs[2]", "score"]
    assert set(named.dtypes) == {np.dtype("float32")}
    assert list(as_output([probs, score], ModelFacts()).columns) == ["0[0]", "0[1]", "0[2]", 1]
    keyed = as_output({"b": score[:, 0], "a": probs}, ModelFacts(output_names=["x", "y"]))
    assert list(keyed.columns) == ["b", "a[0]", "a[1]", "a[2]"]  # a dict names its own
    with pytest.raises(InputError, match=r"not one row per sample row.*one value for 'n'"):
        as_output({"n": np.float64(3.0), "rows": probs}, ModelFacts())
    with pytest.raises(InputError, match="not one row per sample row"):
        as_output({"a": probs, "b": score[:2]}, ModelFacts())
    ragged = as_output([[1, 2], [3]], ModelFacts())  # JSON rows of a hand-written score.py
    assert ragged.dtype == object and ragged.shape == (2,)
