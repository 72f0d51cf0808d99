"""Request payloads for score.py (issue 9): time per request as the server sees it.

    python benchmarks/payload_bench.py [--device cpu|cuda] [--runs N] [--out FILE] [--write]
    python benchmarks/payload_bench.py --ads [--runs N] [--write]     # vs ADS's score.py
    python benchmarks/payload_bench.py --import-result FILE          # a result -> RESULTS.md
    make bench-payloads;  python benchmarks/run.py --only payloads,payloads-ads

Cases: a TorchScript ResNet-18 (224 px, defined here, random weights) at batch 1 and 16,
a small CNN at batch 64, and a 100,000-row request for a scikit-learn RandomForest. The
artifacts are made by ``mdreg.prepare`` and their score.py imported from the artifact
folder (on sys.path), as the deployment server does. A call is what the server does for
one request: ``json.loads(body)`` for a JSON body (the raw bytes otherwise), then
``score.predict(...)``, then ``json.dumps(answer)``. The raw contenders are the model
itself: ``torch.from_numpy(x).to(device)``, forward under inference_mode, ``.cpu()``
(and, on a GPU, the same from an already pinned tensor); ``model.predict(DataFrame)``.

All contenders of a case live in one process and their calls are interleaved (A B C,
B C A, ...), each call timed alone (gc.collect() before it, untimed; on a GPU
torch.cuda.synchronize() on both sides): every contender meets the same machine state,
which is the fairest ratio on a shared machine. Environment switches that score.py
reads at import (MDREG_RESPONSE=npy, MDREG_PIN_MEMORY=1) get their own import of the
same artifact under another module name.

``--device cuda`` fails unless a GPU is visible. ``--out FILE`` writes the markdown
section to FILE and the raw numbers to FILE.json; ``--import-result FILE`` puts such a
file into benchmarks/RESULTS.md as section ``payloads-gpu`` (or ``payloads`` for a CPU
result) with the measuring machine's own header line.

The module imports only the standard library at the top: ``--ads-worker`` and
``--ads-prepare`` run it under the ADS venv's interpreter, where mdreg is not installed.
"""

from __future__ import annotations

import argparse
import base64
import gc
import importlib.util
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

TORCH_CASES = [("resnet18", 1), ("resnet18", 16), ("cnn", 64)]
TABLE_ROWS = 100_000
CASE_BUDGET_S = 60.0  # rounds of a case stop once they would pass this (at least 3 rounds)
REP_TARGET_S = 0.25  # cheap contenders repeat within a round up to about this long
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
TARGET_BINARY = 2.0  # binary tensor payload at batch 16 on a GPU, over raw-with-transfer
TARGET_ARROW = 1.3  # Arrow 100k rows over raw model.predict

CACHE = Path(os.environ.get("MDREG_BENCH_CACHE", "~/.cache/mdreg-bench")).expanduser()
ADS_VENV = Path(os.environ.get("MDREG_BENCH_ADS_VENV", CACHE / "ads-venv")).expanduser()
# torch for the ADS venv goes into its own folder (PYTHONPATH), so the venv the peers
# benchmark times stays exactly as peers.py made it.
ADS_TORCH = Path(os.environ.get("MDREG_BENCH_ADS_TORCH", CACHE / "ads-torch")).expanduser()
TORCH_PIN = "torch==2.13.0"  # the CPU build on this machine's disk; anything else downloads CUDA


# ---------------------------------------------------------------------------------------
# Models (defined here: torchvision is not a dependency)


def _torch_modules():
    import torch
    from torch import nn

    class BasicBlock(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
                )
            else:
                self.downsample = nn.Identity()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + self.downsample(x))

    class ResNet18(nn.Module):
        """torchvision's resnet18 layout: 11,689,512 parameters, 1000 classes."""

        def __init__(self, num_classes: int = 1000) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            layers, cin = [], 64
            for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
                layers.append(
                    nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1))
                )
                cin = cout
            self.layer1, self.layer2, self.layer3, self.layer4 = layers
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(512, num_classes)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    class SmallCNN(nn.Module):
        """The peers-torch CNN: two conv layers, 10 classes, 3x32x32 input."""

        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
            self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
            self.fc = nn.Linear(32 * 8 * 8, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = torch.nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
            x = torch.nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
            return self.fc(x.flatten(1))

    return {"resnet18": (ResNet18, (3, 224, 224)), "cnn": (SmallCNN, (3, 32, 32))}


def make_torch_model(name: str, work: Path) -> tuple[Path, Path, tuple[int, ...], int]:
    """(TorchScript file, x-sample .npy, item shape, parameter count)."""
    import numpy as np
    import torch

    cls, shape = _torch_modules()[name]
    torch.manual_seed(0)
    module = cls().eval()
    params = sum(p.numel() for p in module.parameters())
    path, sample = work / f"{name}.pt", work / f"{name}_x.npy"
    with warnings.catch_warnings():  # torch.jit is deprecated for authoring; still loads
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(module), str(path))
    np.save(sample, np.random.default_rng(0).standard_normal((2, *shape)).astype("float32"))
    return path, sample, shape, params


def mdreg_prepare(model: Path, out: Path, sample: Path) -> Path:
    """The artifact as ``mdreg prepare MODEL --x-sample SAMPLE --trust --force`` makes it
    (TorchScript holds code, so mdreg's safety gate asks for --trust)."""
    from mdreg import prepare

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepare(model, out, x_sample=sample, trust=True, force=True)
    return out


def import_score(artifact: Path, name: str, env: dict[str, str] | None = None):
    """Import ARTIFACT/score.py as module ``name`` with the artifact on sys.path (the
    server's way; load_model() runs here), with ``env`` set while it is imported."""
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    sys.path.insert(0, str(artifact))
    try:
        spec = importlib.util.spec_from_file_location(name, artifact / "score.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(artifact))
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# ---------------------------------------------------------------------------------------
# Timing (standard library only: the ADS worker uses it too)


class Contender:
    def __init__(self, name: str, fn, body: str = "", mb: float | None = None) -> None:
        self.name, self.fn, self.body, self.mb = name, fn, body, mb
        self.times: list[float] = []
        self.cpu: list[float] = []  # process CPU seconds of each timed call
        self.output = None
        self.error: str | None = None
        self.reps = 1
        self.warm_s = 0.0


def _call(c: Contender, sync) -> tuple[float, float]:
    gc.collect()
    sync()
    start, cpu = time.perf_counter(), time.process_time()
    c.output = c.fn()
    sync()
    return time.perf_counter() - start, time.process_time() - cpu


def interleave(
    contenders: list[Contender],
    rounds: int,
    sync=lambda: None,
    warmup: int = 2,
    budget_s: float = CASE_BUDGET_S,
) -> int:
    """Warm each contender up, then ``rounds`` rounds (fewer if they would pass
    ``budget_s``, at least 3), the order rotating each round; cheap contenders repeat
    within a round. Returns the rounds run."""
    for c in contenders:
        try:
            for _ in range(warmup):
                c.warm_s = _call(c, sync)[0]
        except Exception as exc:  # noqa: BLE001 - a payload this score.py does not take
            text = " ".join(str(exc).split()).replace("|", "/")
            c.error = f"{type(exc).__name__}: {text[:300]}"
        c.reps = max(1, min(5, int(REP_TARGET_S / max(c.warm_s, 1e-6))))
    live = [c for c in contenders if c.error is None]
    per_round = sum(c.warm_s * c.reps for c in live) or 1e-6
    rounds = max(min(rounds, 3), min(rounds, int(budget_s / per_round)))
    for r in range(rounds):
        shift = r % max(1, len(live))
        for c in live[shift:] + live[:shift]:
            for _ in range(c.reps):
                wall, cpu = _call(c, sync)
                c.times.append(wall)
                c.cpu.append(cpu)
    return rounds


def summary(c: Contender) -> dict:
    if c.error:
        return {"name": c.name, "body": c.body, "mb": c.mb, "error": c.error}
    return {
        "name": c.name,
        "body": c.body,
        "mb": c.mb,
        "median_ms": statistics.median(c.times) * 1000,
        "min_ms": min(c.times) * 1000,
        "max_ms": max(c.times) * 1000,
        "calls": len(c.times),
        "cpu_ms": statistics.median(c.cpu) * 1000,
    }


def _mb(body: bytes) -> float:
    return len(body) / 1e6


def _npy(array) -> bytes:
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _prediction(answer_text: str):
    """The prediction in a score.py answer, base64 .npy envelopes decoded."""
    import numpy as np

    doc = json.loads(answer_text)["prediction"]
    if isinstance(doc, dict) and "numpy" in str(doc.get("data_type", "")):
        return np.load(io.BytesIO(base64.b64decode(doc["data"])), allow_pickle=False)
    return np.asarray(doc)


def _check(contenders: list[Contender], reference) -> list[str]:
    """Each contender's last answer against the raw model's output ("–" for a failed one)."""
    import numpy as np

    ref = (
        np.asarray(reference, dtype=np.float64)
        if np.asarray(reference).dtype.kind == "f"
        else np.asarray(reference)
    )
    out = []
    for c in contenders:
        out.append("–")
        if c.error or c.output is None:
            continue
        try:
            got = _prediction(c.output) if isinstance(c.output, (str, bytes)) else c.output
            got = got.numpy() if hasattr(got, "numpy") else np.asarray(got)
            if ref.dtype.kind == "f":
                diff = (
                    float(np.max(np.abs(got.astype(np.float64) - ref)))
                    if got.shape == ref.shape
                    else None
                )
                scale = float(np.max(np.abs(ref))) or 1.0
                out[-1] = (
                    "yes"
                    if diff is not None and diff <= 1e-3 * scale
                    else f"NO (max diff {diff})"
                    if diff is not None
                    else f"NO (shape {got.shape})"
                )
            else:
                out[-1] = "yes" if np.array_equal(got, ref) else "NO"
        except Exception as exc:  # noqa: BLE001
            out[-1] = f"? ({type(exc).__name__}: {exc})"
    return out


# ---------------------------------------------------------------------------------------
# The measurement (one process)


def _device_meta(torch, device: str) -> dict:
    meta = {"torch": torch.__version__, "torch_threads": torch.get_num_threads()}
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        meta.update(
            gpu=torch.cuda.get_device_name(0),
            gpu_mem_gib=round(props.total_memory / 2**30),
            cuda=torch.version.cuda,
        )
    return meta


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(
                (line.split(":", 1)[1].strip() for line in f if line.startswith("model name")),
                platform.machine(),
            )
    except OSError:
        return platform.processor() or platform.machine()


def _versions(names: list[str]) -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for n in names:
        try:
            out[n] = md.version(n)
        except md.PackageNotFoundError:
            pass
    return out


def measure_torch(
    work: Path, device: str, runs: int, cases=TORCH_CASES, gpu_contenders: bool = False
) -> list[dict]:
    """``gpu_contenders``: the MDREG_PIN_MEMORY=1 imports on a CPU run too (the same code
    as on a GPU; a smoke test of that path: on a CPU nothing is pinned)."""
    import numpy as np
    import torch

    dev = torch.device(device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    # On a CPU run score.py is told so (a GPU machine would otherwise pick its GPU); on
    # a GPU run it picks the device itself (one GPU: cuda:0), as it does when deployed.
    score_env = {"MDREG_DEVICE": "cpu"} if device == "cpu" else {}
    results, made = [], {}
    for name, batch in cases:
        if name not in made:
            started = time.perf_counter()
            path, sample, shape, params = make_torch_model(name, work)
            art = mdreg_prepare(path, work / f"art-{name}", sample)
            prep_s = time.perf_counter() - started
            scores = {
                "json": import_score(art, f"score_{name}", score_env),
                "npy": import_score(
                    art, f"score_{name}_npy", {**score_env, "MDREG_RESPONSE": "npy"}
                ),
            }
            if device == "cuda" or gpu_contenders:
                scores["pin"] = import_score(
                    art, f"score_{name}_pin", {**score_env, "MDREG_PIN_MEMORY": "1"}
                )
                scores["npy_pin"] = import_score(
                    art,
                    f"score_{name}_npy_pin",
                    {**score_env, "MDREG_PIN_MEMORY": "1", "MDREG_RESPONSE": "npy"},
                )
            for s in scores.values():
                if str(s.DEVICE).split(":")[0] != device:
                    raise SystemExit(f"score.py placed the model on {s.DEVICE}, not {device}")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = torch.jit.load(str(path), map_location=dev).eval()
            made[name] = (model, scores, shape, params, prep_s)
        model, scores, shape, params, prep_s = made[name]
        x = np.random.default_rng(batch).standard_normal((batch, *shape)).astype("float32")
        npy_body = _npy(x)
        json_body = json.dumps(x.tolist(), separators=(",", ":")).encode()  # nested lists

        def raw(x=x, model=model):
            with torch.inference_mode():
                return model(torch.from_numpy(x).to(dev)).cpu()

        contenders = [
            Contender("raw: from_numpy(x).to(device), forward, .cpu()", raw, "array", None)
        ]
        if device == "cuda":
            pinned = torch.from_numpy(x).pin_memory()

            def raw_pinned(p=pinned, model=model):
                with torch.inference_mode():
                    return model(p.to(dev, non_blocking=True)).cpu()

            contenders.append(
                Contender(
                    "raw from pinned memory: .to(device, non_blocking=True)",
                    raw_pinned,
                    "pinned tensor",
                    None,
                )
            )

        def served(score, body, decode):
            if decode:
                return lambda: json.dumps(score.predict(json.loads(body)))
            return lambda: json.dumps(score.predict(body))

        contenders += [
            Contender(
                "mdreg score.py, JSON lists body, JSON answer",
                served(scores["json"], json_body, True),
                "json",
                _mb(json_body),
            ),
            Contender(
                "mdreg score.py, .npy body, JSON answer",
                served(scores["json"], npy_body, False),
                "npy",
                _mb(npy_body),
            ),
            Contender(
                "mdreg score.py, .npy body, .npy answer (MDREG_RESPONSE=npy)",
                served(scores["npy"], npy_body, False),
                "npy",
                _mb(npy_body),
            ),
        ]
        if "pin" in scores:
            contenders += [
                Contender(
                    "mdreg score.py, .npy body, JSON answer, MDREG_PIN_MEMORY=1",
                    served(scores["pin"], npy_body, False),
                    "npy",
                    _mb(npy_body),
                ),
                Contender(
                    "mdreg score.py, .npy body, .npy answer, MDREG_PIN_MEMORY=1",
                    served(scores["npy_pin"], npy_body, False),
                    "npy",
                    _mb(npy_body),
                ),
            ]
        started = time.perf_counter()
        rounds = interleave(contenders, runs, sync, warmup=3 if device == "cuda" else 2)
        reference = raw().numpy()
        checks = _check(contenders, reference)
        results.append(
            {
                "case": f"{name}/{batch}",
                "model": name,
                "batch": batch,
                "params": params,
                "prepare_s": prep_s,
                "rounds": rounds,
                "seconds": time.perf_counter() - started,
                "out_shape": list(reference.shape),
                "contenders": [{**summary(c), "same": same} for c, same in zip(contenders, checks)],
            }
        )
        print(
            f"payload_bench: {name}/{batch} done in {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
            flush=True,
        )
    return results


def measure_table(work: Path, runs: int, rows: int = TABLE_ROWS) -> dict:
    import joblib
    import numpy as np
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    X, y = load_iris(return_X_y=True, as_frame=True)
    model = RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y)
    joblib.dump(model, work / "rf.joblib")
    X.to_csv(work / "rf_x.csv", index=False)
    started = time.perf_counter()
    art = mdreg_prepare(work / "rf.joblib", work / "art-rf", work / "rf_x.csv")
    prep_s = time.perf_counter() - started
    score = import_score(art, "score_rf")
    score_npy = import_score(art, "score_rf_npy", {"MDREG_RESPONSE": "npy"})
    raw_model = joblib.load(work / "rf.joblib")

    rng = np.random.default_rng(0)  # iris rows drawn with replacement, jittered a little
    frame = X.iloc[rng.integers(0, len(X), rows)].reset_index(drop=True)
    frame = (frame + np.round(rng.normal(0, 0.1, frame.shape), 1)).round(2)
    from mdreg.payload import encode

    records = json.dumps(frame.to_dict(orient="records"), separators=(",", ":")).encode()
    columns = encode(frame, "json")
    arrow = encode(frame, "arrow")

    def served(s, body, decode):
        if decode:
            return lambda: json.dumps(s.predict(json.loads(body)))
        return lambda: json.dumps(s.predict(body))

    contenders = [
        Contender("raw: model.predict(DataFrame)", lambda: raw_model.predict(frame), "DataFrame"),
        Contender(
            "mdreg score.py, JSON records body",
            served(score, records, True),
            "json records",
            _mb(records),
        ),
        Contender(
            "mdreg score.py, JSON columns body",
            served(score, columns, True),
            "json columns",
            _mb(columns),
        ),
        Contender(
            "mdreg score.py, Arrow IPC stream body",
            served(score, arrow, False),
            "arrow",
            _mb(arrow),
        ),
        Contender(
            "mdreg score.py, Arrow body, .npy answer (MDREG_RESPONSE=npy)",
            served(score_npy, arrow, False),
            "arrow",
            _mb(arrow),
        ),
    ]
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        n = interleave(contenders, runs)
    checks = _check(contenders, raw_model.predict(frame))
    print(
        f"payload_bench: rf/{rows} done in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
        flush=True,
    )
    return {
        "case": f"rf/{rows}",
        "rows": rows,
        "prepare_s": prep_s,
        "rounds": n,
        "seconds": time.perf_counter() - started,
        "contenders": [{**summary(c), "same": same} for c, same in zip(contenders, checks)],
    }


def measure(
    device: str, runs: int, only: set[str], quick: bool = False, gpu_contenders: bool = False
) -> dict:
    started = time.perf_counter()
    load0 = os.getloadavg()[0]
    import torch

    if device == "cuda":
        if not torch.cuda.is_available() or torch.cuda.device_count() == 0:
            raise SystemExit(
                "payload_bench: --device cuda, but torch sees no GPU "
                f"(torch {torch.__version__}, CUDA {torch.version.cuda}, "
                f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r})"
            )
        torch.cuda.init()
    result = {
        "device": device,
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": {
            "cpu": _cpu_model(),
            "cores": os.cpu_count(),
            "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
            "python": platform.python_version(),
            "load_start": load0,
            **_device_meta(torch, device),
            "versions": _versions(["numpy", "pandas", "scikit-learn", "pyarrow", "mdreg"]),
        },
        "runs": runs,
        "torch": [],
        "table": None,
    }
    cases = [(n, 2) for n, _ in TORCH_CASES[:1]] + [("cnn", 4)] if quick else TORCH_CASES
    with tempfile.TemporaryDirectory(prefix="mdreg-payloads-") as tmp:
        if "torch" in only:
            result["torch"] = measure_torch(
                Path(tmp), device, runs, cases, gpu_contenders or device == "cuda"
            )
        if "table" in only:
            result["table"] = measure_table(Path(tmp), runs, 2_000 if quick else TABLE_ROWS)
    result["machine"]["load_end"] = os.getloadavg()[0]
    result["seconds"] = time.perf_counter() - started
    return result


# ---------------------------------------------------------------------------------------
# Markdown


def _ms(c: dict) -> str:
    if c.get("error"):
        return "fails"
    return f"{c['median_ms']:.2f} ({c['min_ms']:.2f}–{c['max_ms']:.2f})"


def _cpu(c: dict) -> str:
    return "–" if c.get("error") else f"{c['cpu_ms']:.2f}"


def _table(rows: list[list[str]], header: list[str]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(out + ["| " + " | ".join(r) + " |" for r in rows])


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def machine_line(result: dict) -> str:
    m = result["machine"]
    gpu = f"{m['gpu']} ({m['gpu_mem_gib']} GiB, CUDA {m['cuda']}), " if m.get("gpu") else ""
    return (
        f"{gpu}{m['cpu']}, {m['cores']} cores, {m['mem_gib']} GiB, Python {m['python']}, "
        f"load average {m['load_start']:.1f} at start"
    )


GPU_NOTE = (
    "GPU rows: section `payloads-gpu`, from `python benchmarks/payload_bench.py --device cuda "
    "--out FILE` on a lent GPU machine, written here with `--import-result FILE`; this "
    "CPU run had no GPU."
)


def render(result: dict) -> str:
    m = result["machine"]
    dev = result["device"]
    vers = ", ".join(f"{k} {v}" for k, v in {"torch": m["torch"], **m["versions"]}.items())
    lines = [
        (
            f"`python benchmarks/payload_bench.py --device {dev} --runs {result['runs']}` "
            f"({vers}; torch threads: {m['torch_threads']}; load average {m['load_start']:.1f} "
            f"at start, {m['load_end']:.1f} at end; {result['seconds']:.0f} s in all)."
        ),
        "",
        "Time per request as the server sees it: `json.loads(body)` for a JSON body (the "
        "bytes as they are otherwise) + `score.predict(...)` + `json.dumps(answer)`, with "
        "score.py imported from an artifact made by `mdreg.prepare` (`--x-sample --trust`). "
        "`raw` is the model itself on a ready numpy array: `torch.from_numpy(x).to(device)`, "
        "forward under inference_mode, `.cpu()` (no JSON anywhere). All contenders of a case "
        "run in one process, their calls interleaved (A B C, B C A, ...; cheap ones repeat "
        "up to 5 times per round), each call timed alone after an untimed gc.collect()"
        + (" and between torch.cuda.synchronize() calls" if dev == "cuda" else "")
        + ": every contender meets the same machine state. Median ms (min–max) over all "
        "timed calls, and the median process CPU time per call (less disturbed by neighbours "
        "on a shared machine; on a GPU it includes the host's wait in synchronize); `/ raw` "
        "divides the wall medians. JSON bodies are nested lists at full float32 "
        "precision (`x.tolist()`), the lists ADS's client wraps in its tensor JSON (section "
        "payloads-ads); `.npy` bodies are "
        "`np.save` bytes (read zero-copy by score.py).",
        "",
    ]
    rows, target_rows = [], []
    for case in result["torch"]:
        raw = case["contenders"][0]
        for c in case["contenders"]:
            ratio = (
                f"{c['median_ms'] / raw['median_ms']:.2f}x"
                if not c.get("error") and not raw.get("error")
                else "–"
            )
            mb = f"{c['mb']:.2f}" if c.get("mb") is not None else "–"
            rows.append(
                [
                    case["model"],
                    str(case["batch"]),
                    c["name"],
                    mb,
                    _ms(c),
                    _cpu(c),
                    str(c.get("calls", 0)),
                    ratio,
                    c.get("same", "–"),
                ]
            )
        if case["batch"] == 16 or case["model"] == "cnn":
            for c in case["contenders"][1:]:
                if (
                    c["body"] == "npy"
                    and not c.get("error")
                    and "PIN_MEMORY=" not in c["name"]
                    and "pinned" not in c["name"]
                ):
                    r = c["median_ms"] / raw["median_ms"]
                    target_rows.append((case, c, r))
    if rows:
        params = {c["model"]: c["params"] for c in result["torch"]}
        lines += [
            (
                f"**Tensors** (ResNet-18: {params.get('resnet18', 0):,} parameters, 224 px, "
                "1000 classes, random weights, TorchScript; small CNN: 3x32x32, 10 classes; "
                f"device `{dev}`):"
            ),
            "",
            _table(
                rows,
                [
                    "model",
                    "batch",
                    "contender",
                    "body MB",
                    "median ms (min–max)",
                    "median CPU ms",
                    "calls",
                    "/ raw",
                    "same output",
                ],
            ),
            "",
        ]
        for case, c, r in target_rows:
            if case["batch"] != 16:
                continue
            goal = (
                f"target ≤ {TARGET_BINARY:g}x on a GPU: {_verdict(r <= TARGET_BINARY)}"
                if dev == "cuda"
                else f"(the {TARGET_BINARY:g}x target is for a GPU; this is {dev})"
            )
            pinned = next(
                (
                    p
                    for p in case["contenders"]
                    if p["body"] == "pinned tensor" and not p.get("error")
                ),
                None,
            )
            also = (
                f" ({c['median_ms'] / pinned['median_ms']:.2f}x the raw path from pinned memory)"
                if pinned
                else ""
            )
            lines.append(
                f"- ResNet-18 batch 16, {c['name']}: {r:.2f}x raw-with-transfer{also}; {goal}."
            )
        json_rows = [
            (case, c)
            for case in result["torch"]
            for c in case["contenders"]
            if c["body"] == "json" and not c.get("error")
        ]
        for case, c in json_rows:
            raw = case["contenders"][0]
            lines.append(
                f"- {case['model']} batch {case['batch']}, JSON lists body: "
                f"{c['median_ms'] / raw['median_ms']:.1f}x raw "
                f"({c['mb']:.1f} MB body)."
            )
        lines.append("")
    table = result.get("table")
    if table:
        raw = table["contenders"][0]
        trows = []
        for c in table["contenders"]:
            ratio = (
                f"{c['median_ms'] / raw['median_ms']:.2f}x"
                if not c.get("error") and not raw.get("error")
                else "–"
            )
            mb = f"{c['mb']:.2f}" if c.get("mb") is not None else "–"
            trows.append(
                [c["name"], mb, _ms(c), _cpu(c), str(c.get("calls", 0)), ratio, c.get("same", "–")]
            )
        arrow = next(
            (c for c in table["contenders"] if c["body"] == "arrow" and "npy" not in c["name"]),
            None,
        )
        lines += [
            (
                f"**Table**: {table['rows']:,} iris-like rows (4 float64 features) for a "
                "scikit-learn RandomForestClassifier (n_estimators=100, fitted on iris as a "
                "DataFrame); `raw` is `model.predict(DataFrame)` on the same rows (one thread: "
                "RandomForest's predict uses n_jobs=None)."
            ),
            "",
            _table(
                trows,
                [
                    "contender",
                    "body MB",
                    "median ms (min–max)",
                    "median CPU ms",
                    "calls",
                    "/ raw",
                    "same output",
                ],
            ),
            "",
        ]
        if arrow and not arrow.get("error") and not raw.get("error"):
            r = arrow["median_ms"] / raw["median_ms"]
            lines.append(
                f"- Target: Arrow {table['rows']:,} rows ≤ {TARGET_ARROW:g}x raw predict: "
                f"{r:.2f}x, {_verdict(r <= TARGET_ARROW)}."
            )
            lines.append("")
    if dev == "cpu":
        lines += [GPU_NOTE, ""]
    failures = [
        f"{case['case']}: {c['name']}: {c['error']}"
        for case in result["torch"] + ([table] if table else [])
        for c in case["contenders"]
        if c.get("error")
    ]
    if failures:
        lines += ["Failures: " + "; ".join(failures), ""]
    return "\n".join(lines).rstrip()


# ---------------------------------------------------------------------------------------
# ADS's score.py on the same JSON body (part 2 of the benchmarks)


def _ads_python() -> Path:
    return ADS_VENV / "bin" / "python"


def ensure_ads_torch() -> str | None:
    """None when the ADS venv can import torch (from ADS_TORCH); else why not."""
    py = _ads_python()
    if not py.exists():
        return (
            f"the ADS venv {ADS_VENV} does not exist (make it with "
            "`python benchmarks/peers.py --setup-only`)"
        )
    env = {**os.environ, "PYTHONPATH": str(ADS_TORCH)}
    probe = subprocess.run(
        [str(py), "-c", "import torch, ads"], env=env, capture_output=True, check=False
    )
    if probe.returncode == 0:
        return None
    # torch and the dependencies the ADS venv lacks, into a folder of their own (--no-deps:
    # nothing the venv already holds is replaced; pinned: the CPU build on local disk).
    proc = subprocess.run(
        [
            str(py),
            "-m",
            "pip",
            "install",
            "-q",
            "--target",
            str(ADS_TORCH),
            "--no-deps",
            TORCH_PIN,
            "filelock",
            "sympy",
            "networkx",
            "mpmath",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return f"installing {TORCH_PIN} for the ADS venv failed: {proc.stderr[-500:]}"
    probe = subprocess.run(
        [str(py), "-c", "import torch, ads"], env=env, capture_output=True, text=True, check=False
    )
    return None if probe.returncode == 0 else f"torch in the ADS venv: {probe.stderr[-500:]}"


def ads_prepare(model: str, sample: str, out: str) -> None:
    """Run in the ADS venv: ADS's own PyTorchModel.prepare of the TorchScript model, as an
    ADS user writes it (use_torch_script=True: score.py loads it with torch.jit.load)."""
    sys.path.insert(0, str(HERE / "peers"))
    import ads_offline
    import numpy as np
    import torch
    from ads.model.framework.pytorch_model import PyTorchModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = torch.jit.load(model).eval()
        PyTorchModel(estimator=module, artifact_dir=out).prepare(
            inference_conda_env=ads_offline.SERVICE_PACK["slug"],
            inference_python_version="3.11",
            X_sample=np.load(sample),
            use_torch_script=True,
            force_overwrite=True,
        )
    assert os.path.isfile(os.path.join(out, "score.py")), "ADS wrote no score.py"


def ads_bodies(x) -> dict[str, bytes]:
    """The JSON bodies a client sends for tensor ``x``: ADS's structured tensor format (what
    ADS's JsonModelInputSerializer makes of a torch.Tensor), ADS's base64 .npy envelope
    (its format for a numpy array), and plain nested lists."""
    lists = x.tolist()
    structured = {
        "data": {
            "__ads_torch_tensor__": 1,
            "data": lists,
            "dtype": "torch.float32",
            "shape": list(x.shape),
            "device": "cpu",
        },
        "data_type": "<class 'torch.Tensor'>",
    }
    b64 = {
        "data": base64.b64encode(_npy(x)).decode("ascii"),
        "data_type": "<class 'numpy.ndarray'>",
    }
    return {
        "ADS tensor JSON": json.dumps(structured).encode(),
        "base64 .npy envelope": json.dumps(b64).encode(),
        "nested lists": json.dumps(lists).encode(),
    }


def ads_worker(spec_path: str, out_path: str) -> None:
    """Run in the ADS venv: both score.py files and the raw model in one process, calls
    interleaved; each score.py on each body (a body it refuses is reported as failing)."""
    import contextlib

    import numpy as np
    import torch

    spec = json.loads(Path(spec_path).read_text())
    torch.set_num_threads(1)
    results = []
    for case in spec["cases"]:
        with contextlib.redirect_stdout(io.StringIO()):  # ADS's score.py prints as it loads
            ours = import_score(Path(case["mdreg"]), f"mdreg_{case['name']}")
            theirs = import_score(Path(case["ads"]), f"ads_{case['name']}")
        x = (
            np.random.default_rng(case["batch"])
            .standard_normal((case["batch"], *case["shape"]))
            .astype("float32")
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = torch.jit.load(case["model"]).eval()

        def raw(x=x, model=model):
            with torch.inference_mode():
                return model(torch.from_numpy(x)).cpu()

        bodies = ads_bodies(x)
        contenders = [Contender("raw forward", raw, "array")]
        for who, score in (("ADS score.py", theirs), ("mdreg score.py", ours)):
            for body_name, body in bodies.items():
                contenders.append(
                    Contender(
                        who,
                        lambda s=score, b=body: json.dumps(s.predict(json.loads(b))),
                        body_name,
                        _mb(body),
                    )
                )
        # A body a score.py refuses fails at once, in the warm-up; it then drops out.
        rounds = interleave(contenders, spec["runs"], budget_s=spec.get("budget_s", 60))
        checks = _check(contenders, raw().numpy())
        results.append(
            {
                "case": case["name"],
                "batch": case["batch"],
                "rounds": rounds,
                "contenders": [{**summary(c), "same": same} for c, same in zip(contenders, checks)],
            }
        )
        print(f"ads_worker: {case['name']}/{case['batch']} done", file=sys.stderr, flush=True)
    meta = {
        "versions": _versions(["oracle-ads", "torch", "numpy", "pandas"]),
        "load_end": os.getloadavg()[0],
    }
    Path(out_path).write_text(json.dumps({"meta": meta, "results": results}))


def _render_ads(data: dict) -> tuple[list[list[str]], list[str], bool]:
    rows, verdicts, met = [], [], True
    for r in data["results"]:
        cs = r["contenders"]
        raw = cs[0]
        for c in cs:
            over = (
                f"{c['median_ms'] / raw['median_ms']:.2f}x"
                if not c.get("error") and not raw.get("error")
                else "–"
            )
            mb = f"{c['mb']:.2f}" if c.get("mb") is not None else "–"
            shown = _ms(c) if not c.get("error") else f"fails: {c['error'][:90]}"
            rows.append(
                [
                    r["case"],
                    str(r["batch"]),
                    c["name"],
                    c["body"],
                    mb,
                    shown,
                    _cpu(c),
                    over,
                    c.get("same", "–"),
                ]
            )
        pick = {(c["name"], c["body"]): c for c in cs}
        ads = pick.get(("ADS score.py", "ADS tensor JSON"))
        same = pick.get(("mdreg score.py", "ADS tensor JSON"))
        lists = pick.get(("mdreg score.py", "nested lists"))
        label = f"{r['case']}/{r['batch']}"
        if ads and not ads.get("error") and same and not same.get("error"):
            ratio = ads["median_ms"] / same["median_ms"]
            met &= ratio >= 1
            verdicts.append(
                f"{label}: {ratio:.2f}x wall, {ads['cpu_ms'] / same['cpu_ms']:.2f}x CPU"
            )
        else:
            met = False
            proxy = (
                f"; on the same numbers sent as plain nested lists (same size): "
                f"{ads['median_ms'] / lists['median_ms']:.2f}x wall, "
                f"{ads['cpu_ms'] / lists['cpu_ms']:.2f}x CPU"
                if ads and lists and not ads.get("error") and not lists.get("error")
                else ""
            )
            verdicts.append(f"{label}: mdreg's score.py refuses it{proxy}")
    return rows, verdicts, met


def bench_ads(work: Path, runs: int, cases=(("cnn", 64), ("resnet18", 1), ("resnet18", 16))) -> str:
    """mdreg's vs ADS's score.py on the same JSON bodies, in the ADS venv (+ torch)."""
    started = time.perf_counter()
    load0 = os.getloadavg()[0]
    why = ensure_ads_torch()
    if why:
        return f"Not measured: {why}."
    env = {
        **os.environ,
        "PYTHONPATH": str(ADS_TORCH),
        **ONE_THREAD,
        "OCI_CONFIG_LOCATION": str(CACHE / "oci" / "config"),
        "OCI_CLI_SUPPRESS_FILE_PERMISSIONS_WARNING": "True",
        "PYTHONWARNINGS": "ignore",
    }
    if not (CACHE / "oci" / "config").exists():
        sys.path.insert(0, str(HERE))
        from peers import oci_dummy_config

        oci_dummy_config(_ads_python())
    spec = {"runs": runs, "cases": []}
    for name in sorted({n for n, _ in cases}):
        model, sample, shape, _ = make_torch_model(name, work)
        ours = mdreg_prepare(model, work / f"mdreg-{name}", sample)
        theirs = work / f"ads-{name}"
        proc = subprocess.run(
            [str(_ads_python()), __file__, "--ads-prepare", str(model), str(sample), str(theirs)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            return f"Not measured: ADS `PyTorchModel.prepare` failed: {proc.stderr[-800:]}"
        for n, batch in cases:
            if n == name:
                spec["cases"].append(
                    {
                        "name": name,
                        "batch": batch,
                        "shape": list(shape),
                        "model": str(model),
                        "mdreg": str(ours),
                        "ads": str(theirs),
                    }
                )
    order = [f"{n}/{b}" for n, b in cases]
    spec["cases"].sort(key=lambda c: order.index(f"{c['name']}/{c['batch']}"))
    spec_path, out_path = work / "ads-spec.json", work / "ads-result.json"
    spec_path.write_text(json.dumps(spec))
    proc = subprocess.run(
        [str(_ads_python()), __file__, "--ads-worker", str(spec_path), str(out_path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return f"Not measured: the timing process failed: {proc.stderr[-1500:]}"
    data = json.loads(out_path.read_text())
    rows, verdicts, met = _render_ads(data)
    vers = ", ".join(f"{k} {v}" for k, v in data["meta"]["versions"].items())
    return (
        f"Target: JSON tensor payloads not slower than ADS's score.py on the same body "
        f"(ADS's own tensor JSON, ADS time / mdreg time): {'; '.join(verdicts)}. "
        f"{_verdict(met)}.\n\n"
        f"Both score.py files and the raw model in one process in the ADS venv ({vers}; torch "
        f"2.13.0 CPU from a folder of its own on PYTHONPATH, so the venv the peers benchmark "
        f"times is unchanged), one thread, CPU. ADS's score.py comes from "
        f"`PyTorchModel(estimator=torch.jit.load(...)).prepare(..., use_torch_script=True)` "
        f"(offline, benchmarks/peers/ads_offline.py), mdreg's from `mdreg.prepare` of the "
        f"same TorchScript file. Each call is `json.loads(body)` + `predict` + "
        f"`json.dumps(answer)`; `raw forward` is the model on a ready tensor. Calls "
        f"interleaved, gc.collect() untimed before each; median ms (min–max); `/ raw` "
        f"divides wall medians; CPU ms is the process's CPU time per call (user + sys), which a busy neighbour disturbs far less than wall time. Bodies, all of the same float32 values: `ADS tensor JSON` is "
        f"what ADS's client (JsonModelInputSerializer) sends for a torch.Tensor "
        f'(`{{"data": {{"__ads_torch_tensor__": 1, "data": <nested lists>, "dtype", '
        f'"shape", "device"}}, "data_type": "<class \'torch.Tensor\'>"}}`), the one '
        f"tensor body ADS's PyTorch score.py takes; `base64 .npy envelope` is ADS's format "
        f"for a numpy array (its PyTorch score.py decodes it, then calls `.to(device)` on "
        f"the ndarray); `nested lists` a plain JSON array. Load average {load0:.1f} at start, "
        f"{data['meta']['load_end']:.1f} at end; {time.perf_counter() - started:.0f} s.\n\n"
        + _table(
            rows,
            [
                "model",
                "batch",
                "score.py",
                "body",
                "body MB",
                "median ms (min–max)",
                "median CPU ms",
                "/ raw",
                "same output",
            ],
        )
    )


# ---------------------------------------------------------------------------------------
# run.py sections


def bench_payloads(work: Path, runs: int, **_: object) -> str:
    """The CPU run, in a child process (one thread: numpy/torch threads are set before
    they are imported)."""
    out = work / "payloads.md"
    subprocess.run(
        [sys.executable, __file__, "--device", "cpu", "--runs", str(runs), "--out", str(out)],
        check=True,
        env={**os.environ, **ONE_THREAD},
    )
    return out.read_text().split("\n", 1)[1].strip()  # without the header comment


def bench_payloads_ads(work: Path, runs: int, **_: object) -> str:
    return bench_ads(work, max(3, runs))


BENCHES = {"payloads": bench_payloads, "payloads-ads": bench_payloads_ads}


def import_result(path: Path) -> str:
    """Write a --out result into RESULTS.md under its own machine line and date."""
    path = path.with_suffix(".md") if path.suffix == ".json" else path
    data = (
        json.loads(path.with_suffix(".json").read_text())
        if path.with_suffix(".json").exists()
        else None
    )
    text = path.read_text()
    header, body = text.split("\n", 1)
    if not header.startswith("<!-- payload_bench ") or data is None:
        raise SystemExit(f"{path}: not a payload_bench --out file (or its .json is missing)")
    section = "payloads-gpu" if data["device"] == "cuda" else "payloads"
    sys.path.insert(0, str(HERE))
    import run

    run.machine = lambda: machine_line(data)
    run.now = lambda: data["when"]
    run.write_section(section, body.strip())
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument(
        "--runs",
        type=int,
        default=7,
        help="interleaved rounds per case (fewer "
        f"when a case would pass {CASE_BUDGET_S:.0f} s, at least 3)",
    )
    parser.add_argument("--only", default="torch,table", help="torch, table or both")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch/numpy threads [default: 1 on cpu, torch's default on cuda]",
    )
    parser.add_argument("--out", type=Path, help="write the markdown here and the numbers to .json")
    parser.add_argument(
        "--write", action="store_true", help="also write the section into benchmarks/RESULTS.md"
    )
    parser.add_argument("--quick", action="store_true", help="tiny cases: a smoke test of the code")
    parser.add_argument(
        "--gpu-contenders",
        action="store_true",
        help="on cpu, also run the MDREG_PIN_MEMORY=1 contenders (a test of that path)",
    )
    parser.add_argument(
        "--ads", action="store_true", help="mdreg's vs ADS's score.py (section payloads-ads)"
    )
    parser.add_argument(
        "--import-result",
        type=Path,
        metavar="FILE",
        help="write a --out FILE (e.g. from the GPU machine) into RESULTS.md",
    )
    parser.add_argument("--ads-prepare", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--ads-worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ads_prepare:
        return ads_prepare(*args.ads_prepare)
    if args.ads_worker:
        return ads_worker(*args.ads_worker)
    if args.import_result:
        print(f"wrote section {import_result(args.import_result)} of {HERE / 'RESULTS.md'}")
        return None
    if args.ads:
        with tempfile.TemporaryDirectory(prefix="mdreg-payloads-ads-") as tmp:
            body = bench_ads(Path(tmp), args.runs)
        print(body)
        if args.write:
            sys.path.insert(0, str(HERE))
            from run import write_section

            write_section("payloads-ads", body)
        return None
    threads = args.threads or (1 if args.device == "cpu" else 0)
    if threads:
        os.environ.update({k: str(threads) for k in ONE_THREAD})
        import torch

        torch.set_num_threads(threads)
    result = measure(
        args.device, args.runs, set(args.only.split(",")), args.quick, args.gpu_contenders
    )
    body = render(result)
    section = "payloads-gpu" if args.device == "cuda" else "payloads"
    print(f"## {section}\n_{result['when']} — {machine_line(result)}_\n\n{body}", flush=True)
    if args.out:
        md = args.out.with_suffix(".md") if args.out.suffix == ".json" else args.out
        md.parent.mkdir(parents=True, exist_ok=True)
        md.write_text(f"<!-- payload_bench section={section} -->\n{body}\n")
        md.with_suffix(".json").write_text(json.dumps(result, indent=1))
        print(f"payload_bench: wrote {md} and {md.with_suffix('.json')}", file=sys.stderr)
    if args.write:
        sys.path.insert(0, str(HERE))
        import run

        run.machine = lambda: machine_line(result)
        run.now = lambda: result["when"]
        run.write_section(section, body)
    return None


if __name__ == "__main__":
    main()
