"""TensorFlow / Keras: a small Dense model on four named features gets every table payload
kind and a binary answer; score.py (one fresh interpreter: TensorFlow imports once)
predicts what Keras predicts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mdreg
from mdreg.payload import decode_response
from tests.payloads.conftest import TABLE_KINDS, assert_all_match, body_for, request_body, serve

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

COLUMNS = ["a", "b", "c", "d"]
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Keras on numpy 2


@pytest.fixture(scope="module")
def keras_model(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("payload-tf")
    keras.utils.set_random_seed(0)
    inp = keras.Input(shape=(4,), name="features")
    model = keras.Model(
        inp,
        keras.layers.Dense(3, activation="softmax")(keras.layers.Dense(8, activation="relu")(inp)),
    )
    model.save(out / "m.keras")
    rng = np.random.default_rng(2)
    rows = pd.DataFrame(rng.normal(size=(6, 4)).round(4), columns=COLUMNS)
    rows.to_csv(out / "x.csv", index=False)
    art = mdreg.prepare(out / "m.keras", out / "art", x_sample=out / "x.csv").artifact_dir
    return {
        "art": art,
        "rows": rows,
        "expected": model.predict(rows.to_numpy("float32"), verbose=0),
        "sample_expected": model.predict(rows.head(5).to_numpy("float32"), verbose=0),
    }


def test_every_table_payload(keras_model, tmp_path):
    art, rows = keras_model["art"], keras_model["rows"]
    bodies = {kind: body_for(art, kind, rows) for kind in TABLE_KINDS}
    bodies["safetensors_response_npy"] = (
        "safetensors",
        request_body(art, rows, "safetensors", "npy"),
    )
    results = serve(art, bodies, tmp_path)
    binary = results.pop("safetensors_response_npy")
    assert_all_match(results, keras_model["expected"])
    answer = decode_response(binary["prediction"])["prediction"]
    assert answer.tolist() == results["records"]["prediction"]["prediction"]


def test_verify_kept_sample_as_safetensors(keras_model):
    result = mdreg.verify(keras_model["art"], payload_format="safetensors")
    assert result.ok, result.traceback
    assert result.payload_format == "safetensors"
    np.testing.assert_allclose(
        result.prediction["prediction"], keras_model["sample_expected"], rtol=1e-5, atol=1e-6
    )
