"""Articles in messages: "an unknown pickle", never "a unknown pickle"."""

from __future__ import annotations

import pickle

import pytest

from mdreg._text import article, with_article
from mdreg.errors import UnsafeModelError
from mdreg.scan import read_pickle_globals
from mdreg.scan.gate import clear


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("unknown", "an"),
        ("dangerous", "a"),
        ("safe", "a"),
        ("other", "an"),
        ("arrow", "an"),
        ("npy", "an"),
        ("json", "a"),
        ("parquet", "a"),
        ("safetensors", "a"),
        ("XGBoost", "an"),
        ("ONNX", "an"),
        ("LightGBM", "a"),
        ("PyTorch", "a"),
        ("PySpark", "a"),
        ("TensorFlow", "a"),
        ("scikit-learn", "a"),
        ("HDF5", "an"),
        ("URL", "a"),
        ("unit", "a"),
        ("uninstalled", "an"),
        ("one-hot", "a"),
        ("hour", "an"),
        ("8-bit", "an"),
        ("11", "an"),
        ("110", "a"),
        ("7z", "a"),
        ("", "a"),
    ],
)
def test_article_follows_the_sound(word, expected):
    assert article(word) == expected


def test_with_article():
    assert with_article("unknown") == "an unknown"
    assert with_article("dangerous") == "a dangerous"


class Model:
    """A class no allow-list holds: its pickle is unknown, neither safe nor dangerous."""


def test_the_gate_refuses_an_unknown_pickle(tmp_path):
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(Model()))
    with pytest.raises(UnsafeModelError) as refused:
        clear(read_pickle_globals(path), ["sklearn"], trust=False, subject=path)
    assert "refusing to load an unknown pickle" in str(refused.value)
    assert " a unknown" not in str(refused.value)
