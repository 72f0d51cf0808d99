"""Inputs for the peer benchmarks, made in the mdreg venv (a child of peers.py, so that
peers.py itself stays small).

    python fixtures.py iris WORK          # iris_rf.joblib, iris_x.csv, iris_y.csv
    python fixtures.py serve-cases WORK   # serve_cases.json (1 and 10,000 rows, 4 formats)
    python fixtures.py cnn WORK           # cnn.pt (TorchScript), cnn_x.npy, cnn_cases.json
    python fixtures.py big ART GIB        # ART/weights.bin: GIB GiB of random bytes
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

SERVE_SIZES = {1: 100, 10_000: 12}  # rows per request: timed calls per process
CNN_BATCHES = {1: 100, 64: 30}
#: Request bodies, as a client would send them; every one decodes to the same rows.
FORMATS = ("envelope", "columns", "rows", "records")


def iris(work: Path) -> None:
    import joblib
    import pandas as pd
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    X, y = load_iris(return_X_y=True, as_frame=True)
    model = RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y)
    joblib.dump(model, work / "iris_rf.joblib")
    X.to_csv(work / "iris_x.csv", index=False)
    pd.DataFrame({"target": model.predict(X)}).to_csv(work / "iris_y.csv", index=False)


def serve_cases(work: Path) -> None:
    """Request bodies for 1 and 10,000 iris rows (drawn with replacement), in the formats
    clients send: ADS's envelope (what ADS's own client sends for a DataFrame:
    ``{"data": df.to_json(), "data_type": "<class 'pandas.core.frame.DataFrame'>"}``),
    a dict of columns, a list of rows, a list of records."""
    import numpy as np
    import pandas as pd

    X = pd.read_csv(work / "iris_x.csv")
    rng = np.random.default_rng(0)
    cases = {}
    for n, calls in SERVE_SIZES.items():
        df = X.iloc[rng.integers(0, len(X), n)].reset_index(drop=True)
        rows = df.to_numpy().tolist()
        bodies = {
            "envelope": {"data": df.to_json(), "data_type": str(type(df))},
            "columns": df.to_dict(orient="list"),
            "rows": rows,
            "records": df.to_dict(orient="records"),
        }
        for fmt in FORMATS:
            cases[f"{fmt}/{n}"] = {
                "body": json.dumps(bodies[fmt]),
                "rows": rows,
                "columns": list(df.columns),
                "calls": calls,
            }
    (work / "serve_cases.json").write_text(json.dumps(cases))


def cnn(work: Path) -> None:
    """A small CNN for 3x32x32 images (two conv layers, 10 classes), as TorchScript."""
    import numpy as np
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

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(SmallCNN().eval()), str(work / "cnn.pt"))
    rng = np.random.default_rng(0)
    np.save(work / "cnn_x.npy", rng.standard_normal((8, 3, 32, 32)).astype("float32"))
    cases = {}
    for n, calls in CNN_BATCHES.items():
        rows = np.round(rng.standard_normal((n, 3, 32, 32)), 4).tolist()
        cases[f"rows/{n}"] = {
            "body": json.dumps(rows),
            "rows": rows,
            "columns": None,
            "calls": calls,
        }
    (work / "cnn_cases.json").write_text(json.dumps(cases))


def big(art: Path, gib: float) -> None:
    block = os.urandom(1 << 20)
    with open(art / "weights.bin", "wb") as f:
        f.writelines(block for _ in range(int(gib * 1024)))


def main() -> None:
    job, path, *rest = sys.argv[1:]
    path = Path(path)
    if job == "big":
        big(path, float(rest[0]))
    else:
        path.mkdir(parents=True, exist_ok=True)
        {"iris": iris, "serve-cases": serve_cases, "cnn": cnn}[job](path)


if __name__ == "__main__":
    main()
