"""``mdreg verify --payload/--response`` and the library's matching arguments on one
scikit-learn artifact: what was sent is shown, bad choices are one-line errors before any
interpreter starts, a pickled .npy is refused on both sides (and never unpickled), and
truncated or garbage bodies get errors that say what is wrong."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mdreg
from mdreg.checks.verify import request_body
from mdreg.errors import EXIT_INPUT, EXIT_USAGE, InputError
from mdreg.payload import NPY_DATA_TYPE, decode_response, encode
from tests.payloads.conftest import object_npy, serve


@pytest.fixture(scope="module")
def art(iris_rf, iris_x_csv, tmp_path_factory) -> Path:
    return mdreg.prepare(
        iris_rf, tmp_path_factory.mktemp("payload-verify") / "art", x_sample=iris_x_csv
    ).artifact_dir


@pytest.fixture(scope="module")
def rf(iris_rf):
    import joblib

    return joblib.load(iris_rf)


def test_cli_shows_format_and_size(art, rf, iris, iris_x_csv, cli):
    """--data FILE read as a sample and sent as Parquet; the text output says so."""
    run = cli("verify", art, "--data", iris_x_csv, "--payload", "parquet")
    assert run.code == 0, run.err
    size = len(request_body(art, iris_x_csv, "parquet"))
    first, rest = run.out.split("\n", 1)
    assert first.startswith(f"payload: parquet, {size:,} bytes; load_model: ")
    X, _ = iris
    assert json.loads(rest) == {"prediction": rf.predict(X.head(20)).tolist()}


def test_cli_json_binary_answer(art, rf, iris, cli):
    run = cli("verify", art, "--payload", "safetensors", "--response", "npy", "--json")
    assert run.code == 0, run.err
    doc = json.loads(run.out)
    assert doc["ok"] and doc["payload_format"] == "safetensors" and doc["response"] == "npy"
    assert doc["payload_bytes"] == len(request_body(art, None, "safetensors", "npy"))
    assert doc["prediction"]["prediction"]["data_type"] == NPY_DATA_TYPE
    X, _ = iris
    assert (
        decode_response(doc["prediction"])["prediction"].tolist() == rf.predict(X.head(5)).tolist()
    )


def test_default_stays_json_text(art):
    """Without --payload the kept sample goes as it was kept: the same JSON text."""
    body = request_body(art, None)
    assert body == (art / ".mdreg/sample.json").read_bytes()
    wrapped = json.loads(request_body(art, None, "json", "npy"))
    assert wrapped == {"data": json.loads(body), "response": "npy"}
    envelope = json.dumps({"data": [[1, 2, 3, 4]], "data_type": "<class 'list'>"})
    assert json.loads(request_body(art, envelope, "json", "npy")) == {
        "data": [[1, 2, 3, 4]],
        "data_type": "<class 'list'>",
        "response": "npy",
    }  # beside its data


def test_json_text_sent_in_a_binary_format(art):
    rows = [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3]]
    assert request_body(art, json.dumps(rows), "npy") == encode(np.array(rows), "npy")
    with pytest.raises(InputError, match="not valid JSON"):
        request_body(art, "{nope", "npy")
    with pytest.raises(InputError, match="not valid JSON"):
        request_body(art, "{nope", "json")


def test_bad_choices_are_usage_errors(art, cli):
    for flags in (["--payload", "pickle"], ["--response", "xml"]):
        run = cli("verify", art, *flags)
        assert run.code == EXIT_USAGE and "Traceback" not in run.err
    with pytest.raises(InputError, match="unknown payload format"):
        mdreg.verify(art, payload_format="csv")
    with pytest.raises(InputError, match="unknown response format"):
        mdreg.verify(art, response="xml")


def test_arrow_without_pyarrow_is_one_line(art):
    """pyarrow missing from the client: exit 3 and one line naming the extra to install."""
    code = (
        "import sys; sys.modules['pyarrow'] = None\n"  # as if it were not installed
        "from mdreg.cli import main\n"
        f"main(['verify', {str(art)!r}, '--payload', 'arrow'])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == EXIT_INPUT, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "pyarrow" in proc.stderr and "mdreg[arrow]" in proc.stderr


def test_pickled_marker_really_runs(tmp_path):
    """The refusal tests' marker is a real threat: numpy's pickle loader would create it."""
    np.load(io.BytesIO(object_npy(tmp_path / "made")), allow_pickle=True)
    assert (tmp_path / "made").exists()


def test_verify_refuses_pickled_npy_body(art, tmp_path, cli):
    marker = tmp_path / "pwned"
    result = mdreg.verify(art, object_npy(marker), payload_format="npy")
    assert not result.ok and result.stage == "predict"
    assert "Python objects" in result.error and "refused" in result.error
    assert result.payload_format == "npy" and result.payload_bytes == len(object_npy(marker))
    assert not marker.exists(), "score.py unpickled the request body"
    # The client does not unpickle a sample file either: refused before anything is sent.
    (tmp_path / "objects.npy").write_bytes(object_npy(marker))
    run = cli("verify", art, "--data", tmp_path / "objects.npy", "--payload", "npy")
    assert run.code == EXIT_INPUT and "does not unpickle" in run.err
    assert not marker.exists()


def test_bad_bodies_get_clear_errors(art, iris, tmp_path):
    """Truncated, corrupt and garbage bodies (and a pickle in ADS's base64 envelope), all
    in one interpreter: each fails at predict with a message that names the problem."""
    X, _ = iris
    rows = X.head(8)
    npy, st = encode(rows, "npy"), encode(rows, "safetensors")
    arrow, parquet = encode(rows, "arrow"), encode(rows, "parquet")
    marker = tmp_path / "pwned"
    bad_header = b"\x20\x00\x00\x00\x00\x00\x00\x00" + b"{not json at all, 32 bytes long}"
    bodies = {
        "npy_truncated": ("npy", npy[:-10], "npy body is truncated"),
        "npy_header_cut": ("npy", npy[:20], "header cannot be read"),
        "npy_header_garbage": (
            "npy",
            b"\x93NUMPY\x01\x00\x10\x00{garbage here!}\n",
            "header cannot be read",
        ),
        "npy_pickled": ("npy", object_npy(marker), "Python objects"),
        "ads_npy_pickled": (
            "json",
            json.dumps(
                {"data": base64.b64encode(object_npy(marker)).decode(), "data_type": NPY_DATA_TYPE}
            ).encode(),
            "Python objects",
        ),
        "safetensors_data_cut": ("safetensors", st[:-10], "outside the body: truncated"),
        "safetensors_header_cut": ("safetensors", st[:30], "truncated or corrupt"),
        "safetensors_bad_header": ("safetensors", bad_header + b"\0" * 8, "header is not JSON"),
        "arrow_truncated": ("arrow", arrow[: len(arrow) // 2], "Arrow body cannot be read"),
        "parquet_truncated": (
            "parquet",
            parquet[: len(parquet) // 2],
            "Parquet body cannot be read",
        ),
        "garbage": ("npy", np.random.default_rng(0).bytes(300), "not UTF-8 text, nor .npy"),
        "empty": ("npy", b"", "(0 bytes"),
        "text": ("npy", b"hello, score.py", "not JSON"),
    }
    results = serve(
        art, {k: (fmt, body) for k, (fmt, body, _) in bodies.items()}, tmp_path / "serve"
    )
    for name, (_, _, message) in bodies.items():
        result = results[name]
        assert not result["ok"] and result["stage"] == "predict", (name, result)
        assert message in result["error"], (name, result["error"])
        assert result["error"].startswith("ValueError: "), (name, result["error"])
    assert not marker.exists(), "score.py unpickled a request body"
