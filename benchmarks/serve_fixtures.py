"""Models, request bodies and the raw floor for benchmarks/serve_bench.py. Each job runs
as a whole process in the venv that has what it needs:

    python serve_fixtures.py make WORK            (mdreg venv) the models, X samples,
                                                  every contender's request bodies and
                                                  the raw model's answers (expected.json)
    python serve_fixtures.py mlflow WORK          (MLflow venv) the same models saved with
                                                  mlflow.sklearn and mlflow.pytorch
    python serve_fixtures.py raw WORK CASE S OUT  (mdreg venv) the raw model.predict /
                                                  forward for CASE, looped for S seconds
    python serve_fixtures.py stages WORK ART CASE S OUT
                                                  (mdreg venv) score.py's own work for
                                                  CASE, in process: json.loads,
                                                  predict, json.dumps, as the worker does
    python serve_fixtures.py paired WORK PORT CASE S OUT
                                                  (mdreg venv) the raw predict and one
                                                  request to `mdreg serve` at PORT, in
                                                  turn, for S seconds: the served
                                                  request's cost over the raw call, pair
                                                  by pair (a slow spell on the shared
                                                  machine slows both of a pair)

The models: a scikit-learn RandomForestClassifier (100 trees) fitted on a synthetic
table of 20 float columns (2,000 rows), and a small CNN (two conv layers, 10 classes,
input 3x32x32) in eager PyTorch, whose class lives in WORK/bench_cnn.py so that every
contender loads the same weights (cnn_weights.pt, a state_dict) into the same code.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

N_FEATURES = 20
RF_ROWS = (1, 1000)
CNN_BATCH = 16

CNN_CODE = '''"""The benchmark's small CNN: 3x32x32 images, two conv layers, 10 classes."""

import torch


class SmallCNN(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 16, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(16, 32, 3, padding=1)
        self.fc = torch.nn.Linear(32 * 8 * 8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc(x.flatten(1))
'''


def _dump(path: Path, doc: object) -> None:
    path.write_bytes(json.dumps(doc, separators=(",", ":")).encode())


def make(work: Path) -> None:
    import joblib
    import numpy as np
    import pandas as pd
    import torch
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    from mdreg.payload import encode

    work.mkdir(parents=True, exist_ok=True)
    X, y = make_classification(
        n_samples=2000, n_features=N_FEATURES, n_informative=10, random_state=0
    )
    columns = [f"f{i}" for i in range(N_FEATURES)]
    frame = pd.DataFrame(X.round(4), columns=columns)
    model = RandomForestClassifier(n_estimators=100, random_state=0).fit(frame, y)
    joblib.dump(model, work / "rf.joblib")
    frame.sample(200, random_state=0).to_csv(work / "rf_x.csv", index=False)
    expected: dict[str, list] = {}
    rng = np.random.default_rng(0)
    for n in RF_ROWS:
        rows = frame.iloc[rng.integers(0, len(frame), n)].reset_index(drop=True)
        rows.to_csv(work / f"rf_{n}.csv", index=False)
        expected[f"rf-{n}"] = model.predict(rows).tolist()
        _dump(work / f"rf_{n}.mdreg.json", rows.to_dict(orient="list"))
        split = {"columns": columns, "data": rows.to_numpy().tolist()}
        _dump(work / f"rf_{n}.mlflow.json", {"dataframe_split": split})
        _dump(work / f"rf_{n}.bentoml.json", {"columns": rows.to_dict(orient="list")})

    (work / "bench_cnn.py").write_text(CNN_CODE)
    sys.path.insert(0, str(work))
    from bench_cnn import SmallCNN

    torch.manual_seed(0)
    net = SmallCNN().eval()
    torch.save(net.state_dict(), work / "cnn_weights.pt")
    x = rng.standard_normal((CNN_BATCH, 3, 32, 32)).astype("float32")
    np.save(work / "cnn_x.npy", x)
    with torch.no_grad():
        expected[f"cnn-{CNN_BATCH}"] = net(torch.from_numpy(x)).numpy().tolist()
    (work / f"cnn_{CNN_BATCH}.npy").write_bytes(encode(x, "npy"))
    _dump(work / f"cnn_{CNN_BATCH}.mlflow.json", {"inputs": x.tolist()})
    _dump(work / f"cnn_{CNN_BATCH}.bentoml.json", {"x": x.tolist()})
    _dump(work / "expected.json", expected)


def mlflow(work: Path) -> None:
    import joblib
    import mlflow.pytorch
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    import sklearn
    import torch
    from mlflow.models import infer_signature

    model = joblib.load(work / "rf.joblib")
    X = pd.read_csv(work / "rf_x.csv")
    mlflow.sklearn.save_model(
        model,
        str(work / "mlflow-rf"),
        signature=infer_signature(X, model.predict(X)),
        pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
        skops_trusted_types=["sklearn.tree._tree.Tree"],
    )
    sys.path.insert(0, str(work))
    from bench_cnn import SmallCNN

    net = SmallCNN().eval()
    net.load_state_dict(torch.load(work / "cnn_weights.pt"))
    x = np.load(work / "cnn_x.npy")
    with torch.no_grad():
        out = net(torch.from_numpy(x)).numpy()
    mlflow.pytorch.save_model(
        net,
        str(work / "mlflow-cnn"),
        signature=infer_signature(x, out),
        input_example=x,  # MLflow 3's default format, pt2 (torch.export), traces with it
        code_paths=[str(work / "bench_cnn.py")],
        pip_requirements=[f"torch=={torch.__version__}"],
    )


def _loop(call, seconds: float) -> list[float]:
    """Per-call seconds of ``call()`` repeated for ``seconds`` (after 0.5 s of warm-up)."""
    clock = time.perf_counter
    end_warm = clock() + 0.5
    while clock() < end_warm:
        call()
    times: list[float] = []
    stop = clock() + seconds
    while True:
        t0 = clock()
        call()
        t1 = clock()
        times.append(t1 - t0)
        if t1 >= stop:
            return times


def _summary(times: list[float], **extra: object) -> dict:
    ms = sorted(t * 1000 for t in times)
    n = len(ms)
    return {
        "calls": n,
        "seconds": sum(times),
        "rps": n / sum(times),
        "p50_ms": statistics.median(ms),
        "p99_ms": ms[min(n - 1, int(0.99 * n))],
        "mean_ms": statistics.fmean(ms),
        **extra,
    }


def _raw_call(work: Path, case: str, array: bool = False):
    """The floor for ``case``: the model called on rows already in memory, as its owner
    would call it (a DataFrame for the forest, a tensor for the CNN). ``array``: the
    forest given the same rows as one float array, which skips scikit-learn's checks of
    a DataFrame (what score.py does, having put the columns in order itself): the
    lower floor."""
    import numpy as np

    if case.startswith("rf-"):
        import warnings

        import joblib
        import pandas as pd

        model = joblib.load(work / "rf.joblib")
        rows = pd.read_csv(work / f"rf_{case[3:]}.csv")
        if not array:
            return lambda: model.predict(rows)
        values = rows.to_numpy()

        def predict_array() -> object:
            with warnings.catch_warnings():  # "X does not have valid feature names"
                warnings.simplefilter("ignore", UserWarning)
                return model.predict(values)

        return predict_array
    import torch

    sys.path.insert(0, str(work))
    from bench_cnn import SmallCNN

    net = SmallCNN().eval()
    net.load_state_dict(torch.load(work / "cnn_weights.pt"))
    x = torch.from_numpy(np.load(work / "cnn_x.npy"))

    def forward() -> object:
        with torch.no_grad():
            return net(x).numpy()

    return forward


def raw(work: Path, case: str, seconds: float, out: Path) -> None:
    import numpy as np

    call = _raw_call(work, case)
    got = np.asarray(call(), dtype=float)
    expected = np.asarray(json.loads((work / "expected.json").read_text())[case], dtype=float)
    same = got.shape == expected.shape and np.allclose(got, expected, atol=1e-4)
    if not case.startswith("rf-"):
        out.write_text(json.dumps(_summary(_loop(call, seconds), same=bool(same))))
        return
    # The forest: the DataFrame call and the array call in turn (the table shows the
    # first; the overhead target is measured from the lower of the two)
    array_call = _raw_call(work, case, array=True)
    frame_times: list[float] = []
    array_times: list[float] = []
    clock = time.perf_counter
    end_warm = clock() + 0.5
    while clock() < end_warm:
        call()
        array_call()
    stop = clock() + seconds
    while clock() < stop:
        t0 = clock()
        call()
        t1 = clock()
        array_call()
        frame_times.append(t1 - t0)
        array_times.append(clock() - t1)
    array = _summary(array_times)
    doc = _summary(frame_times, same=bool(same))
    doc |= {"array_p50_ms": array["p50_ms"], "array_rps": array["rps"]}
    out.write_text(json.dumps(doc))


def stages(work: Path, art: Path, case: str, seconds: float, out: Path) -> None:
    """What the worker does for one request, without the server, against the raw call,
    in turn in this process (so a slow spell slows both): json.loads of the body (a JSON
    request), score.py's predict, json.dumps of the answer; and score.py's reading of
    the body alone (json.loads + deserialize). The difference from the raw call is
    score.py's own cost; the rest of mdreg's latency is HTTP, pipes and the worker."""
    import importlib
    import os

    raw_call = _raw_call(work, case, array=True)
    os.chdir(art)
    sys.path.insert(0, str(art))
    score = importlib.import_module("score")
    if case.startswith("rf-"):
        body = (work / f"rf_{case[3:]}.mdreg.json").read_bytes()

        def full() -> bytes:
            return json.dumps(score.predict(json.loads(body))).encode()

        def read() -> object:
            return score.deserialize(json.loads(body))
    else:
        body = (work / f"cnn_{case[4:]}.npy").read_bytes()

        def full() -> bytes:
            return json.dumps(score.predict(body)).encode()

        def read() -> object:
            return score.deserialize(body)

    clock = time.perf_counter
    times: dict[str, list[float]] = {"raw": [], "score": [], "read": []}
    calls = {"raw": raw_call, "score": full, "read": read}
    end_warm = clock() + 0.5
    while clock() < end_warm:
        for call in calls.values():
            call()
    stop = clock() + seconds
    while clock() < stop:
        for name, call in calls.items():
            t0 = clock()
            call()
            times[name].append(clock() - t0)
    diffs = [(s - r) * 1000 for r, s in zip(times["raw"], times["score"], strict=True)]
    doc = {f"{name}_p50_ms": statistics.median(t) * 1000 for name, t in times.items()}
    doc |= {"calls": len(diffs), "diff_p50_ms": statistics.median(diffs)}
    out.write_text(json.dumps(doc))


def paired(work: Path, port: int, case: str, seconds: float, out: Path) -> None:
    """The raw predict (the array floor), then the same rows as one HTTP request to the
    server (keep-alive, a blocking socket and a minimal parser: little client cost), in
    turn."""
    import socket

    body = (work / f"rf_{case[3:]}.mdreg.json").read_bytes()
    head = f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json"
    request = f"{head}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    raw_call = _raw_call(work, case, array=True)
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    reader = sock.makefile("rb")

    def served() -> None:
        sock.sendall(request)
        status = reader.readline()
        length = 0
        while (line := reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        reader.read(length)
        if b" 200 " not in status:
            raise RuntimeError(f"the server answered {status!r}")

    clock = time.perf_counter
    pairs: list[tuple[float, float]] = []
    end_warm = clock() + 0.5
    while clock() < end_warm:
        raw_call()
        served()
    stop = clock() + seconds
    while clock() < stop:
        t0 = clock()
        raw_call()
        t1 = clock()
        served()
        pairs.append((t1 - t0, clock() - t1))
    sock.close()
    raw_ms = sorted(r * 1000 for r, _ in pairs)
    served_ms = sorted(s * 1000 for _, s in pairs)
    diffs = sorted((s - r) * 1000 for r, s in pairs)
    doc = {
        "pairs": len(pairs),
        "raw_p50_ms": statistics.median(raw_ms),
        "served_p50_ms": statistics.median(served_ms),
        "diff_p50_ms": statistics.median(diffs),
        "diff_p25_ms": diffs[len(diffs) // 4],
        "diff_p75_ms": diffs[3 * len(diffs) // 4],
    }
    out.write_text(json.dumps(doc))


def main() -> None:
    job, work, *rest = sys.argv[1:]
    work = Path(work).resolve()
    if job == "make":
        make(work)
    elif job == "mlflow":
        mlflow(work)
    elif job == "raw":
        raw(work, rest[0], float(rest[1]), Path(rest[2]))
    elif job == "paired":
        paired(work, int(rest[0]), rest[1], float(rest[2]), Path(rest[3]))
    elif job == "stages":
        stages(work, Path(rest[0]).resolve(), rest[1], float(rest[2]), Path(rest[3]))
    else:
        raise SystemExit(f"unknown job {job!r}")


if __name__ == "__main__":
    main()
