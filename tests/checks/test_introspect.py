"""introspect: each way of breaking an artifact fails exactly the check that names it."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from mdreg.checks.introspect import introspect

SERVICE_KEYS = [
    "score_py",
    "runtime_yaml",
    "score_syntax",
    "score_load_model",
    "score_predict",
    "score_predict_data",
    "score_predict_arg",
    "runtime_version",
    "runtime_env_python",
    "runtime_env_path",
    "runtime_path_exist",
]
MDREG_KEYS = [
    "manifest",
    "input_schema",
    "output_schema",
    "runtime_keys",
    "model_framework",
    "score_imports",
    "model_scan",
]


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1))


def _break_score(art: Path, old: str, new: str) -> None:
    _edit(art / "score.py", old, new)


BREAKAGES = {
    "score_py": lambda a: (a / "score.py").unlink(),
    "runtime_yaml": lambda a: (a / "runtime.yaml").unlink(),
    "score_syntax": lambda a: _break_score(a, "def predict(", "def predict(:"),
    "score_load_model": lambda a: _break_score(a, "def load_model(", "def load_the_model("),
    "score_predict": lambda a: _break_score(
        a, "def predict(data, model=load_model()):", "def forecast(data, model=load_model()):"
    ),
    "score_predict_data": lambda a: _break_score(
        a, "def predict(data, model=load_model()):", "def predict(x, model=load_model()):"
    ),
    "score_predict_arg": lambda a: _break_score(
        a, "def predict(data, model=load_model()):", "def predict(data, model):"
    ),
    "runtime_version": lambda a: _edit(
        a / "runtime.yaml", "MODEL_ARTIFACT_VERSION: '3.0'", "MODEL_ARTIFACT_VERSION: '2.0'"
    ),
    "runtime_env_python": lambda a: _edit(
        a / "runtime.yaml", "INFERENCE_PYTHON_VERSION: '3.11'", "INFERENCE_PYTHON_VERSION: '2.7'"
    ),
    "runtime_env_path": lambda a: _edit(
        a / "runtime.yaml", "INFERENCE_ENV_PATH: oci://", "INFERENCE_ENV_PATH: ''\n    X: oci://"
    ),
    "manifest": lambda a: (a / "model.joblib").write_bytes(
        (a / "model.joblib").read_bytes() + b"\0"
    ),
    "input_schema": lambda a: (a / "input_schema.json").write_text("{not json"),
    "runtime_keys": lambda a: _edit(a / "runtime.yaml", "  USER_OCID: ''\n", ""),
    "score_imports": lambda a: _break_score(
        a, "import numpy as np\n", "import numpy as np\nimport requests\n"
    ),
}


def test_good_artifact_passes_every_check(artifact, cli):
    report = introspect(artifact)
    assert [r.key for r in report.results] == SERVICE_KEYS + MDREG_KEYS
    status = {r.key: r.status.value for r in report.results}
    assert status.pop("runtime_path_exist") == "skipped"
    assert set(status.values()) == {"passed"}, status
    assert report.ok and report.recorded
    run = cli("introspect", artifact)
    assert run.code == 0 and "17 passed, 0 failed, 1 skipped" in run.out


@pytest.mark.parametrize("key", sorted(BREAKAGES))
def test_each_breakage_fails_its_check(artifact, cli, key):
    BREAKAGES[key](artifact)
    run = cli("introspect", artifact, "--json")
    assert run.code == 1, run.err
    doc = json.loads(run.out)
    by_key = {c["key"]: c for c in doc["checks"]}
    assert by_key[key]["status"] == "failed", by_key[key]
    assert by_key[key]["message"]  # says what to fix
    assert doc["ok"] is False


def test_extra_unlisted_model_file_fails_manifest(artifact):
    (artifact / "other_model.pkl").write_bytes(b"\x80\x04N.")
    (artifact / "notes.md").write_text("fine")
    result = {r.key: r for r in introspect(artifact).results}["manifest"]
    assert result.status.value == "failed" and "other_model.pkl" in result.message
    assert "notes.md" not in result.message


def test_results_are_recorded_in_metadata(artifact):
    introspect(artifact)
    meta = json.loads((artifact / ".mdreg/metadata.json").read_text())
    results = next(i["value"] for i in meta["taxonomy"] if i["key"] == "ArtifactTestResults")
    assert results["score_py"]["success"] is True
    assert results["runtime_path_exist"]["success"] is None
    assert set(results) == set(SERVICE_KEYS + MDREG_KEYS)
    # recording results must not invalidate the manifest
    assert introspect(artifact).ok


def _zip(folder: Path, dest: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(dest, "w") as z:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                z.write(p, prefix + p.relative_to(folder).as_posix())
    return dest


@pytest.mark.parametrize("prefix", ["", "my_model/"])
def test_zip_top_level_or_one_folder_deep(artifact, tmp_path, prefix):
    z = _zip(artifact, tmp_path / "a.zip", prefix)
    before = z.read_bytes()
    report = introspect(z)
    assert report.ok, [r for r in report.results if r.status.value == "failed"]
    assert not report.recorded and z.read_bytes() == before  # a zip is never modified


@pytest.mark.parametrize("key", ["score_py", "score_predict_arg", "runtime_version", "manifest"])
def test_broken_zip_one_folder_deep(artifact, tmp_path, cli, key):
    BREAKAGES[key](artifact)
    z = _zip(artifact, tmp_path / "a.zip", "inner/")
    run = cli("introspect", z, "--json")
    assert run.code == 1
    assert {c["key"]: c["status"] for c in json.loads(run.out)["checks"]}[key] == "failed"


def test_hand_written_artifact_reports_what_is_missing(tmp_path):
    art = tmp_path / "hand"
    art.mkdir()
    (art / "score.py").write_text(
        "def load_model():\n    return 1\n\ndef predict(data, model=load_model()):\n    return {'prediction': data}\n"
    )
    (art / "runtime.yaml").write_text(
        "MODEL_ARTIFACT_VERSION: '3.0'\nMODEL_DEPLOYMENT:\n  INFERENCE_CONDA_ENV:\n    INFERENCE_ENV_PATH: oci://b@n/p\n    INFERENCE_PYTHON_VERSION: '3.8'\n"
    )
    report = introspect(art)
    status = {r.key: r.status.value for r in report.results}
    assert status["score_py"] == status["runtime_version"] == status["runtime_env_path"] == "passed"
    assert status["runtime_keys"] == "failed"
    assert status["manifest"] == status["model_framework"] == status["input_schema"] == "skipped"
    assert not report.recorded and sorted(p.name for p in art.iterdir()) == [
        "runtime.yaml",
        "score.py",
    ]


def test_ads_style_artifact(tmp_path):
    """A layout as ADS writes it: no mdreg metadata, a float python version, ADS's test file."""
    art = tmp_path / "ads"
    art.mkdir()
    (art / "score.py").write_text(
        "import os\nimport joblib\ndef load_model(model_file_name='model.joblib'):\n    return joblib.load(os.path.join(os.path.dirname(__file__), model_file_name))\n\ndef predict(data, model=load_model()):\n    return {'prediction': model.predict(data).tolist()}\n"
    )
    (art / "runtime.yaml").write_text(
        "MODEL_ARTIFACT_VERSION: '3.0'\nMODEL_DEPLOYMENT:\n  INFERENCE_CONDA_ENV:\n    INFERENCE_ENV_PATH: oci://service-conda-packs@id19sfcrra6z/service_pack/cpu/x/1.0/generalml_p38_cpu_v1\n    INFERENCE_ENV_SLUG: generalml_p38_cpu_v1\n    INFERENCE_ENV_TYPE: data_science\n    INFERENCE_PYTHON_VERSION: 3.10\n"
    )
    (art / "test_json_output.json").write_text("{}")
    status = {r.key: (r.status.value, r.message) for r in introspect(art).results}
    assert (
        status["runtime_env_python"][0] == "failed" and "quote" in status["runtime_env_python"][1]
    )
    assert status["score_imports"][0] == "passed"


def test_not_an_artifact(tmp_path, cli):
    (tmp_path / "x.txt").write_text("hello")
    run = cli("introspect", tmp_path / "x.txt")
    assert run.code == 3 and "neither a folder nor a zip" in run.err
    assert cli("introspect", tmp_path / "nope").code == 3


def test_non_utf8_runtime_yaml_is_a_failed_check(artifact):
    (artifact / "runtime.yaml").write_bytes(b"MODEL_ARTIFACT_VERSION: '\xff\xfe'\n")
    status = {r.key: r for r in introspect(artifact).results}
    assert status["runtime_version"].status.value == "failed"
    assert "UTF-8" in status["runtime_version"].message
