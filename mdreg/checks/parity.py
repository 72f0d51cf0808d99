"""Parity: score.py must answer the kept sample as it did at prepare time.

prepare asks the artifact's score.py, in its own process, for its answer to --x-sample
(``mdreg.artifact.scoring``) and writes the answer to the rows it keeps
(``.mdreg/sample.json``) to ``.mdreg/sample_prediction.json``; ``verify`` on that sample
compares the answer of score.py in a fresh interpreter with it. So a score.py edited after
prepare into giving other answers (a wrong column order, a post_inference that rescales),
or one that answers otherwise in another environment (``verify --python``, other library
versions, a model file that loads differently), is caught before deployment. That the
template itself answers as the framework does is for mdreg's tests to show (each
framework's end-to-end test compares score.py's answer with the framework's own). Floats
compare within a tolerance of their dtype's precision; anything else must be equal.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from mdreg.artifact import layout

#: (relative, absolute) tolerance by the dtype the model answered in
TOLERANCE = {"float16": (1e-3, 1e-3), "float32": (1e-5, 1e-6), "float64": (1e-9, 1e-12)}
_SHOWN = 80  # characters of a value shown in a message


def expected_document(prediction: Any) -> dict[str, Any] | None:
    """What prepare writes: score.py's answer as JSON values, and its dtype. Only an
    array (or a Series) of one value or one row per input row has a form every score.py
    answers in; other answers (a frame of several outputs) record nothing."""
    import numpy as np  # prepare has them loaded already
    import pandas as pd

    from mdreg.artifact.sample import to_json_payload

    if isinstance(prediction, pd.Series):
        prediction = prediction.to_numpy()
    if not isinstance(prediction, np.ndarray) or prediction.ndim not in (1, 2):
        return None
    return {"dtype": str(prediction.dtype), "prediction": to_json_payload(prediction)}


def read_expected(artifact: Path) -> dict[str, Any] | None:
    path = artifact / layout.SAMPLE_PREDICTION
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) and "prediction" in doc else None


def compare(expected: dict[str, Any], answer: Any) -> str | None:
    """None when score.py's ``answer`` matches; otherwise the first differing row, said
    in one line."""
    got = answer.get("prediction", answer) if isinstance(answer, dict) else answer
    want = expected["prediction"]
    rtol, atol = TOLERANCE.get(str(expected.get("dtype")), (1e-9, 1e-12))
    if isinstance(want, list) and isinstance(got, list):
        if len(want) != len(got):
            return f"score.py gave {len(got)} rows, the model {len(want)}"
        for row, (w, g) in enumerate(zip(want, got)):
            if not _same(w, g, rtol, atol):
                return f"row {row}: score.py gave {_show(g)}, the model gave {_show(w)}"
        return None
    if not _same(want, got, rtol, atol):
        return f"score.py gave {_show(got)}, the model gave {_show(want)}"
    return None


def _same(want: Any, got: Any, rtol: float, atol: float) -> bool:
    if isinstance(want, bool) or isinstance(got, bool):
        return want == got
    if isinstance(want, (int, float)) and isinstance(got, (int, float)):
        if isinstance(want, float) and math.isnan(want):
            return isinstance(got, float) and math.isnan(got)
        return math.isclose(want, got, rel_tol=rtol, abs_tol=atol)
    if isinstance(want, list) and isinstance(got, list):
        return len(want) == len(got) and all(_same(w, g, rtol, atol) for w, g in zip(want, got))
    if isinstance(want, dict) and isinstance(got, dict):
        return want.keys() == got.keys() and all(_same(want[k], got[k], rtol, atol) for k in want)
    return want == got


def _show(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."
