"""GPU check for the TensorFlow/Keras score.py (part of scripts/gpu-check.sh).

Trains a small Keras model, saves it as .keras and as a SavedModel (model.export), and for
each: `mdreg prepare`, `mdreg verify` (a fresh interpreter, as the service runs it), then,
in another fresh interpreter that imports the artifact's score.py, asserts that

- memory growth is on for every GPU,
- the model's variables and the request's input tensors sit on a GPU,
- the prediction equals Keras's own (made on the CPU) on the same rows;

and, with two or more GPUs, that two workers started together land on different GPUs.

    python scripts/gpu_check_keras.py [WORKDIR] [--cpu-ok]

--cpu-ok runs the same steps on a machine without a GPU and expects the CPU instead (a
dry run of this script). Exit 0 when every check passes; one JSON report line per step.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROWS = 16
PY = sys.executable


def child(artifact: str, hold: float) -> None:
    """Import score.py as the server would and report where things sit (one JSON line)."""
    import numpy as np

    os.chdir(artifact)
    sys.path.insert(0, artifact)
    import score  # loads the model (predict's default argument)
    import tensorflow as tf

    model = score.load_model()
    rows = json.loads(Path(artifact, ".mdreg", "sample.json").read_text())
    inputs = score.to_device(score.deserialize(rows))  # the model's inputs, as numpy arrays
    if score.MODEL_KIND == "saved_model":
        variables = list(model.signatures[score.SIGNATURE].variables)
    else:
        variables = list(model.weights)
    out = score._call(model, inputs)
    report = {
        "device": score.device(),
        "memory_growth": [
            bool(tf.config.experimental.get_memory_growth(g))
            for g in tf.config.list_physical_devices("GPU")
        ],
        "visible_gpus": [g.name for g in tf.config.get_visible_devices("GPU")],
        "variable_devices": sorted({_device_of(v) for v in variables}),
        "input_devices": sorted({t.device for t in tf.nest.flatten(inputs)}),
        "output_devices": sorted({t.device for t in tf.nest.flatten(out)}),
        "prediction": np.asarray(score.predict(rows)["prediction"]).tolist(),
    }
    time.sleep(hold)  # keep the worker's slot while a sibling starts
    print(json.dumps(report))


def _device_of(variable) -> str:
    # a Keras 3 Variable wraps the backend's variable; a tf.Variable has .device itself
    device = getattr(variable, "device", None)
    return device if isinstance(device, str) else variable.value.device


def run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PY, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, **(env or {})},
    )


def main(work: Path, cpu_ok: bool) -> int:
    import numpy as np
    import pandas as pd
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    print(
        json.dumps(
            {"step": "devices", "gpus": [g.name for g in gpus], "tensorflow": tf.__version__}
        )
    )
    if not gpus and not cpu_ok:
        print("FAIL: TensorFlow sees no GPU (is a CUDA build of tensorflow installed?)")
        return 1
    tf.config.set_visible_devices([], "GPU")  # train here on the CPU: the GPUs stay free
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(256, 8)).astype("float32")
    y = (X[:, :4].sum(axis=1) > 0).astype("int64")
    inp = keras.Input(shape=(8,), name="features")
    hidden = keras.layers.Dense(32, activation="relu")(inp)
    model = keras.Model(inp, keras.layers.Dense(2, activation="softmax")(hidden))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(X, y, epochs=2, verbose=0)
    work.mkdir(parents=True, exist_ok=True)
    model.save(work / "model.keras")
    model.export(str(work / "exported"), verbose=False)
    sample = pd.DataFrame(rng.normal(size=(ROWS, 8)), columns=[f"f{i}" for i in range(8)])
    sample.to_csv(work / "x_sample.csv", index=False)
    expected = model.predict(sample.to_numpy("float32")[:5], verbose=0)  # verify's 5 rows

    failures = []
    want = "GPU" if gpus else "CPU"
    for name in ("model.keras", "exported"):
        art = work / f"art-{name}"
        step = run(
            "-m",
            "mdreg",
            "prepare",
            work / name,
            "-o",
            art,
            "--x-sample",
            work / "x_sample.csv",
            "--force",
        )
        if step.returncode != 0:
            failures.append(f"{name}: prepare failed: {step.stderr.strip()[-500:]}")
            continue
        step = run("-m", "mdreg", "verify", art, "--json")
        doc = json.loads(step.stdout) if step.stdout.strip() else {}
        ok = (
            step.returncode == 0
            and doc.get("ok")
            and np.allclose(doc["prediction"]["prediction"], expected, atol=1e-5)
        )
        print(
            json.dumps(
                {
                    "step": f"verify {name}",
                    "ok": bool(ok),
                    "load_s": doc.get("load_s"),
                    "predict_s": doc.get("predict_s"),
                }
            )
        )
        if not ok:
            failures.append(f"{name}: mdreg verify: {doc.get('error') or step.stderr[-500:]}")
        step = run(__file__, "--child", art, "0")
        if step.returncode != 0:
            failures.append(f"{name}: score.py in a worker failed: {step.stderr.strip()[-1500:]}")
            continue
        report = json.loads(step.stdout.strip().splitlines()[-1])
        prediction = report.pop("prediction")
        print(json.dumps({"step": f"placement {name}", **report}))
        placed = report["variable_devices"] + report["input_devices"] + report["output_devices"]
        if not placed or not all(f"device:{want}:" in d for d in placed):
            failures.append(f"{name}: expected everything on the {want}: {placed}")
        if not all(report["memory_growth"]):
            failures.append(f"{name}: memory growth is off on a GPU: {report['memory_growth']}")
        if not np.allclose(prediction, expected, atol=1e-5):
            failures.append(f"{name}: GPU prediction differs from Keras's own")

    if len(gpus) >= 2:  # two workers at once: the slot locks put them on different GPUs
        art = work / "art-model.keras"
        procs = [
            subprocess.Popen(
                [PY, __file__, "--child", str(art), "5"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        seen = []
        for p in procs:
            out, err = p.communicate(timeout=300)
            # a worker sees only its own GPU, by its physical name (/physical_device:GPU:N)
            seen.append(
                json.loads(out.strip().splitlines()[-1])["visible_gpus"]
                if p.returncode == 0
                else err.strip()[-500:]
            )
        print(json.dumps({"step": "two workers", "visible_gpus": seen}))
        if not all(isinstance(v, list) and len(v) == 1 for v in seen) or seen[0] == seen[1]:
            failures.append(f"two workers did not get one GPU each, different ones: {seen}")
    for f in failures:
        print("FAIL:", f)
    print("PASS" if not failures else f"{len(failures)} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    argv = sys.argv[1:]
    if argv[:1] == ["--child"]:
        child(argv[1], float(argv[2]))
        sys.exit(0)
    cpu_ok = "--cpu-ok" in argv
    rest = [a for a in argv if a != "--cpu-ok"]
    workdir = Path(rest[0]) if rest else Path(tempfile.mkdtemp(prefix="mdreg-gpu-keras-"))
    sys.exit(main(workdir, cpu_ok))
