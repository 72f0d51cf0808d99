"""TensorFlow / Keras: one tiny model saved as .keras, legacy .h5 and a SavedModel
(model.export), each prepared, introspected, zipped, unzipped and verified in a subprocess;
score.py predicts what Keras itself predicts on the same rows.

TensorFlow takes seconds to import, so the models are trained once per session and each
verify (a fresh interpreter importing TensorFlow) is spent where it proves something.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mdreg.checks.introspect import introspect
from mdreg.checks.verify import verify
from mdreg.errors import EXIT_INPUT
from tests.frameworks.suite import (
    FrameworkSuite,
    assert_same,
    detect_in_fresh_interpreter,
    hyperparameters,
    taxonomy,
    verified,
)

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

SUITE = FrameworkSuite(
    "tensorflow", version=tf.__version__, score_modules={"numpy", "pandas", "tensorflow", "keras"}
)
COLUMNS = ["a", "b", "c", "d"]
FORMS = {"keras": "m.keras", "h5": "m.h5", "saved_model": "exported"}
MODEL_IN_ARTIFACT = {"keras": "model.keras", "h5": "model.h5", "saved_model": "saved_model"}


@pytest.fixture(scope="session")
def tf_models(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Train once: a 4-feature, 3-class Dense model saved in every input form, a model with
    two named scalar inputs, a weights-only .h5 and a model holding a Python lambda."""
    import warnings

    root = tmp_path_factory.mktemp("tf")
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4)).astype("float32")
    y = (X[:, 0] + X[:, 1] > 0).astype("int64") + (X[:, 2] > 1).astype("int64")
    inp = keras.Input(shape=(4,), name="features")
    out = keras.layers.Dense(3, activation="softmax")(keras.layers.Dense(8, activation="relu")(inp))
    model = keras.Model(inp, out)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(X, y, epochs=2, batch_size=32, verbose=0)
    with warnings.catch_warnings():  # Keras's HDF5 writer warns (legacy format, numpy 2)
        warnings.simplefilter("ignore")
        model.save(root / "m.keras")
        model.save(root / "m.h5")
        model.save_weights(root / "only.weights.h5")
    model.export(str(root / "exported"), verbose=False)  # inference-only SavedModel
    rows = pd.DataFrame(rng.normal(size=(8, 4)), columns=COLUMNS)
    rows.to_csv(root / "x.csv", index=False)

    age, income = keras.Input(shape=(1,), name="age"), keras.Input(shape=(1,), name="income")
    joined = keras.layers.Concatenate()([age, income])
    two = keras.Model([age, income], keras.layers.Dense(1)(joined))
    two.compile(optimizer="sgd", loss="mse")
    lam = keras.Sequential(
        [keras.Input((4,)), keras.layers.Lambda(lambda t: t * 2), keras.layers.Dense(1)]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        two.save(root / "two.keras")
        lam.save(root / "lambda.keras")
    return {
        "root": root,
        "rows": rows,
        "expected": model.predict(rows.to_numpy("float32"), verbose=0),
        "two_rows": pd.DataFrame({"age": [30.0, 41.0, 55.0], "income": [1.5, 2.0, 0.5]}),
        "two": two,
    }


@pytest.fixture(scope="session")
def tf_artifacts(tf_models, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The three forms prepared through the library (for the checks on score.py itself)."""
    from mdreg import prepare

    out = tmp_path_factory.mktemp("tf-artifacts")
    root = tf_models["root"]
    return {
        form: prepare(root / name, out / form, x_sample=root / "x.csv").artifact_dir
        for form, name in FORMS.items()
    }


@pytest.mark.parametrize("form", sorted(FORMS))
def test_prepare_introspect_zip_verify(form, tf_models, cli, tmp_path):
    root, rows = tf_models["root"], tf_models["rows"]
    # The SavedModel goes without a sample: its schema then comes from the signature.
    extra = [] if form == "saved_model" else ["--x-sample", root / "x.csv"]
    payload = rows.to_numpy().tolist() if form == "saved_model" else rows.to_dict("records")
    # What the service runs: the unzipped artifact, score.py in a fresh interpreter.
    done = SUITE.end_to_end(
        cli,
        root / FORMS[form],
        tmp_path,
        *extra,
        payload=payload,
        expected=tf_models["expected"],
        model_file=MODEL_IN_ARTIFACT[form],
        atol=1e-5,
        unzipped=True,
    )
    schema = json.loads((done.art / "input_schema.json").read_text())["schema"]
    assert [c["name"] for c in schema] == (list(range(4)) if form == "saved_model" else COLUMNS)
    tax = done.taxonomy
    if form == "saved_model":
        assert tax["Algorithm"] == "SavedModel"
        assert tax["Hyperparameters"]["inputs"] == {"features": [[None, 4], "float32"]}
    else:
        assert tax["Algorithm"] == "Functional"
        assert tax["UseCaseType"] == "multinomial_classification"  # from the compiled loss
        hyper = hyperparameters(done.art)
        assert hyper["loss"] == "sparse_categorical_crossentropy"
        assert hyper["layers"] == ["Dense(8, relu)", "Dense(3, softmax)"]


def test_inputs_fed_by_name_without_a_sample(tf_models, cli, tmp_path):
    root, rows = tf_models["root"], tf_models["two_rows"]
    art = tmp_path / "art"
    run = cli("prepare", root / "two.keras", "-o", art)
    assert run.code == 0, run.err
    schema = json.loads((art / "input_schema.json").read_text())["schema"]
    assert [c["name"] for c in schema] == ["age", "income"]
    assert taxonomy(art)["UseCaseType"] == "regression"
    expected = tf_models["two"].predict(
        {"age": rows[["age"]].to_numpy(), "income": rows[["income"]].to_numpy()}, verbose=0
    )
    # columns in another order than the model's inputs: matched by name
    result = verified(art, rows[["income", "age"]].to_dict("records"))
    assert_same(result.prediction["prediction"], expected, atol=1e-5)


def test_sniffing_imports_no_framework(tf_models):
    root = tf_models["root"]
    found = detect_in_fresh_interpreter([root / p for p in (*FORMS.values(), "only.weights.h5")])
    assert {v[0] for v in found.values()} == {"tensorflow"}
    assert found["m.keras"][1] == 0.95 and "config.json (Functional)" in found["m.keras"][2]
    assert found["m.h5"][1] == 0.9 and "model_config" in found["m.h5"][2]
    assert found["exported"][1] == 0.95 and "saved_model.pb" in found["exported"][2]
    assert found["only.weights.h5"][1] < 0.5  # HDF5, but no Keras model in it


def test_score_py_imports_only_the_inference_environment(tf_artifacts):
    for form, art in tf_artifacts.items():
        imported = SUITE.assert_score_imports(art)
        assert ("keras" in imported) == (form != "saved_model"), form


@pytest.mark.parametrize(
    "name, message",
    [
        ("only.weights.h5", "weights only"),
        ("lambda.keras", "Lambda layer"),
    ],
)
def test_unusable_files_are_refused_clearly(tf_models, cli, tmp_path, name, message):
    run = cli("prepare", tf_models["root"] / name, "-o", tmp_path / "art")
    assert run.code == EXIT_INPUT
    assert message in run.err and "Traceback" not in run.err
    assert not (tmp_path / "art").exists()


# -- score.py's own functions, run without TensorFlow or a GPU ---------------------------


def _functions(score_py: Path, *names: str, **env) -> dict:
    """Exec the named top-level functions of score.py in a namespace of our choosing."""
    tree = ast.parse(score_py.read_text())
    keep = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in names]
    assert {n.name for n in keep} == set(names)
    for n in keep:
        n.decorator_list = []  # no lru_cache: each call runs
    import functools
    import hashlib

    ns = {
        "os": os,
        "json": json,
        "hashlib": hashlib,
        "lru_cache": functools.lru_cache,
        "_SLOT_LOCKS": [],
        **env,
    }
    exec(compile(ast.Module(keep, []), str(score_py), "exec"), ns)  # noqa: S102
    return ns


class _FakeConfig:
    """tf.config with ``n`` fake GPUs, recording what score.py asks of it."""

    def __init__(self, n: int) -> None:
        self.gpus = [f"GPU{i}" for i in range(n)]
        self.growth: list[str] = []
        self.visible: list = []
        self.experimental = types.SimpleNamespace(set_memory_growth=self._growth)

    def _growth(self, gpu, on):
        assert on is True
        self.growth.append(gpu)

    def list_physical_devices(self, kind):
        assert kind == "GPU"
        return list(self.gpus)

    def set_visible_devices(self, devices, kind):
        assert not self.growth or set(self.growth) == set(self.gpus), "memory growth comes first"
        self.visible.append(devices)


def test_device_choice_with_fake_gpus(tf_artifacts, tmp_path, monkeypatch):
    score = tf_artifacts["keras"] / "score.py"
    fns = _functions(
        score,
        "gpu_for_slot",
        "claim_worker_slot",
        "worker_slot",
        "device_override",
        "device",
        ARTIFACT_DIR=str(tmp_path),
    )
    assert fns["gpu_for_slot"](0, 3) is None
    assert [fns["gpu_for_slot"](1, s) for s in range(3)] == [0, 0, 0]
    assert [fns["gpu_for_slot"](4, s) for s in range(6)] == [0, 1, 2, 3, 0, 1]

    # Worker slots: the lowest free one, given back when its holder goes.
    claim = fns["claim_worker_slot"]
    assert [claim("k", lock_dir=str(tmp_path)) for _ in range(3)] == [0, 1, 2]
    os.close(fns["_SLOT_LOCKS"].pop(1))  # the worker in slot 1 ended
    assert claim("k", lock_dir=str(tmp_path)) == 1
    assert claim("other", lock_dir=str(tmp_path)) == 0  # another artifact: its own slots

    monkeypatch.delenv("MDREG_DEVICE", raising=False)
    for n, worker, expect in [(0, "0", "/CPU:0"), (1, "5", "/GPU:0"), (4, "6", "/GPU:0")]:
        config = _FakeConfig(n)
        fns["tf"] = types.SimpleNamespace(config=config)
        monkeypatch.setenv("MDREG_WORKER_INDEX", worker)
        assert fns["device"]() == expect
        assert config.growth == config.gpus  # memory growth on for every GPU
        if n:  # this process sees only its own GPU: slot % count
            assert config.visible == [config.gpus[int(worker) % n]]

    config = _FakeConfig(2)
    fns["tf"] = types.SimpleNamespace(config=config)
    monkeypatch.setenv("MDREG_DEVICE", "cpu")
    assert fns["device"]() == "/CPU:0" and config.visible == [[]]
    monkeypatch.setenv("MDREG_DEVICE", "gpu:1")
    assert fns["device"]() == "/GPU:0" and config.visible[-1] == "GPU1"
    monkeypatch.setenv("MDREG_DEVICE", "tpu")
    with pytest.raises(RuntimeError, match="MDREG_DEVICE"):
        fns["device"]()


def test_saved_model_folder_is_checked_against_the_manifest(tf_artifacts, tmp_path):
    import shutil

    art = shutil.copytree(tf_artifacts["saved_model"], tmp_path / "art")
    fns = _functions(
        art / "score.py",
        "_check_model_file",
        "_sha256",
        ARTIFACT_DIR=str(art),
        MANIFEST_FILE_NAME="model_artifact_manifest.json",
    )
    check = fns["_check_model_file"]  # the base template's check, which handles folders
    check(str(art / "saved_model"), "saved_model")  # as prepared: fine
    data = next((art / "saved_model/variables").glob("variables.data-*"))
    original = data.read_bytes()
    data.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    with pytest.raises(RuntimeError, match=r"variables.data"):
        check(str(art / "saved_model"), "saved_model")
    data.write_bytes(original)
    (art / "saved_model/variables/extra.bin").write_bytes(b"x")
    with pytest.raises(RuntimeError, match=r"extra.bin"):
        check(str(art / "saved_model"), "saved_model")


@pytest.mark.gpu
def test_model_and_inputs_sit_on_the_gpu(tmp_path):
    if not tf.config.list_physical_devices("GPU"):
        pytest.skip("no GPU visible to TensorFlow")
    script = Path(__file__).parents[2] / "scripts" / "gpu_check_keras.py"
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


CUSTOM_LAYERS = """
import keras


@keras.saving.register_keras_serializable(package="mdreg_test")
class Scale(keras.layers.Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}
"""


def test_custom_layers_come_with_model_code(cli, tmp_path):
    import importlib.util
    import warnings

    code = tmp_path / "custom_layers.py"
    code.write_text(CUSTOM_LAYERS)
    spec = importlib.util.spec_from_file_location("custom_layers", code)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = keras.Sequential([keras.Input((4,)), module.Scale(3.0), keras.layers.Dense(2)])
    with warnings.catch_warnings():  # Keras's HDF5 weights writer warns under numpy 2
        warnings.simplefilter("ignore")
        model.save(tmp_path / "custom.keras")
    keras.saving.get_custom_objects().pop("mdreg_test>Scale")  # as in a fresh process
    rows = np.arange(8, dtype="float32").reshape(2, 4)

    run = cli("prepare", tmp_path / "custom.keras", "-o", tmp_path / "no-code")
    assert run.code == EXIT_INPUT and "--model-code" in run.err
    run = cli("prepare", tmp_path / "custom.keras", "-o", tmp_path / "art", "--model-code", code)
    assert run.code == 0, run.err
    art = tmp_path / "art"
    assert (art / "custom_layers.py").read_text() == CUSTOM_LAYERS
    assert "import custom_layers" in (art / "score.py").read_text()
    assert introspect(art).ok
    result = verified(art, rows.tolist())
    assert_same(result.prediction["prediction"], model.predict(rows, verbose=0), atol=1e-5)


def test_several_inputs_of_other_shapes_from_an_npz_sample(cli, tmp_path):
    """A functional model of inputs x (3,) and seq (4, 2): the sample is one array per
    input, by name; score.py reads one per name (JSON or safetensors) and predicts what
    Keras predicts, also as a SavedModel export."""
    x_in, seq_in = keras.Input(shape=(3,), name="x"), keras.Input(shape=(4, 2), name="seq")
    joined = keras.layers.Concatenate()([x_in, keras.layers.Flatten()(seq_in)])
    model = keras.Model([x_in, seq_in], keras.layers.Dense(2)(joined))
    rng = np.random.default_rng(0)
    x, seq = rng.normal(size=(6, 3)).astype("float32"), rng.normal(size=(6, 4, 2)).astype("float32")
    model.save(tmp_path / "two.keras")
    model.export(tmp_path / "two_saved", verbose=False)
    np.savez(tmp_path / "sample.npz", seq=seq, x=x)  # not the model's order
    expected = model.predict({"x": x, "seq": seq}, verbose=0)
    for source in ("two.keras", "two_saved"):
        art = tmp_path / f"art-{source}"
        run = cli("prepare", tmp_path / source, "-o", art, "--x-sample", tmp_path / "sample.npz")
        assert run.code == 0, run.err
        columns = json.loads((art / "input_schema.json").read_text())["schema"]
        # The model's order: a SavedModel signature takes keyword arguments, listed sorted.
        order = ["x", "seq"] if source == "two.keras" else ["seq", "x"]
        assert [(c["name"], c["order"]) for c in columns] == list(zip(order, range(2)))
        assert introspect(art).ok
        result = verified(art, payload_format="safetensors")  # the kept sample: 5 items
        np.testing.assert_allclose(
            result.prediction["prediction"], expected[:5], rtol=1e-4, atol=1e-5
        )
    result = verified(art, {"inputs": {"x": x[:2].tolist(), "seq": seq[:2].tolist()}})
    np.testing.assert_allclose(result.prediction["prediction"], expected[:2], rtol=1e-4, atol=1e-5)
    result = verify(art, json.dumps({"x": x[:2].tolist(), "seq": seq[:1].tolist()}))
    assert not result.ok and "different numbers of items" in result.error
    np.save(tmp_path / "x.npy", x)
    run = cli(
        "prepare", tmp_path / "two.keras", "-o", tmp_path / "bad", "--x-sample", tmp_path / "x.npy"
    )
    assert run.code == EXIT_INPUT and "takes 2 tensors (x, seq)" in run.err


def test_prepare_json_is_one_document_without_tensorflow_log_lines(tf_models, tmp_path):
    """`mdreg prepare m.keras --json`: stdout is exactly one JSON document, and stderr has
    none of the C++ log lines TensorFlow prints while it is imported (mdreg/cli/_quiet.py;
    --debug lets them through)."""
    root = tf_models["root"]
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "MDREG_DEBUG")}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "mdreg",
            "prepare",
            str(root / "m.keras"),
            "-o",
            str(tmp_path / "art"),
            "--x-sample",
            str(root / "x.csv"),
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["framework"] == "tensorflow"  # one document, nothing after it
    for line in run.stderr.splitlines():
        assert not re.match(r"[IWEF]\d{4} ", line), line  # absl's "I0000 00:00:1796289142.22 ..."
        assert "absl" not in line and "oneDNN" not in line and "cpu_feature_guard" not in line, line
