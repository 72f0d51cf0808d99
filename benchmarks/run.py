"""mdreg benchmarks: `make bench` or `python benchmarks/run.py [--only a,b] [--runs N]`.

Each benchmark writes its own section of benchmarks/RESULTS.md (other sections are kept),
with the date and the machine. Targets are ratios measured in the same run, because
these machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import MDREG, compare, machine, now, table  # noqa: E402

RESULTS = HERE / "RESULTS.md"
PY = sys.executable


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def bench_startup(work: Path, runs: int) -> str:
    stats = compare(
        {
            "python -c pass": [PY, "-c", "pass"],
            "python -c 'import mdreg'": [PY, "-c", "import mdreg"],
            "mdreg --help": [*MDREG, "--help"],
            "python -m mdreg --help": [PY, "-m", "mdreg", "--help"],
            "python -c 'import typer'": [PY, "-c", "import typer"],
        },
        runs=3 * runs,
    )  # sub-second commands: more runs for a steadier median
    rows = [[n, f"{s.median * 1000:.0f}", f"{s.spread}"] for n, s in stats.items()]
    help_ms = stats["mdreg --help"].median * 1000
    return (
        f"Target: `mdreg --help` at or under 150 ms: {help_ms:.0f} ms, {_verdict(help_ms <= 150)}.\n\n"
        + table(rows, ["command", "median ms", "spread s"])
    )


def _iris_model(work: Path) -> tuple[Path, Path]:
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    X, y = load_iris(return_X_y=True, as_frame=True)
    path = work / "iris_rf.joblib"
    joblib.dump(RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y), path)
    X.to_csv(work / "iris_x.csv", index=False)
    return path, work / "iris_x.csv"


def bench_prepare(work: Path, runs: int) -> str:
    model, sample = _iris_model(work)
    out = work / "prepared"
    stats = compare(
        {
            "import sklearn.ensemble, joblib": [PY, "-c", "import sklearn.ensemble, joblib"],
            "mdreg prepare (iris RF, sample)": [
                *MDREG,
                "prepare",
                str(model),
                "-o",
                str(out),
                "--x-sample",
                str(sample),
                "--force",
            ],
        },
        runs=runs,
    )
    base = stats["import sklearn.ensemble, joblib"].median
    prep = stats["mdreg prepare (iris RF, sample)"].median
    rows = [[n, f"{s.median:.3f}", s.spread, f"{s.peak_rss_mb:.0f}"] for n, s in stats.items()]
    return (
        f"Target: prepare at or under the framework import + 0.4 s: {prep:.2f} s vs "
        f"{base:.2f} s + 0.4 s, {_verdict(prep <= base + 0.4)} "
        f"(prepare − import = {prep - base:.2f} s).\n\n"
        + table(rows, ["command", "median s", "spread s", "peak RSS MB"])
    )


def bench_introspect(work: Path, runs: int) -> str:
    model, sample = _iris_model(work)
    art = work / "art"
    from mdreg import prepare

    prepare(model, art, x_sample=sample, force=True)
    stats = compare(
        {
            "mdreg introspect": [*MDREG, "introspect", str(art)],
            "mdreg introspect, Rich table (FORCE_COLOR=1)": [
                "env",
                "FORCE_COLOR=1",
                *MDREG,
                "introspect",
                str(art),
            ],
            "mdreg introspect --json": [*MDREG, "introspect", str(art), "--json"],
            "python -c pass": [PY, "-c", "pass"],
        },
        runs=3 * runs,
    )
    ms = stats["mdreg introspect"].median * 1000
    rows = [[n, f"{s.median * 1000:.0f}", s.spread] for n, s in stats.items()]
    return (
        f"Target: `mdreg introspect` at or under 250 ms: {ms:.0f} ms, {_verdict(ms <= 250)}. "
        "Its output is piped here, as in a script or CI job, so it prints plain columns; "
        "on a terminal it draws Rich's table (the FORCE_COLOR=1 row). `mdreg` is the "
        "installed console script, with mdreg's bytecode compiled as a wheel install "
        "has it.\n\n" + table(rows, ["command", "median ms", "spread s"])
    )


def _synthetic_artifact(work: Path, gib: float) -> Path:
    """An artifact folder with a model file of ``gib`` GiB of incompressible bytes."""
    from mdreg import prepare

    model, sample = _iris_model(work)
    art = work / f"art-{gib:g}g"
    prepare(model, art, x_sample=sample, force=True)
    block = os.urandom(1 << 20)
    with open(art / "weights.bin", "wb") as f:
        for _ in range(int(gib * 1024)):
            f.write(block)
    return art


def bench_zip(work: Path, runs: int, sizes: tuple[float, ...] = (1, 4)) -> str:
    if shutil.which("zip") is None:
        return "skipped: the `zip` program is not installed (apt-get install zip)"
    rows = []
    for gib in sizes:
        art = _synthetic_artifact(work, gib)
        a, b = work / "a.zip", work / "b.zip"
        clean = {
            "mdreg zip": partial(a.unlink, missing_ok=True),
            "zip -0 -r": partial(b.unlink, missing_ok=True),
        }
        stats = compare(
            {
                "mdreg zip": [*MDREG, "zip", str(art), "-o", str(a), "-q"],
                "zip -0 -r": ["zip", "-0", "-r", "-q", str(b), "."],
            },
            runs=max(1, runs // 3),
            warmup=0,
            before=clean,
            cwd=str(art),
        )
        size_mb = sum(p.stat().st_size for p in art.rglob("*") if p.is_file()) / 2**20
        for name, s in stats.items():
            rows.append(
                [
                    f"{gib:g} GiB",
                    name,
                    f"{s.median:.1f}",
                    f"{size_mb / s.median:.0f}",
                    f"{s.peak_rss_mb:.0f}",
                ]
            )
        ratio = stats["mdreg zip"].median / stats["zip -0 -r"].median
        rows.append([f"{gib:g} GiB", "mdreg / zip -0", f"{ratio:.2f}x time", "", ""])
        shutil.rmtree(art)
        a.unlink(missing_ok=True)
        b.unlink(missing_ok=True)
    return (
        "mdreg hashes (sha256) the zip while writing it and fsyncs before the rename; "
        "`zip -0` does neither. Target: peak RSS independent of the model size.\n\n"
        + table(rows, ["model", "command", "median s", "MB/s", "peak RSS MB"])
    )


FRAMEWORK_IMPORTS = {
    "sklearn": "import sklearn.ensemble, joblib",
    "xgboost": "import xgboost",
    "lightgbm": "import lightgbm",
    "pytorch": "import torch",
    "tensorflow": "import keras",
    "spark": "import pyspark.ml",
}


def bench_frameworks(work: Path, runs: int) -> str:
    """`mdreg prepare` of each framework's example model (examples/train_*.py) against
    importing the framework, both whole processes, alternating."""
    import subprocess

    rows = []
    for name, imp in FRAMEWORK_IMPORTS.items():
        out = work / name
        model = subprocess.run(
            [PY, str(HERE.parent / "examples" / f"train_{name}.py"), str(out)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        sample = next(out.glob("x_sample.*"))
        stats = compare(
            {
                "import": [PY, "-c", imp],
                "prepare": [
                    *MDREG,
                    "prepare",
                    model,
                    "-o",
                    str(out / "art"),
                    "--x-sample",
                    str(sample),
                    "--force",
                ],
            },
            runs=max(1, runs // 2),
            env={"SPARK_LOCAL_IP": "127.0.0.1"},
        )
        imp_s, prep_s = stats["import"].median, stats["prepare"].median
        rows.append(
            [
                name,
                Path(model).name,
                f"{imp_s:.2f}",
                f"{prep_s:.2f}",
                f"{prep_s - imp_s:.2f}",
                f"{prep_s / imp_s:.1f}x",
            ]
        )
    return (
        "`mdreg prepare` (with the example's sample) against importing the framework; "
        "prepare must import the framework to load the model, so the difference is "
        "mdreg's own work plus the framework's load (for Spark: a JVM start).\n\n"
        + table(rows, ["framework", "model", "import s", "prepare s", "difference s", "ratio"])
    )


BENCHES = {
    "startup": bench_startup,
    "prepare": bench_prepare,
    "introspect": bench_introspect,
    "zip": bench_zip,
    "frameworks": bench_frameworks,
}


def _more_benches() -> None:
    """Benchmarks kept in their own modules register here (imported lazily: run.py is
    also imported by them for write_section)."""
    import catalog_bench
    import oci_bench
    import payload_bench
    import scan_bench

    for module in (catalog_bench, scan_bench, oci_bench, payload_bench):
        BENCHES.update(module.BENCHES)


def write_section(name: str, body: str) -> None:
    text = (
        RESULTS.read_text()
        if RESULTS.exists()
        else "# mdreg benchmark results\n\nWritten by `make bench` (benchmarks/run.py). Machines here are shared and noisy: compare the ratios within one run.\n"
    )
    block = f"<!-- bench:{name} -->\n## {name}\n\n_{now()} — {machine()}_\n\n{body}\n<!-- /bench:{name} -->"
    pattern = re.compile(rf"<!-- bench:{name} -->.*?<!-- /bench:{name} -->", re.S)
    text = (
        pattern.sub(lambda _: block, text)
        if pattern.search(text)
        else text.rstrip() + "\n\n" + block + "\n"
    )
    RESULTS.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=None, help="comma-separated benchmarks [default: all]")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--zip-sizes", default="1,4", help="GiB sizes for the zip benchmark")
    _more_benches()
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mdreg-bench-") as tmp:
        for name in (args.only or ",".join(BENCHES)).split(","):
            work = Path(tmp) / name
            work.mkdir()
            kwargs = (
                {"sizes": tuple(float(s) for s in args.zip_sizes.split(","))}
                if name == "zip"
                else {}
            )
            body = BENCHES[name](work, args.runs, **kwargs)
            write_section(name, body)
            print(f"## {name}\n{body}\n", flush=True)


if __name__ == "__main__":
    main()
