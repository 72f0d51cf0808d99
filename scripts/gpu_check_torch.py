"""GPU check, PyTorch half (run by scripts/gpu-check.sh on a machine with a CUDA device).

Trains a small CNN on 1x8x8 images, saves it as TorchScript, torch.export (.pt2) and a
state_dict, prepares each with mdreg, runs `mdreg verify` on it, then imports the
artifact's score.py in a fresh interpreter and asserts that the model's parameters and the
request's tensor sit on CUDA and that the predictions match the model's own (on the CPU).
Also checks that several workers spread over the GPUs by slot, when there are several.

    python scripts/gpu_check_torch.py [WORKDIR]

Exit 0 when every check passes; each failure is printed as "FAIL ...".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import warnings
from pathlib import Path

import numpy as np

try:
    import torch
except ImportError:
    sys.exit("torch is not installed: pip install 'mdreg[torch]'")

warnings.filterwarnings("ignore", category=DeprecationWarning)  # torch.jit, on purpose
ROOT = Path(__file__).resolve().parent.parent
CODE = """
import torch
from torch import nn


class SmallCNN(nn.Module):
    def __init__(self, n_classes=3):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Linear(4 * 4 * 4, n_classes)

    def forward(self, x):
        return self.head(torch.flatten(self.features(x), 1))
"""
PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import score
model = score.load_model()
images = json.load(open(sys.argv[2]))
x = score.to_tensor(images, model)
print(json.dumps({
    "device": str(score.DEVICE),
    "params": sorted({str(p.device) for p in model.parameters()}),
    "input": str(x.device),
    "prediction": score.predict(images)["prediction"],
}))
"""


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args),
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


def mdreg(*args: str) -> subprocess.CompletedProcess[str]:
    return run(sys.executable, "-m", "mdreg", *args)


def main(work: Path) -> int:
    if not torch.cuda.is_available():
        print("FAIL no CUDA device visible")
        return 1
    n_gpus = torch.cuda.device_count()
    print(f"torch {torch.__version__}, {n_gpus} CUDA device(s): {torch.cuda.get_device_name(0)}")
    (work / "nets.py").write_text(CODE)
    sys.path.insert(0, str(work))
    import nets

    rng = np.random.default_rng(0)
    labels = np.tile(np.arange(3), 20)
    images = rng.normal(0, 0.2, (60, 1, 8, 8)).astype(np.float32)
    for i, label in enumerate(labels):
        r, c = [(0, 0), (4, 4), (0, 4)][label]
        images[i, 0, r : r + 4, c : c + 4] += 1.0
    torch.manual_seed(0)
    model = nets.SmallCNN()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    x, y = torch.from_numpy(images), torch.tensor(labels)
    for _ in range(30):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        expected = model(x[:4]).numpy()
    (work / "images.json").write_text(json.dumps(images[:4].tolist()))

    forms = {
        "torchscript": (work / "cnn_script.pt", ["--trust"]),
        "export": (work / "cnn.pt2", []),
        "state_dict": (
            work / "cnn_state.pt",
            ["--model-class", "nets:SmallCNN", "--model-code", str(work / "nets.py")],
        ),
    }
    torch.jit.save(torch.jit.script(model), forms["torchscript"][0])
    program = torch.export.export(
        model, (x[:2],), dynamic_shapes={"x": {0: torch.export.Dim("batch")}}
    )
    torch.export.save(program, forms["export"][0])
    torch.save(model.state_dict(), forms["state_dict"][0])

    failures = 0
    for form, (path, flags) in forms.items():
        art = work / f"art-{form}"
        prep = mdreg("prepare", str(path), "-o", str(art), "--force", *flags)
        if prep.returncode != 0:
            print(f"FAIL {form}: prepare exited {prep.returncode}: {prep.stderr.strip()}")
            failures += 1
            continue
        ver = mdreg("verify", str(art), "--data", str(work / "images.json"))
        probe = run(sys.executable, "-c", PROBE, str(art), str(work / "images.json"))
        if ver.returncode != 0 or probe.returncode != 0:
            print(
                f"FAIL {form}: verify exited {ver.returncode}: {ver.stderr.strip()[-800:]}\n"
                f"  probe: {probe.stderr.strip()[-800:]}"
            )
            failures += 1
            continue
        doc = json.loads(probe.stdout.splitlines()[-1])
        close = np.allclose(doc["prediction"], expected, atol=1e-3)
        on_cuda = (
            doc["device"].startswith("cuda")
            and doc["input"].startswith("cuda")
            and all(p.startswith("cuda") for p in doc["params"])
        )
        status = "PASS" if on_cuda and close else "FAIL"
        failures += status == "FAIL"
        print(
            f"{status} {form}: model on {doc['params']}, input on {doc['input']}, "
            f"predictions match the model's own: {close}"
        )

    # several workers: each claims a slot and takes GPU slot % count
    art = work / "art-export"
    slots = []
    holders = []
    for _ in range(min(max(n_gpus, 2), 4)):
        p = subprocess.Popen(
            [
                sys.executable,
                "-c",
                textwrap.dedent(f"""
            import sys
            sys.path.insert(0, {str(art)!r})
            import score
            print(score.DEVICE, flush=True)
            sys.stdin.read()
        """),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        holders.append(p)
        slots.append(p.stdout.readline().strip())
    for p in holders:
        p.stdin.close()
        p.wait(timeout=60)
    want = [f"cuda:{i % n_gpus}" for i in range(len(slots))]
    status = "PASS" if slots == want else "FAIL"
    failures += status == "FAIL"
    print(f"{status} workers started one after another took {slots} (expected {want})")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) > 1:
        workdir = Path(sys.argv[1])
        workdir.mkdir(parents=True, exist_ok=True)
        sys.exit(main(workdir))
    with tempfile.TemporaryDirectory(prefix="mdreg-gpu-torch-") as tmp:
        sys.exit(main(Path(tmp)))
