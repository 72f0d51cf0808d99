"""mdreg prepare on scikit-learn and generic pickles: the artifact, its files, and bad input."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import yaml

from mdreg.errors import EXIT_INPUT, EXIT_UNSAFE
from tests.conftest import mdreg_proc
from tests.frameworks.suite import metadata, taxonomy

GOLDEN = Path(__file__).parent / "golden"
ARTIFACT_FILES = {
    ".model-ignore",
    ".mdreg/metadata.json",
    ".mdreg/sample.json",
    ".mdreg/sample_prediction.json",
    "input_schema.json",
    "model.joblib",
    "model_artifact_manifest.json",
    "output_schema.json",
    "runtime.yaml",
    "score.py",
}


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if not path.exists():  # first run writes it; review it, then it pins the output
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), (
        f"{name} changed: review and update the golden file"
    )


def test_random_forest_artifact(cli, iris_rf, iris_x_csv, tmp_path, monkeypatch):
    for var in (
        "PROJECT_OCID",
        "NB_SESSION_COMPARTMENT_OCID",
        "NB_SESSION_OCID",
        "CONDA_PREFIX",
        "TENANCY_OCID",
        "USER_OCID",
        "NB_REGION",
        "OCI_RESOURCE_REGION",
    ):
        monkeypatch.delenv(var, raising=False)
    out = tmp_path / "art"
    run = cli("prepare", iris_rf, "-o", out, "--x-sample", iris_x_csv)
    assert run.code == 0, run.err
    assert run.out.strip() == str(out)
    assert "sklearn" in run.err and "sklearn.ensemble._forest.RandomForestClassifier" in run.err
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert files == ARTIFACT_FILES | {".mdreg/hyperparameters.json"}  # RF params exceed 255 chars
    runtime = (out / "runtime.yaml").read_text().replace(str(out.resolve()), "<ARTIFACT_DIR>")
    _golden("runtime.yaml", runtime)
    _golden("iris_input_schema.json", (out / "input_schema.json").read_text())
    _golden("iris_output_schema.json", (out / "output_schema.json").read_text())
    tax = taxonomy(out)
    assert tax["Framework"] == "scikit-learn"
    assert tax["Algorithm"] == "RandomForestClassifier"
    assert tax["UseCaseType"] == "multinomial_classification"
    assert tax["Hyperparameters"] is None  # too long for the catalog: kept in a file instead
    meta = metadata(out)
    assert meta["mdreg"]["hyperparameters_file"] == ".mdreg/hyperparameters.json"
    assert json.loads((out / ".mdreg/hyperparameters.json").read_text())["n_estimators"] == 10
    assert meta["mdreg"]["scan_verdict"] == "safe" and meta["mdreg"]["trusted"] is False
    manifest = json.loads((out / "model_artifact_manifest.json").read_text())
    assert set(manifest["files"]) == files - {
        "model_artifact_manifest.json",
        ".mdreg/metadata.json",
    }


def test_runtime_yaml_key_set(artifact):
    doc = yaml.safe_load((artifact / "runtime.yaml").read_text())
    from mdreg.artifact.runtime import missing_keys

    assert missing_keys(doc) == []
    env = doc["MODEL_DEPLOYMENT"]["INFERENCE_CONDA_ENV"]
    assert env["INFERENCE_ENV_SLUG"] == "generalml_p311_cpu_x86_64_v1"
    assert env["INFERENCE_ENV_TYPE"] == "data_science"
    assert env["INFERENCE_PYTHON_VERSION"] == "3.11"
    assert doc["MODEL_ARTIFACT_VERSION"] == "3.0"
    assert "MODEL_ARTIFACT_VERSION: '3.0'" in (artifact / "runtime.yaml").read_text()


def test_logistic_regression_without_sample(cli, iris, tmp_path):
    import joblib
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    model = LogisticRegression(max_iter=500).fit(X, y == 0)
    joblib.dump(model, tmp_path / "lr.pkl")
    run = cli("prepare", tmp_path / "lr.pkl", "-o", tmp_path / "art")
    assert run.code == 0, run.err
    assert "no --x-sample" in run.err
    schema = json.loads((tmp_path / "art/input_schema.json").read_text())
    assert [c["name"] for c in schema["schema"]] == list(X.columns)
    assert taxonomy(tmp_path / "art")["UseCaseType"] == "binary_classification"
    assert not (tmp_path / "art/.mdreg/sample.json").exists()


def test_array_model_without_sample_uses_feature_count(cli, iris, tmp_path):
    import joblib
    from sklearn.tree import DecisionTreeRegressor

    X, y = iris
    joblib.dump(DecisionTreeRegressor().fit(X.to_numpy(), y), tmp_path / "tree.joblib")
    run = cli("prepare", tmp_path / "tree.joblib", "-o", tmp_path / "art")
    assert run.code == 0, run.err
    schema = json.loads((tmp_path / "art/input_schema.json").read_text())
    assert [c["name"] for c in schema["schema"]] == [0, 1, 2, 3]
    assert taxonomy(tmp_path / "art")["UseCaseType"] == "regression"


@pytest.fixture(scope="session")
def mixed_pipeline(models_dir):
    """A Pipeline with a ColumnTransformer over numeric, category, bool, string, datetime
    and missing values (the datetime column is dropped by the transformer)."""
    import joblib
    import numpy as np
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(0)
    n = 120
    X = pd.DataFrame(
        {
            "age": rng.normal(40, 10, n).round(1),
            "income": np.where(rng.random(n) < 0.1, np.nan, rng.normal(5e4, 1e4, n)),
            "color": pd.Categorical(rng.choice(["red", "green", "blue"], n)),
            "member": rng.random(n) < 0.5,
            "city": rng.choice(["Oslo", "Lima", "Pune"], n).astype(object),
            "signup": pd.date_range("2024-01-01", periods=n, freq="D"),
        }
    )
    y = (X["age"] > 40).astype(int)
    pre = ColumnTransformer(
        [
            ("num", SimpleImputer(), ["age", "income"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["color", "city"]),
            ("flag", "passthrough", ["member"]),
        ],
        remainder="drop",
    )
    model = Pipeline([("pre", pre), ("clf", GradientBoostingClassifier(n_estimators=10))]).fit(X, y)
    path = models_dir / "mixed.joblib"
    joblib.dump(model, path)
    X.head(30).to_parquet(models_dir / "mixed_x.parquet")
    return path, models_dir / "mixed_x.parquet", model, X


def test_mixed_pipeline(cli, mixed_pipeline, tmp_path):
    path, sample, _model, _X = mixed_pipeline
    run = cli("prepare", path, "-o", tmp_path / "art", "--x-sample", sample, "--json")
    assert run.code == 0, run.err
    doc = json.loads(run.out)
    assert doc["framework"] == "sklearn" and doc["scan_verdict"] == "safe"
    schema = json.loads((tmp_path / "art/input_schema.json").read_text())
    types = {c["name"]: c["feature_type"] for c in schema["schema"]}
    assert types == {
        "age": "Continuous",
        "income": "Continuous",
        "color": "Category",
        "member": "Boolean",
        "city": "String",
        "signup": "DateTime",
    }
    income = next(c for c in schema["schema"] if c["name"] == "income")
    assert income["required"] is False and "missing" in income["domain"]["stats"]
    assert taxonomy(tmp_path / "art")["Algorithm"] == "Pipeline(GradientBoostingClassifier)"


def test_csv_sample_dates_are_datetimes_as_in_parquet(cli, mixed_pipeline, tmp_path):
    """The same rows as CSV and as Parquet: the date column is DateTime in both schemas,
    and score.py turns the JSON dates back into datetimes (verify, with parity)."""
    from mdreg.checks.verify import verify

    path, parquet, _model, X = mixed_pipeline
    X.head(30).to_csv(tmp_path / "x.csv", index=False)
    columns = {}
    for name, sample in (("csv", tmp_path / "x.csv"), ("parquet", parquet)):
        run = cli("prepare", path, "-o", tmp_path / name, "--x-sample", sample)
        assert run.code == 0, run.err
        schema = json.loads((tmp_path / name / "input_schema.json").read_text())
        columns[name] = {c["name"]: (c["dtype"], c["feature_type"]) for c in schema["schema"]}
    assert columns["csv"]["signup"] == columns["parquet"]["signup"]
    assert columns["csv"]["signup"][1] == "DateTime" and columns["csv"]["signup"][0].startswith(
        "datetime64"
    )
    assert columns["csv"]["age"] == columns["parquet"]["age"] == ("float64", "Continuous")
    result = verify(tmp_path / "csv")
    assert result.ok and result.parity == "matches", result.error


def test_force_replaces_and_existing_destination_refused(cli, iris_rf, tmp_path):
    out = tmp_path / "art"
    assert cli("prepare", iris_rf, "-o", out).code == 0
    (out / "marker").write_text("old")
    run = cli("prepare", iris_rf, "-o", out)
    assert run.code == EXIT_INPUT
    assert run.err.startswith("error: ") and "--force" in run.err and len(run.err.splitlines()) == 1
    assert (out / "marker").exists()  # nothing touched
    assert cli("prepare", iris_rf, "-o", out, "--force").code == 0
    assert not (out / "marker").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_empty_destination_folder_is_fine(cli, iris_rf, tmp_path):
    (tmp_path / "art").mkdir()
    assert cli("prepare", iris_rf, "-o", tmp_path / "art").code == 0
    assert (tmp_path / "art/score.py").is_file()


class Predictor:
    """A user object: not a framework model."""

    def __init__(self, k: float) -> None:
        self.k = k

    def predict(self, X):
        import numpy as np

        return (np.asarray(X, dtype=float).sum(axis=1) * self.k).tolist()


def test_cloudpickled_user_object_needs_trust(cli, tmp_path):
    import cloudpickle

    obj = Predictor(2.0)
    cloudpickle.register_pickle_by_value(__import__(__name__))  # carry the class by value
    try:
        (tmp_path / "user.pkl").write_bytes(cloudpickle.dumps(obj))
    finally:
        cloudpickle.unregister_pickle_by_value(__import__(__name__))
    refused = cli("prepare", tmp_path / "user.pkl", "-o", tmp_path / "art")
    assert refused.code == EXIT_UNSAFE
    assert "--trust" in refused.err and "cloudpickle" in refused.err
    assert not (tmp_path / "art").exists()
    sample = tmp_path / "x.json"
    sample.write_text(json.dumps([[1, 2], [3, 4]]))
    run = cli(
        "prepare", tmp_path / "user.pkl", "-o", tmp_path / "art", "--trust", "--x-sample", sample
    )
    assert run.code == 0, run.err
    assert (tmp_path / "art/model.pkl").read_bytes() == (tmp_path / "user.pkl").read_bytes()
    meta = metadata(tmp_path / "art")
    assert meta["mdreg"]["framework"] == "generic" and meta["mdreg"]["trusted"] is True
    assert "check that score.py's predict()" in run.err


@pytest.mark.parametrize("case", ["unknown", "truncated", "empty", "directory", "missing"])
def test_bad_model_input(cli, iris_rf, tmp_path, case):
    model = tmp_path / "model.pkl"
    if case == "unknown":
        model.write_bytes(b"just some text, not a model\n")
    elif case == "truncated":
        data = iris_rf.read_bytes()
        model.write_bytes(data[: len(data) // 2])
    elif case == "empty":
        model.write_bytes(b"")
    elif case == "directory":
        model.mkdir()
        (model / "notes.txt").write_text("x")
    run = cli("prepare", model, "-o", tmp_path / "art")
    # a pickle stream that cannot be parsed cannot be checked: refused as unsafe (exit 4)
    assert run.code == (4 if case == "truncated" else EXIT_INPUT), run.err
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in run.err
    expected = {
        "unknown": "cannot tell the framework",
        "truncated": "cannot be parsed",
        "empty": "an empty file",
        "directory": "a folder holding notes.txt",
        "missing": "no such file",
    }[case]
    assert expected in lines[0]
    assert not (tmp_path / "art").exists()


def test_framework_override_and_unknown_name(cli, iris_rf, tmp_path):
    run = cli("prepare", iris_rf, "-o", tmp_path / "a", "--framework", "nope")
    assert run.code == 2 and "unknown framework 'nope'" in run.err
    run = cli("prepare", iris_rf, "-o", tmp_path / "b", "--framework", "sklearn")
    assert run.code == 0 and "chosen with --framework" in run.err


def test_bad_flags_are_validated_before_writing(cli, iris_rf, tmp_path):
    for args, text in [
        (["--use-case-type", "guessing"], "unknown use case type"),
        (["--inference-conda-env", "no_such_pack_v1"], "unknown service pack slug"),
        (["--x-sample", tmp_path / "missing.csv"], "missing.csv"),
    ]:
        run = cli("prepare", iris_rf, "-o", tmp_path / "art", *args)
        assert run.code == EXIT_INPUT and text in run.err, run.err
        assert not (tmp_path / "art").exists()


def test_published_conda_pack_path(cli, iris_rf, tmp_path):
    uri = "oci://my-packs@mytenancy/conda/mypack_p310_cpu_v1"
    run = cli(
        "prepare",
        iris_rf,
        "-o",
        tmp_path / "art",
        "--inference-conda-env",
        uri,
        "--inference-python-version",
        "3.10",
    )
    assert run.code == 0, run.err
    env = yaml.safe_load((tmp_path / "art/runtime.yaml").read_text())["MODEL_DEPLOYMENT"][
        "INFERENCE_CONDA_ENV"
    ]
    assert env == {
        "INFERENCE_ENV_PATH": uri,
        "INFERENCE_ENV_SLUG": "",
        "INFERENCE_ENV_TYPE": "published",
        "INFERENCE_PYTHON_VERSION": "3.10",
    }


def test_git_provenance_strips_credentials(cli, iris_rf, tmp_path):
    import subprocess

    repo = tmp_path / "repo"
    repo.mkdir()
    for cmd in (
        ["init", "-q", "-b", "main"],
        ["remote", "add", "origin", "https://bob:s3cret@git.example.com/team/m.git"],
    ):
        subprocess.run(["git", "-C", str(repo), *cmd], check=True)
    script = repo / "train.py"
    script.write_text("print('train')\n")
    run = cli("prepare", iris_rf, "-o", tmp_path / "art", "--training-script", script)
    assert run.code == 0, run.err
    prov = metadata(tmp_path / "art")["provenance"]
    assert prov["repository_url"] == "https://git.example.com/team/m.git"
    assert prov["git_branch"] == "main" and prov["training_script"] == str(script.resolve())
    assert "s3cret" not in json.dumps(metadata(tmp_path / "art"))


def test_prepare_as_a_subprocess(iris_rf, iris_x_csv, tmp_path):
    run = mdreg_proc("prepare", iris_rf, "-o", tmp_path / "art", "--x-sample", iris_x_csv, "--json")
    assert run.code == 0, run.err
    assert json.loads(run.out)["artifact_dir"] == str(tmp_path / "art")
    bad = mdreg_proc("prepare", tmp_path / "nothing.pkl")
    assert bad.code == EXIT_INPUT and bad.err.startswith("error: ") and "Traceback" not in bad.err


def test_pickle_protocol_0_is_recognised(cli, iris, tmp_path):
    from sklearn.linear_model import LinearRegression

    X, y = iris
    (tmp_path / "m.pkl").write_bytes(pickle.dumps(LinearRegression().fit(X, y), protocol=0))
    run = cli("prepare", tmp_path / "m.pkl", "-o", tmp_path / "art")
    assert run.code == 0, run.err
    assert taxonomy(tmp_path / "art")["Algorithm"] == "LinearRegression"


def test_unknown_framework_gets_a_template_to_fill_in(cli, tmp_path):
    from mdreg.checks.introspect import introspect
    from mdreg.checks.verify import verify

    model = tmp_path / "model.onnx"
    model.write_bytes(b"\x08\x07\x12\x07pytorch" + bytes(64))
    assert cli("prepare", model, "-o", tmp_path / "x").code == EXIT_INPUT  # not guessed
    run = cli("prepare", model, "-o", tmp_path / "art", "--framework", "other")
    assert run.code == 0, run.err
    assert "fill in load_model()" in run.err
    art = tmp_path / "art"
    assert (art / "model.onnx").read_bytes() == model.read_bytes()
    assert introspect(art).ok  # the template passes the static checks...
    result = verify(art, "[[1, 2]]")
    assert not result.ok and "fill in load_model()" in result.error  # ...and says what to do


def test_user_score_py(cli, iris_rf, tmp_path):
    score = tmp_path / "my_score.py"
    score.write_text(
        "import joblib, os\n\ndef load_model():\n    return joblib.load(os.path.join(os.path.dirname(__file__), 'model.joblib'))\n\n"
        "def predict(data, model=load_model()):\n    return {'prediction': model.predict(data).tolist(), 'mine': True}\n"
    )
    run = cli("prepare", iris_rf, "-o", tmp_path / "art", "--score-py", score)
    assert run.code == 0, run.err
    assert (tmp_path / "art/score.py").read_text() == score.read_text()
    from mdreg.checks.verify import verify

    result = verify(tmp_path / "art", "[[5.1, 3.5, 1.4, 0.2]]")
    assert result.ok and result.prediction["mine"] is True
    bad = cli("prepare", iris_rf, "-o", tmp_path / "b", "--score-py", tmp_path / "nope.py")
    assert bad.code == EXIT_INPUT and "--score-py" in bad.err
