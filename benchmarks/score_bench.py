"""`mdreg score`'s local engine against the raw `model.predict` over the same Parquet file.

    python benchmarks/score_bench.py [--rows 1000000,10000000] [--models rf,lgbm]

For each model (a RandomForest and a LightGBM classifier on 20 float features) and each
row count: the raw loop (pyarrow batches -> pandas -> model.predict, one process, one
native thread) against `mdreg score` with one worker and with one per core. The sample
given to prepare is Parquet, so input_schema.json keeps the data's float32. Peak memory
is sampled every 0.1 s for mdreg's own process, its largest worker and the whole tree.
Writes section `score` of benchmarks/RESULTS.md.

Targets (issue #18): one worker at least 0.8x the raw loop's rows/s; peak RSS under 500 MB
at every row count (mdreg and one worker); scoring time linear in rows (10M/1M close to 10).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import MDREG, machine, table  # noqa: E402

PY = sys.executable
FEATURES = 20
BATCH_ROWS = 10_000
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}

RAW = f"""
import sys, time, joblib, pyarrow.dataset as ds
model = joblib.load(sys.argv[1])
cols = [f"f{{i}}" for i in range({FEATURES})]
start = time.perf_counter(); n = 0
for batch in ds.dataset(sys.argv[2]).to_batches(columns=cols, batch_size={BATCH_ROWS}):
    model.predict(batch.to_pandas()); n += batch.num_rows
print(n / (time.perf_counter() - start))
"""


def _make_data(path: Path, rows: int) -> None:
    """A Parquet file of ``rows`` rows written in chunks (the generator stays small)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    writer = None
    for start in range(0, rows, 500_000):
        n = min(500_000, rows - start)
        cols = {f"f{i}": rng.standard_normal(n).astype("float32") for i in range(FEATURES)}
        cols["id"] = np.arange(start, start + n)
        batch = pa.table(cols)
        writer = writer or pq.ParquetWriter(path, batch.schema)
        writer.write_table(batch)
    assert writer is not None
    writer.close()


def _make_models(work: Path) -> dict[str, tuple[Path, Path]]:
    """name -> (model file, x sample csv)."""
    import joblib
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(1)
    X = pd.DataFrame(
        rng.standard_normal((20_000, FEATURES)), columns=[f"f{i}" for i in range(FEATURES)]
    )
    y = (X["f0"] + X["f1"] * X["f2"] > 0).astype(int)
    X = X.astype("float32")
    # A Parquet sample keeps the data's float32 in input_schema.json; a CSV one would say
    # float64, and score.py would cast every batch (the raw loop casts nothing).
    X.head(50).to_parquet(work / "x.parquet", index=False)
    models = {}
    from sklearn.ensemble import RandomForestClassifier

    rf = RandomForestClassifier(n_estimators=50, max_depth=10, random_state=0).fit(X, y)
    joblib.dump(rf, work / "rf.joblib")
    models["rf"] = (work / "rf.joblib", work / "x.parquet")
    import lightgbm

    lgbm = lightgbm.LGBMClassifier(n_estimators=100, verbose=-1).fit(X, y)
    joblib.dump(lgbm, work / "lgbm.joblib")
    models["lgbm"] = (work / "lgbm.joblib", work / "x.parquet")
    return models


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], list(children.get(pid, []))
    while todo:
        p = todo.pop()
        found.append(p)
        todo += children.get(p, [])
    return found


@dataclass
class Peaks:
    """Peak RSS in MB, sampled every 0.1 s: the process, its largest descendant, all."""

    own: float = 0.0
    child: float = 0.0
    tree: float = 0.0

    def sample(self, pid: int) -> None:
        own = _rss_mb(pid)
        children = [_rss_mb(p) for p in _descendants(pid)]
        self.own = max(self.own, own)
        self.child = max(self.child, *children, 0.0)
        self.tree = max(self.tree, own + sum(children))


def _run_tree(cmd: list[str], env: dict[str, str]) -> tuple[float, Peaks, str]:
    """Seconds, peak RSS (the process, a worker, the whole tree), stdout."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **env}
    )
    peaks = Peaks()
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            peaks.sample(proc.pid)

    sampler = threading.Thread(target=sample, daemon=True)
    start = time.perf_counter()
    sampler.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    done.set()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {err.decode()[-2000:]}")
    return seconds, peaks, out.decode()


def bench_score(work: Path, rows_list: list[int], names: list[str]) -> str:
    import json

    models = _make_models(work)
    cores = len(os.sched_getaffinity(0))
    lines, findings = [], []
    for rows in rows_list:
        data = work / f"data_{rows}.parquet"
        _make_data(data, rows)
        for name in names:
            model, sample = models[name]
            artifact = work / f"art_{name}"
            if not artifact.exists():
                subprocess.run(
                    [*MDREG, "prepare", str(model), "-o", str(artifact), "--x-sample", str(sample)],
                    check=True,
                    capture_output=True,
                )
            _, _, raw_out = _run_tree([PY, "-c", RAW, str(model), str(data)], ONE_THREAD)
            raw_rate = float(raw_out.strip())
            result = {}
            for workers in sorted({1, cores}):
                out = work / "out.parquet"
                cmd = [
                    *MDREG,
                    "score",
                    str(artifact),
                    str(data),
                    "-o",
                    str(out),
                    "--force",
                    "--json",
                    "-w",
                    str(workers),
                    "--keep-columns",
                    "id",
                ]
                seconds, peaks, stdout = _run_tree(cmd, {})
                summary = json.loads(stdout)
                scoring = summary["seconds"] - summary["load_seconds"]
                result[workers] = (summary["rows_per_second"], seconds, scoring, peaks)
            one_rate, one_s, one_scoring, one = result[1]
            all_rate, all_s, all_scoring, every = result[cores]
            lines.append(
                [
                    name,
                    f"{rows:,}",
                    f"{raw_rate:,.0f}",
                    f"{one_rate:,.0f}",
                    f"{one_rate / raw_rate:.2f}",
                    f"{all_rate:,.0f} ({cores} workers)",
                    f"{one_s:.1f} / {all_s:.1f}",
                    f"{one.own:.0f} / {one.child:.0f} / {one.tree:.0f} / {every.tree:.0f}",
                ]
            )
            findings.append((name, rows, one_rate / raw_rate, one.tree, one_scoring, all_scoring))
    body = table(
        lines,
        [
            "model",
            "rows",
            "raw rows/s (1 thread)",
            "mdreg -w 1 rows/s",
            "ratio",
            "mdreg all cores rows/s",
            "wall s (1 / all)",
            "peak RSS MB: mdreg / a worker / both (-w 1) / all (-w all)",
        ],
    )
    ratio_ok = all(f[2] >= 0.8 for f in findings)
    rss_ok = all(f[3] < 500 for f in findings)
    body += (
        f"\n\nTargets: one worker at least 0.8x raw: {'met' if ratio_ok else 'missed'}; "
        f"peak RSS of mdreg and its one worker under 500 MB: {'met' if rss_ok else 'missed'} "
        "(each more worker adds its own score.py's imports and model)."
    )
    if len(rows_list) > 1:
        small, large = min(rows_list), max(rows_list)
        for name in names:
            t = {f[1]: f for f in findings if f[0] == name}
            body += (
                f"\nTime growth {name}, {large // small}x rows: scoring time (after the model "
                f"loads) {t[large][4] / t[small][4]:.1f}x with one worker, "
                f"{t[large][5] / t[small][5]:.1f}x with all cores."
            )
    body += f"\n\nLoad average at the end: {os.getloadavg()[0]:.1f}."
    return body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1000000,10000000")
    parser.add_argument("--models", default="rf,lgbm")
    args = parser.parse_args()
    rows_list = [int(float(r)) for r in args.rows.split(",")]
    from run import write_section

    print(machine(), flush=True)
    with tempfile.TemporaryDirectory(prefix="mdreg-score-bench-") as tmp:
        body = bench_score(Path(tmp), rows_list, args.models.split(","))
    write_section("score", body)
    print(body)


if __name__ == "__main__":
    main()
