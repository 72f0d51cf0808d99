"""Helpers for the payload tests: request bodies in every format, and score.py run on many of
them in ONE fresh interpreter through verify's own runner (``mdreg/checks/_runner.py``).

``mdreg.verify`` starts an interpreter per request; importing TensorFlow, PyTorch or a JVM
once per payload kind would make this suite slow for nothing. ``serve`` builds each body
with ``mdreg.checks.verify.request_body`` (what verify sends) and hands it to the runner's
``main`` (what verify runs), a JSON body JSON-decoded and any other as raw bytes, as the
deployment server does. Each module still sends at least one request through
``mdreg.verify`` itself.
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

from mdreg.checks.verify import RUNNER, _clean_env, request_body

#: JSON forms of a table (a DataFrame with named columns).
TABLE_JSON = ("records", "columns", "rows", "ads_dataframe", "ads_npy")
BINARY = ("npy", "safetensors", "arrow", "parquet")
TABLE_KINDS = (*TABLE_JSON, "json_encode", *BINARY)
#: Tensor models: nested lists, ADS's base64 .npy envelope, and the two binary tensor formats.
TENSOR_KINDS = ("rows", "ads_npy", "json_encode", "npy", "safetensors")

_SERVE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("mdreg_runner", sys.argv[1])
runner = importlib.util.module_from_spec(spec)
spec.loader.exec_module(runner)
for payload, result in json.loads(sys.argv[3]):
    runner.main(sys.argv[2], payload, result)
"""


def ads_npy(array: np.ndarray) -> dict[str, str]:
    """ADS's envelope for an array: base64 .npy."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return {
        "data": base64.b64encode(buffer.getvalue()).decode(),
        "data_type": "<class 'numpy.ndarray'>",
    }


class PickledMarker:
    """Unpickling this creates a file: proof that a pickle was (not) loaded."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def object_npy(marker: Path) -> bytes:
    """A .npy body holding a pickled object array whose unpickling creates ``marker``."""
    buffer = io.BytesIO()
    np.save(buffer, np.array([PickledMarker(marker), 1], dtype=object), allow_pickle=True)
    return buffer.getvalue()


def body_for(art: Path, kind: str, data: pd.DataFrame | np.ndarray) -> tuple[str, bytes]:
    """(payload format, request body) of ``data`` sent as ``kind``."""
    if kind in BINARY:
        return kind, request_body(art, data, kind)
    if kind == "json_encode":  # mdreg.payload.encode(..., "json"): a dict of columns or lists
        return "json", request_body(art, data, "json")
    if isinstance(data, pd.DataFrame):
        doc: Any = {
            "records": lambda: data.to_dict(orient="records"),
            "columns": lambda: data.to_dict(orient="list"),
            "rows": lambda: data.to_numpy().tolist(),
            "ads_dataframe": lambda: {
                "data": data.to_json(),
                "data_type": "<class 'pandas.core.frame.DataFrame'>",
            },
            "ads_npy": lambda: ads_npy(data.to_numpy()),
        }[kind]()
    else:
        doc = {"rows": lambda: data.tolist(), "ads_npy": lambda: ads_npy(data)}[kind]()
    return "json", request_body(art, json.dumps(doc), "json")


def serve(
    art: Path, bodies: dict[str, tuple[str, bytes]], tmp: Path, *, timeout: float = 600
) -> dict[str, dict]:
    """Run score.py on every body in one fresh interpreter, through verify's runner:
    {name: the runner's result document (ok, stage, prediction, error...)}."""
    tmp.mkdir(parents=True, exist_ok=True)
    pairs = []
    for name, (fmt, body) in bodies.items():
        payload = tmp / f"{name}.{'json' if fmt == 'json' else fmt}"
        payload.write_bytes(body)
        pairs.append((str(payload), str(tmp / f"{name}.result.json")))
    proc = subprocess.run(
        [sys.executable, "-c", _SERVE, str(RUNNER), str(art), json.dumps(pairs)],
        check=False,
        cwd=art,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_clean_env(),
    )
    results = {}
    for name, (_, result) in zip(bodies, pairs, strict=True):
        path = Path(result)
        assert path.is_file(), f"{name}: the runner reported nothing\n{proc.stderr[-3000:]}"
        results[name] = json.loads(path.read_text())
    return results


def predictions(result: dict) -> Any:
    assert result["ok"], f"{result['stage']}: {result['error']}\n{result['traceback']}"
    return result["prediction"]["prediction"]


def assert_all_match(results: dict[str, dict], expected: Any, *, exact: bool = False) -> None:
    """Every result succeeded and predicts ``expected`` (exactly, or to float tolerance)."""
    failed = {k: f"{r['stage']}: {r['error']}" for k, r in results.items() if not r["ok"]}
    assert not failed, failed
    for name, result in results.items():
        got = np.asarray(predictions(result))
        want = np.asarray(expected)
        assert got.shape == want.shape, (name, got.shape, want.shape)
        if exact:
            assert got.tolist() == want.tolist(), name
        else:
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)
