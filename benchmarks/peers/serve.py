"""Time a generated score.py the way the deployment server drives it, or the raw model.

Run by benchmarks/peers.py under the interpreter of the environment being measured (the
mdreg venv, or the ADS venv); it needs only the standard library, numpy, pandas and the
model's framework, like score.py itself.

    python serve.py --mode score --artifact DIR --cases cases.json --out result.json
    python serve.py --mode raw --model FILE.joblib --cases cases.json --out result.json
    python serve.py --mode torch-raw --model FILE.pt --cases cases.json --out result.json
    python serve.py --mode paired --model FILE.joblib --contender mdreg=DIR --contender ads=DIR ...

``cases.json`` maps a case name to {"body": JSON text of the request, "rows": the same
data as a (nested) list, "columns": column names or null, "calls": N}.

- score: import score.py once (which runs load_model()), then for each case call
  ``predict(json.loads(body))`` -- the body is decoded as the server decodes it, outside
  the timed part, afresh for every call.
- raw: ``model.predict(frame)`` on a DataFrame built once from the same rows (the model
  was fitted on a DataFrame, so this is its own call).
- paired: the raw model and several score.py files in one process, calls interleaved.
- torch-raw: ``model(tensor)`` under inference_mode on a float32 tensor built once; and,
  as "handler", the least a handler must do with the decoded body:
  ``torch.from_numpy(np.asarray(rows, float32))``, forward, ``.tolist()``.

Each timed call records wall seconds (perf_counter) and CPU seconds (process_time); the
result holds both lists and a digest of the predictions, so the parent can check that
every contender answers alike.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import sys
import time
import warnings

WARMUP = 3


def _digest(prediction) -> str:
    """A short fingerprint of the predicted values (labels, or rounded scores)."""
    import numpy as np

    if isinstance(prediction, dict) and "prediction" in prediction:
        prediction = prediction["prediction"]
    array = np.asarray(prediction)
    if array.dtype.kind == "f":  # float32 from a tensor, float64 from JSON: compare as float64
        array = np.round(array.astype(np.float64), 3)
    return hashlib.sha256(json.dumps(array.tolist()).encode()).hexdigest()[:12]


def _timed(fn, arg_factory, calls: int) -> dict:
    wall, cpu, out = [], [], None
    for i in range(WARMUP + calls):
        arg = arg_factory()
        w, c = time.perf_counter(), time.process_time()
        out = fn(arg)
        c, w = time.process_time() - c, time.perf_counter() - w
        if i >= WARMUP:
            wall.append(w)
            cpu.append(c)
    return {"seconds": wall, "cpu": cpu, "digest": _digest(out)}


def run_score(artifact: str, cases: dict) -> dict:
    sys.path.insert(0, artifact)  # the server puts the artifact folder on sys.path
    spec = importlib.util.spec_from_file_location("score", os.path.join(artifact, "score.py"))
    score = importlib.util.module_from_spec(spec)
    sys.modules["score"] = score
    spec.loader.exec_module(score)  # load_model() runs here, once (predict's default)
    results = {}
    for name, case in cases.items():
        body = case["body"]
        try:
            results[name] = _timed(score.predict, lambda b=body: json.loads(b), case["calls"])
        except Exception as exc:  # noqa: BLE001 - a payload this score.py does not take
            results[name] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    return results


def _import_score(artifact: str, name: str):
    """Import ``artifact``/score.py as module ``name`` (load_model() runs here, once)."""
    sys.path.insert(0, artifact)
    try:
        spec = importlib.util.spec_from_file_location(name, os.path.join(artifact, "score.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(artifact)


def run_paired(contenders: list[str], model_path: str, cases: dict) -> dict:
    """Several score.py files and the raw model in one process, their calls interleaved
    (A B C, then B C A, ...), so every contender meets the same machine state: the
    fairest ratio on a shared, noisy machine. ``contenders``: NAME=ARTIFACT_DIR."""
    import joblib
    import pandas as pd

    model = joblib.load(model_path)
    fns = {}
    for i, spec in enumerate(contenders):
        name, artifact = spec.split("=", 1)
        fns[name] = _import_score(artifact, f"score_{i}").predict
    results = {}
    for case_name, case in cases.items():
        frame = pd.DataFrame(case["rows"], columns=case["columns"])
        body = case["body"]
        calls = {"raw": (model.predict, lambda f=frame: f)}
        calls.update({name: (fn, lambda b=body: json.loads(b)) for name, fn in fns.items()})
        order = list(calls)
        samples = {name: {"seconds": [], "cpu": []} for name in order}
        failed = {}
        for i in range(WARMUP + case["calls"]):
            shift = i % len(order)
            for name in order[shift:] + order[:shift]:
                if name in failed:
                    continue
                fn, factory = calls[name]
                arg = factory()
                w, c = time.perf_counter(), time.process_time()
                try:
                    out = fn(arg)
                except Exception as exc:  # noqa: BLE001 - a payload this score.py does not take
                    failed[name] = f"{type(exc).__name__}: {str(exc)[:200]}"
                    continue
                c, w = time.process_time() - c, time.perf_counter() - w
                if i >= WARMUP:
                    samples[name]["seconds"].append(w)
                    samples[name]["cpu"].append(c)
                    samples[name]["digest"] = (
                        _digest(out) if i == WARMUP else samples[name].get("digest")
                    )
        for name in order:
            results[f"{case_name}@{name}"] = (
                {"error": failed[name]} if name in failed else samples[name]
            )
    return results


def run_raw(model_path: str, cases: dict) -> dict:
    import joblib
    import pandas as pd

    model = joblib.load(model_path)
    results = {}
    for name, case in cases.items():
        frame = pd.DataFrame(case["rows"], columns=case["columns"])
        results[name] = _timed(model.predict, lambda f=frame: f, case["calls"])
    return results


def run_torch_raw(model_path: str, cases: dict) -> dict:
    import numpy as np
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        model = torch.jit.load(model_path, map_location="cpu").eval()

    def forward(tensor):
        with torch.inference_mode():
            return model(tensor).numpy()

    def handler(decoded):
        tensor = torch.from_numpy(np.asarray(decoded, dtype=np.float32))
        with torch.inference_mode():
            return {"prediction": model(tensor).numpy().tolist()}

    results = {}
    for name, case in cases.items():
        tensor = torch.from_numpy(np.asarray(case["rows"], dtype=np.float32))
        body = case["body"]
        results[name] = _timed(forward, lambda t=tensor: t, case["calls"])
        results[name + ":handler"] = _timed(handler, lambda b=body: json.loads(b), case["calls"])
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["score", "raw", "torch-raw", "paired"], required=True)
    parser.add_argument(
        "--contender",
        action="append",
        default=[],
        help="paired mode: NAME=ARTIFACT_DIR, repeatable",
    )
    parser.add_argument("--artifact")
    parser.add_argument("--model")
    parser.add_argument("--cases", required=True)
    parser.add_argument("--only", default=None, help="comma-separated case names")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with open(args.cases, encoding="utf-8") as f:
        cases = json.load(f)
    if args.only:
        keep = set(args.only.split(","))
        cases = {k: v for k, v in cases.items() if k in keep}
    warnings.simplefilter("ignore")  # sklearn's feature-name warning would print per call
    if args.mode == "score":
        results = run_score(args.artifact, cases)
    elif args.mode == "paired":
        results = run_paired(args.contender, args.model, cases)
    elif args.mode == "raw":
        results = run_raw(args.model, cases)
    else:
        results = run_torch_raw(args.model, cases)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
