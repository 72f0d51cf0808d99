"""`mdreg score`'s local engine against the raw `model.predict` over the same Parquet file.

    python benchmarks/score_bench.py [--rows 1000000,10000000] [--models rf,lgbm]

For each model (a RandomForest and a LightGBM classifier on 20 float features) and each
row count: the raw loop (pyarrow batches -> pandas -> model.predict, one process, one
native thread) against `mdreg score` with one worker and with one per core. Peak memory
is the sum of the RSS of mdreg and its workers, sampled every 0.1 s, so the figure holds
whatever the input's size. Writes section `score` of benchmarks/RESULTS.md.

Targets (issue #18): one worker at least 0.8x the raw loop's rows/s; peak RSS under 500 MB
at every row count; time linear in rows (10M/1M close to 10).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
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
    X.head(50).to_csv(work / "x.csv", index=False)
    models = {}
    from sklearn.ensemble import RandomForestClassifier

    rf = RandomForestClassifier(n_estimators=50, max_depth=10, random_state=0).fit(X, y)
    joblib.dump(rf, work / "rf.joblib")
    models["rf"] = (work / "rf.joblib", work / "x.csv")
    import lightgbm

    lgbm = lightgbm.LGBMClassifier(n_estimators=100, verbose=-1).fit(X, y)
    joblib.dump(lgbm, work / "lgbm.joblib")
    models["lgbm"] = (work / "lgbm.joblib", work / "x.csv")
    return models


def _tree_rss_mb(pid: int) -> float:
    """RSS of ``pid`` and all its descendants, in MB."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def _run_tree(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Seconds, peak RSS of the whole process tree (MB), stdout."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **env}
    )
    peak = 0.0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.1):
            peak = max(peak, _tree_rss_mb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    start = time.perf_counter()
    sampler.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    done.set()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {err.decode()[-2000:]}")
    return seconds, peak, out.decode()


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
                seconds, peak, stdout = _run_tree(cmd, {})
                summary = json.loads(stdout)
                result[workers] = (summary["rows_per_second"], seconds, peak)
            one_rate, one_s, one_peak = result[1]
            all_rate, all_s, all_peak = result[cores]
            lines.append(
                [
                    name,
                    f"{rows:,}",
                    f"{raw_rate:,.0f}",
                    f"{one_rate:,.0f}",
                    f"{one_rate / raw_rate:.2f}",
                    f"{all_rate:,.0f} ({cores} workers)",
                    f"{one_s:.1f} / {all_s:.1f}",
                    f"{one_peak:.0f} / {all_peak:.0f}",
                ]
            )
            findings.append((name, rows, one_rate / raw_rate, max(one_peak, all_peak), all_s))
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
            "peak RSS MB, tree (1 / all)",
        ],
    )
    ratio_ok = all(r >= 0.8 for _, _, r, _, _ in findings)
    rss_ok = all(p < 500 for _, _, _, p, _ in findings)
    body += (
        f"\n\nTargets: one worker at least 0.8x raw: {'met' if ratio_ok else 'missed'}; "
        f"peak RSS (mdreg and its workers together) under 500 MB: {'met' if rss_ok else 'missed'}."
    )
    if len(rows_list) > 1:
        small, large = min(rows_list), max(rows_list)
        for name in names:
            t = {r: s for n, r, _, _, s in findings if n == name}
            body += f"\nTime growth {name}: {large // small}x rows took {t[large] / t[small]:.1f}x the wall time (all cores; includes worker start-up)."
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
