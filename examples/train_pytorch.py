"""Train a small PyTorch model and write it, with sample data, to a folder.

    python examples/train_pytorch.py examples/out

writes model.pt2 (an MLP on iris-like data, saved with torch.export so that it carries
its own code and loads without --trust) and x_sample.csv: the inputs of `mdreg prepare`.
Prints the model's path.

The other forms mdreg takes, for reference:

    torch.jit.save(torch.jit.script(model), "model.pt")  # TorchScript: --trust
    torch.save(model, "model.pt")                         # --trust --model-code nets.py
    torch.save(model.state_dict(), "weights.pt")          # --model-class nets:MLP
                                                          #   --model-code nets.py
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


class MLP(nn.Module):
    def __init__(self, n_in: int = 4, hidden: int = 16, n_out: int = 3) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def iris_like(n_per_class: int = 50, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Three Gaussian blobs around the iris species' mean measurements."""
    rng = np.random.default_rng(seed)
    centers = np.array([[5.0, 3.4, 1.5, 0.2], [5.9, 2.8, 4.3, 1.3], [6.6, 3.0, 5.6, 2.0]])
    y = np.repeat(np.arange(3), n_per_class)
    X = centers[y] + rng.normal(0, 0.3, (len(y), 4))
    return pd.DataFrame(X.round(2), columns=FEATURES), y


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    X, y = iris_like()
    xt = torch.tensor(X.to_numpy(), dtype=torch.float32)
    yt = torch.tensor(y)
    torch.manual_seed(0)
    model = MLP()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(200):
        opt.zero_grad()
        nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    model.eval()
    batch = torch.export.Dim("batch")  # any number of rows per request
    program = torch.export.export(model, (xt[:2],), dynamic_shapes={"x": {0: batch}})
    torch.export.save(program, out / "model.pt2")
    X.sample(30, random_state=0).to_csv(out / "x_sample.csv", index=False)
    print(out / "model.pt2")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "examples/out"))
