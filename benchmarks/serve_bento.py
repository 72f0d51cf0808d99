"""Minimal BentoML services around benchmarks/serve_bench.py's models, as a BentoML user
would write them (serve_bench.py copies this file into its work folder as service.py and
runs `bentoml serve service:RandomForest` or `service:SmallCNN` there).

$SERVE_BENCH_WORK is the folder with the models (serve_fixtures.py make), and
$SERVE_BENCH_WORKERS the number of worker processes.
"""

import os
import sys
from typing import Annotated

import bentoml
import numpy as np
from bentoml.validators import DType, Shape

WORK = os.environ["SERVE_BENCH_WORK"]
WORKERS = int(os.environ.get("SERVE_BENCH_WORKERS", "2"))


@bentoml.service(workers=WORKERS)
class RandomForest:
    def __init__(self) -> None:
        import joblib

        self.model = joblib.load(os.path.join(WORK, "rf.joblib"))

    @bentoml.api
    def predict(self, columns: dict[str, list[float]]) -> list[int]:
        import pandas as pd

        return self.model.predict(pd.DataFrame(columns)).tolist()


@bentoml.service(workers=WORKERS)
class SmallCNN:
    def __init__(self) -> None:
        import torch

        sys.path.insert(0, WORK)
        from bench_cnn import SmallCNN

        self.torch = torch
        self.net = SmallCNN().eval()
        self.net.load_state_dict(torch.load(os.path.join(WORK, "cnn_weights.pt")))

    @bentoml.api
    def predict(
        self, x: Annotated[np.ndarray, DType("float32"), Shape((-1, 3, 32, 32))]
    ) -> np.ndarray:
        with self.torch.no_grad():
            return self.net(self.torch.from_numpy(x)).numpy()
