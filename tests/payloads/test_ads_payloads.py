"""Every request Oracle ADS's client sends reaches mdreg's score.py intact.

ADS (read at github.com/oracle/accelerated-data-science, commit 0e785b9f: 2.15.2 and later
fixes; these serializers are as released in 2.15.0, May 2026) sends what ``.verify()`` and
``.predict()`` are given through two steps, mirrored here without importing ADS (it is not
a dependency, and must not become one):

1. ``GenericModel._handle_input_data`` (ads/model/generic_model.py): bytes go as they are;
   anything else goes through ``JsonModelInputSerializer.serialize``
   (ads/model/serde/model_input.py) when ``auto_serialize_data`` is true, the default of
   every framework model (``FrameworkSpecificModel.verify``/``predict``: SklearnModel,
   XGBoostModel, LightGBMModel, PyTorchModel, TensorFlowModel); GenericModel (or
   ``auto_serialize_data=False``) sends dicts, strings and lists as they are.
2. ``send_request`` (ads/model/deployment/common/utils.py) posts it with requests'
   ``json=``: the body is ``json.dumps(doc, allow_nan=False)`` in UTF-8
   (``requests.models.PreparedRequest.prepare_body``); ``verify`` hands score.py's
   ``predict`` that body JSON-decoded, as the deployment server does.

Each payload goes through the generated score.py of a real artifact (scikit-learn,
XGBoost, LightGBM, PyTorch, Keras), in a fresh interpreter through verify's runner, and
must predict what the model itself predicts. A test also reloads each artifact the way
``ModelArtifact.reload`` does and reads the model file's name from ``score.model_name``.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mdreg
from mdreg.checks.verify import _clean_env
from tests.payloads.conftest import assert_all_match, serve

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # torch.jit, Keras
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]

#: The pandas orients ``pd.read_json`` reads a DataFrame from.
ORIENTS = ("columns", "index", "records", "split", "values", "table")
#: What ADS's ``_convert_torch_tensor`` marks its JSON form of a tensor with.
TORCH_TENSOR_KEY = "__ads_torch_tensor__"


# -- ADS's client, step by step ------------------------------------------------------------
def ads_serialize(data: Any) -> dict[str, Any]:
    """Mirrors ``JsonModelInputSerializer.serialize`` (ads/model/serde/model_input.py):
    {"data": the input made JSON-able, "data_type": str(type(input))}."""
    data_type = str(type(data))
    if "torch.Tensor" in data_type:  # JsonModelInputSerializer._convert_torch_tensor
        tensor = data.detach().cpu()
        data = {
            TORCH_TENSOR_KEY: 1,
            "data": tensor.tolist(),
            "dtype": str(tensor.dtype),
            "shape": list(tensor.shape),
            "device": str(data.device),
        }
    if "tensorflow.python.framework.ops.EagerTensor" in data_type:  # _convert_tf_tensor
        data = data.numpy()
    if isinstance(data, np.ndarray):  # _serialize_numpy_array
        buffer = io.BytesIO()
        np.save(buffer, data, allow_pickle=False)
        data = base64.b64encode(buffer.getvalue()).decode("utf-8")
    elif isinstance(data, pd.Series):
        data = data.tolist()
    elif isinstance(data, pd.DataFrame):
        data = data.to_json()
    elif not isinstance(data, (dict, str, list, tuple, bytes)):
        raise TypeError(f"ADS's JSON serializer refuses {data_type}")
    return {"data": data, "data_type": data_type}


def ads_serialize_torch_before_2_15(tensor: Any) -> dict[str, str]:
    """Mirrors ``JsonModelInputSerializer._convert_torch_tensor`` before oracle-ads commit
    bd12f2c6 (ADS 2.14 and earlier): torch.save bytes, base64."""
    import torch

    buffer = io.BytesIO()
    torch.save(tensor, buffer)
    return {
        "data": base64.b64encode(buffer.getvalue()).decode("utf-8"),
        "data_type": str(type(tensor)),
    }


def ads_body(data: Any, *, auto_serialize: bool = True) -> tuple[str, bytes]:
    """(payload format for ``serve``, request body) of ``.verify(data)``/``.predict(data)``:
    ``GenericModel._handle_input_data``, then ``send_request``'s ``json=`` body."""
    if isinstance(data, bytes):  # _handle_input_data: bytes are sent as they are
        return "bin", data
    doc = ads_serialize(data) if auto_serialize else data
    return "json", json.dumps(doc, allow_nan=False).encode("utf-8")


def ads_table_bodies(rows: pd.DataFrame) -> dict[str, tuple[str, bytes]]:
    """Every form in which an ADS client sends a table: wrapped by the serializer (the
    framework models' default) and as it is (GenericModel, auto_serialize_data=False)."""
    values = rows.to_numpy()
    bodies = {
        "DataFrame": ads_body(rows),
        "ndarray": ads_body(values),
        "dict of dicts (df.to_dict())": ads_body(rows.to_dict()),
        "dict of lists": ads_body(rows.to_dict(orient="list")),
        "list of rows": ads_body(values.tolist()),
        "list of records": ads_body(rows.to_dict(orient="records")),
        "tuple of rows": ads_body(tuple(values.tolist())),
        "raw dict of dicts": ads_body(rows.to_dict(), auto_serialize=False),
        "raw list of rows": ads_body(values.tolist(), auto_serialize=False),
        "raw list of records": ads_body(rows.to_dict(orient="records"), auto_serialize=False),
        "raw .npy bytes": ads_body(_npy(values)),
    }
    # A client on pandas 2 names the type "pandas.core.frame.DataFrame"; on pandas 3,
    # "pandas.DataFrame": the deployment's pandas need not be the client's.
    for spelling in ("<class 'pandas.core.frame.DataFrame'>", "<class 'pandas.DataFrame'>"):
        doc = {**ads_serialize(rows), "data_type": spelling}
        bodies[f"DataFrame as {spelling}"] = ("json", json.dumps(doc).encode())
    for orient in ORIENTS:
        text = rows.to_json(orient=orient)
        bodies[f"JSON string, orient={orient}"] = ads_body(text)
        bodies[f"raw JSON string, orient={orient}"] = ads_body(text, auto_serialize=False)
    torch = _optional("torch")
    if torch is not None:
        bodies["torch.Tensor"] = ads_body(torch.tensor(values))
    tf = _optional("tensorflow")
    if tf is not None:
        bodies["tf.Tensor"] = ads_body(tf.constant(values))
    return bodies


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _optional(name: str) -> Any:
    try:
        return __import__(name)
    except ImportError:
        return None


# -- the artifacts ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def ads_rows(iris) -> pd.DataFrame:
    """Iris rows keeping their row labels: df.to_dict() and to_json() write them."""
    X, _ = iris
    return X.iloc[[0, 50, 100, 7, 120, 33, 77]]


@pytest.fixture(scope="session")
def ads_tabular(iris, iris_rf, iris_x_csv, tmp_path_factory) -> dict[str, dict]:
    """{framework: {"art", "model"}} for scikit-learn, XGBoost and LightGBM on iris."""
    import joblib

    X, y = iris
    out = tmp_path_factory.mktemp("ads-tabular")
    models = {"sklearn": (iris_rf, joblib.load(iris_rf))}
    xgb = pytest.importorskip("xgboost")
    models["xgboost"] = (
        out / "xgb.joblib",
        xgb.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1).fit(X, y),
    )
    lgb = pytest.importorskip("lightgbm")
    models["lightgbm"] = (
        out / "lgbm.joblib",
        lgb.LGBMClassifier(n_estimators=5, num_leaves=4, min_child_samples=5, verbose=-1).fit(X, y),
    )
    arts = {}
    for name, (path, model) in models.items():
        if not path.exists():
            joblib.dump(model, path)
        art = mdreg.prepare(path, out / f"art-{name}", x_sample=iris_x_csv).artifact_dir
        arts[name] = {"art": art, "model": model}
    return arts


@pytest.fixture(scope="session")
def ads_torch(tmp_path_factory) -> dict:
    """A TorchScript MLP on four named features, and a small image CNN."""
    torch = pytest.importorskip("torch")
    from torch import nn

    out = tmp_path_factory.mktemp("ads-torch")
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).eval()
    cnn = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 3),
    ).eval()
    torch.jit.save(torch.jit.script(mlp), out / "mlp.pt")
    torch.jit.save(torch.jit.script(cnn), out / "cnn.pt")
    rng = np.random.default_rng(1)
    rows = pd.DataFrame(rng.normal(size=(6, 4)).round(4), columns=["f1", "f2", "f3", "f4"])
    rows.to_csv(out / "x.csv", index=False)
    images = rng.normal(size=(5, 1, 8, 8)).astype(np.float32)
    np.save(out / "images.npy", images)
    mlp_art = mdreg.prepare(out / "mlp.pt", out / "mlp-art", x_sample=out / "x.csv", trust=True)
    cnn_art = mdreg.prepare(
        out / "cnn.pt", out / "cnn-art", x_sample=out / "images.npy", trust=True
    )
    with torch.no_grad():
        return {
            "art": mlp_art.artifact_dir,
            "rows": rows,
            "cnn_art": cnn_art.artifact_dir,
            "images": images,
            "expected": mlp(torch.tensor(rows.to_numpy(), dtype=torch.float32)).numpy(),
            "cnn_expected": cnn(torch.from_numpy(images)).numpy(),
        }


@pytest.fixture(scope="session")
def ads_keras(tmp_path_factory) -> dict:
    """A small Keras model (.keras) on four named features."""
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    out = tmp_path_factory.mktemp("ads-keras")
    keras.utils.set_random_seed(0)
    inp = keras.Input(shape=(4,), name="features")
    model = keras.Model(
        inp,
        keras.layers.Dense(3, activation="softmax")(keras.layers.Dense(8, activation="relu")(inp)),
    )
    model.save(out / "m.keras")
    rng = np.random.default_rng(2)
    rows = pd.DataFrame(rng.normal(size=(6, 4)).round(4), columns=["a", "b", "c", "d"])
    rows.to_csv(out / "x.csv", index=False)
    art = mdreg.prepare(out / "m.keras", out / "art", x_sample=out / "x.csv").artifact_dir
    return {
        "art": art,
        "rows": rows,
        "expected": model.predict(rows.to_numpy("float32"), verbose=0),
    }


def _check_table(
    art: Path, rows: pd.DataFrame, expected: Any, tmp: Path, *, exact: bool, reads_torch_save: bool
) -> None:
    """Every ADS table form predicts ``expected``; a Series (one row) its first row; the
    torch.save form of older ADS works where torch is (PyTorch), else fails clearly."""
    bodies = ads_table_bodies(rows)
    bodies["Series (one row)"] = ads_body(rows.iloc[0])
    torch = _optional("torch")
    if torch is not None:
        doc = ads_serialize_torch_before_2_15(torch.tensor(rows.to_numpy()))
        bodies["torch.Tensor, torch.save (ADS < 2.15)"] = ("json", json.dumps(doc).encode())
    results = serve(art, bodies, tmp)
    one = results.pop("Series (one row)")
    legacy = results.pop("torch.Tensor, torch.save (ADS < 2.15)", None)
    assert_all_match(results, expected, exact=exact)
    assert_all_match({"Series (one row)": one}, np.asarray(expected)[:1], exact=exact)
    if legacy is not None and reads_torch_save:
        assert_all_match({"torch.save": legacy}, expected, exact=exact)
    elif legacy is not None:
        assert not legacy["ok"] and "tensor.numpy()" in legacy["error"], legacy["error"]


# -- the tests -------------------------------------------------------------------------------
@pytest.mark.parametrize("framework", ["sklearn", "xgboost", "lightgbm"])
def test_tabular_models_read_every_ads_payload(framework, ads_tabular, ads_rows, tmp_path):
    art, model = ads_tabular[framework]["art"], ads_tabular[framework]["model"]
    _check_table(
        art, ads_rows, model.predict(ads_rows), tmp_path, exact=True, reads_torch_save=False
    )


def test_pytorch_reads_every_ads_payload(ads_torch, tmp_path):
    _check_table(
        ads_torch["art"],
        ads_torch["rows"],
        ads_torch["expected"],
        tmp_path,
        exact=False,
        reads_torch_save=True,
    )


def test_keras_reads_every_ads_payload(ads_keras, tmp_path):
    """TensorFlowModel.verify(tf.constant(...)) included: ADS's EagerTensor envelope."""
    _check_table(
        ads_keras["art"],
        ads_keras["rows"],
        ads_keras["expected"],
        tmp_path,
        exact=False,
        reads_torch_save=False,
    )


def test_pytorch_image_model_reads_ads_tensors(ads_torch, tmp_path):
    """A tensor model: ADS's torch.Tensor (both forms), tf.Tensor, ndarray, nested lists
    and .npy bytes of an image batch."""
    torch = pytest.importorskip("torch")
    images = ads_torch["images"]
    bodies = {
        "torch.Tensor": ads_body(torch.from_numpy(images)),
        "torch.Tensor, torch.save (ADS < 2.15)": (
            "json",
            json.dumps(ads_serialize_torch_before_2_15(torch.from_numpy(images))).encode(),
        ),
        "ndarray": ads_body(images),
        "list": ads_body(images.tolist()),
        "raw list": ads_body(images.tolist(), auto_serialize=False),
        "raw .npy bytes": ads_body(_npy(images)),
    }
    tf = _optional("tensorflow")
    if tf is not None:
        bodies["tf.Tensor"] = ads_body(tf.constant(images))
    assert_all_match(serve(ads_torch["cnn_art"], bodies, tmp_path), ads_torch["cnn_expected"])


def test_index_orient_of_a_model_fitted_on_an_array(iris, tmp_path):
    """Row labels and column names are both 0..n-1 strings in JSON: the input schema's
    names (inside, not outside) still tell orient="index" from orient="columns"."""
    import joblib
    from sklearn.ensemble import RandomForestClassifier

    X, y = iris
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(X.to_numpy(), y)
    joblib.dump(model, tmp_path / "rf.joblib")
    np.save(tmp_path / "x.npy", X.head(10).to_numpy())
    art = mdreg.prepare(
        tmp_path / "rf.joblib", tmp_path / "art", x_sample=tmp_path / "x.npy"
    ).artifact_dir
    rows = pd.DataFrame(X.iloc[[0, 50, 100]].to_numpy())  # columns 0..3, rows 0..2
    bodies = {orient: ads_body(rows.to_json(orient=orient)) for orient in ORIENTS}
    bodies["dict of dicts"] = ads_body(rows.to_dict())
    bodies["rows by label (to_dict('index'))"] = ads_body(rows.to_dict(orient="index"))
    assert_all_match(
        serve(art, bodies, tmp_path / "serve"), model.predict(rows.to_numpy()), exact=True
    )


# What ``ModelArtifact.reload`` (ads/model/artifact.py) does with score.py, and where
# ``ModelArtifact.__init__(reload=True)`` (from_model_artifact(..., reload=True)) then
# finds the model file: ``score.model_name`` when the module has a truthy one.
_ADS_RELOAD = """
import importlib.util, json, os, sys, uuid
found = {}
for artifact_dir in json.loads(sys.argv[1]):
    sys.path.insert(0, artifact_dir)  # ModelArtifact.__init__
    spec = importlib.util.spec_from_file_location(
        "score%s" % uuid.uuid4(), os.path.join(artifact_dir, "score.py"))
    score = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(score)
    model = score.load_model()
    name = score.model_name if hasattr(score, "model_name") and score.model_name else None
    found[artifact_dir] = {"model_name": name, "loaded": model is not None}
print(json.dumps(found))
"""

# ``_infer_model_input_serializer_from_score_py`` (ads/model/generic_model.py): a score.py
# holding any of these makes from_model_artifact switch the client away from the JSON
# serializer that mdreg's score.py reads.
_ADS_OTHER_SERIALIZER_MARKERS = (
    "deserialize_huggingface_value",
    "__ads_huggingface_type__",
    "cloudpickle.loads(data)",
    "cloudpickle.loads(json_data)",
)


def test_ads_reload_finds_the_model_file(ads_tabular, ads_torch, ads_keras, tmp_path):
    arts = [entry["art"] for entry in ads_tabular.values()] + [ads_torch["art"], ads_keras["art"]]
    proc = subprocess.run(
        [sys.executable, "-c", _ADS_RELOAD, json.dumps([str(a) for a in arts])],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env=_clean_env(),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    for art in arts:
        meta = json.loads((art / ".mdreg" / "metadata.json").read_text())
        name = found[str(art)]["model_name"]
        assert found[str(art)]["loaded"], art
        assert name == meta["mdreg"]["model_file"], (art, name)
        assert (art / name).exists(), (art, name)
        text = (art / "score.py").read_text()
        assert not [m for m in _ADS_OTHER_SERIALIZER_MARKERS if m in text], art


def test_named_inputs_in_ads_dict_envelope_and_clear_errors(ads_tabular, ads_rows):
    """In-process, on the scikit-learn score.py: a model of several inputs takes them in
    ADS's dict envelope too; forms that cannot be read say why."""
    import importlib.util

    art = ads_tabular["sklearn"]["art"]
    spec = importlib.util.spec_from_file_location("score_ads_errors", art / "score.py")
    score = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(score)
    named = {"x": [[1.0, 2.0]], "ids": [[3]]}
    doc = json.loads(ads_body(named)[1])
    assert doc["data_type"] == "<class 'dict'>"
    assert score.named_arrays(doc, ["x", "ids"]) == named
    with pytest.raises(ValueError, match="not JSON text"):
        score.predict("this is a string.")  # ADS's own docstring example
    split = json.loads(ads_rows.to_json(orient="split"))
    split["data"][1] = split["data"][1][:2]
    with pytest.raises(ValueError, match="rows of 4 values"):
        score.predict(split)
    with pytest.raises(ValueError, match="not base64"):
        score.predict({"data": "not*base64", "data_type": "<class 'numpy.ndarray'>"})
