"""score.py's answer to the sample, asked in this process: prepare imports the score.py it
has just written into the artifact and calls its ``predict`` on ``--x-sample``, so the
output schema, and the answer verify's parity check expects, come from the one
implementation of how a request becomes a prediction (the plugins keep no copy of it).

Importing score.py runs its ``load_model()`` once (predict's default argument): the model
is loaded a second time, from the file saved into the artifact, exactly as the deployment
loads it. Prepare calls this only after every file of the artifact has passed the safety
scan (or the user passed --trust), and before the manifest is written (so score.py's
sha256 check of the model file has nothing to compare yet, and reads nothing).

score.py runs as it would on this machine, on the device it picks (a GPU when there is
one; ``MDREG_DEVICE=cpu`` sets the CPU), so its answer is the one ``verify`` gets here
(TensorFlow, say, computes float32 matrix products in TF32 on a recent GPU: the CPU's
answer can differ beyond parity's tolerance). It runs as worker slot 0 unless
``MDREG_WORKER_INDEX`` says otherwise, so it takes no GPU slot lock (held for the life of
a process). It is imported under a name of its own, never left in ``sys.modules``; what it
changes in the process while it runs (``sys.path``, the environment, warning filters,
anything it prints) is put back or dropped.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import sys
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mdreg.artifact import layout

#: What score.py runs with here unless the environment sets it.
ENVIRONMENT = {"MDREG_WORKER_INDEX": "0"}


class ScoreError(Exception):
    """score.py failed: ``stage`` is "load" (importing it, which loads the model) or
    "predict"; ``error`` is what it raised."""

    def __init__(self, stage: str, error: BaseException) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.stage = stage
        self.error = error


@dataclass(frozen=True)
class _Raw:
    """What predict() would have serialized: score.py's ``answer`` is swapped for this."""

    prediction: Any


def answer_sample(folder: Path, data: Any) -> Any:
    """``folder``'s score.py's answer to ``data`` (a DataFrame, an array, or arrays by input
    name, as ``read_sample`` and ``by_input`` give them): the value predict() hands its
    ``answer()`` to serialize (numpy arrays, lists, dicts, as post_inference returned it).
    A score.py that builds its own response (a hand-written one) gives its JSON values:
    the "prediction" of what it returns. Raises ``ScoreError``."""
    name = f"_mdreg_score_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, folder / layout.SCORE_PY)
    if spec is None or spec.loader is None:  # not reached for a .py file
        raise ScoreError("load", ImportError(f"cannot import {folder / layout.SCORE_PY}"))
    module = importlib.util.module_from_spec(spec)
    with _isolated(name, module):
        try:
            result = _run(spec.loader, module, data)
        finally:
            # score.py's functions and globals (the lru_cache holding the model among them)
            # refer to each other: clearing them frees the model now, not at the next gc
            module.__dict__.clear()
    if isinstance(result, _Raw):
        return result.prediction
    return result.get("prediction", result) if isinstance(result, dict) else result


def _run(loader: Any, module: Any, data: Any) -> Any:
    try:
        loader.exec_module(module)  # runs load_model(): predict's default argument
    except Exception as exc:  # noqa: BLE001 - any failure of score.py is reported
        raise ScoreError("load", exc) from exc
    if callable(getattr(module, "answer", None)):  # the response, unserialized
        vars(module)["answer"] = lambda prediction, fmt="json": _Raw(prediction)
    try:
        return module.predict(data)
    except Exception as exc:  # noqa: BLE001
        raise ScoreError("predict", exc) from exc


@contextlib.contextmanager
def _isolated(name: str, module: Any) -> Iterator[None]:
    """score.py imported as ``name`` while it runs (dataclasses and pickle look modules
    up there), its output dropped, and the process put back as it was afterwards."""
    path, environ = list(sys.path), dict(os.environ)
    bytecode = sys.dont_write_bytecode
    sys.dont_write_bytecode = True  # no __pycache__ in the artifact being built
    for key, value in ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    sys.modules[name] = module
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
        ):
            yield
    finally:
        sys.modules.pop(name, None)
        sys.path[:] = path
        sys.dont_write_bytecode = bytecode
        for key in set(os.environ) - set(environ):
            del os.environ[key]
        for key, value in environ.items():
            if os.environ.get(key) != value:
                os.environ[key] = value
