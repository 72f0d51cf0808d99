"""`mdreg.spark.score` against MLflow's `mlflow.pyfunc.spark_udf`: same model, data and session.

    python benchmarks/score_spark_bench.py [--rows 1e6,1e7] [--models rf,lgbm] [--rounds 3]

The models and the data are score_bench.py's (a RandomForest and a LightGBM classifier on
20 float32 features; a Parquet file of generated rows, 500,000-row row groups), imported
from it. Each model is prepared with `mdreg.prepare` into an artifact and saved with
`mlflow.sklearn.save_model` / `mlflow.lightgbm.save_model` (with the signature MLflow
infers from the same sample), then both score the same DataFrame (`spark.read.parquet`)
in the same SparkSession (local[2], Arrow batches of 10,000 rows for both, one BLAS/OpenMP
thread per Python worker), keeping `id` and adding the prediction, into the same sink:
`write.format("noop")`, which computes every row of every column it is given. Before the
timed rounds, 2,000 rows scored by each side are checked against the model's own predict.

A round times one job per side, from building the scored DataFrame (`mdreg.spark.score`
zips and adds the artifact; `spark_udf` copies the model) to the end of the write;
rounds alternate mdreg, mlflow, mdreg, mlflow..., after one warm-up round (Python workers
started, models loaded in them). The session's start (JVM, first job) is timed apart.

spark_udf needs mlflow in the driver's interpreter and in Spark's Python workers, so the
script runs in one bench venv holding both, $MDREG_BENCH_CACHE (default
~/.cache/mdreg-bench)/spark: mdreg installed editable from this checkout with its spark,
sklearn and lightgbm extras, and mlflow (made on the first run, a few minutes; MLflow is
never a dependency of the project). Run with any other Python, the script makes or
reuses that venv and runs itself again there.

Writes section `score-spark` of benchmarks/RESULTS.md and benchmarks/results/score_spark.json.
Targets (issue #18): mdreg at least as fast as spark_udf (ratio >= 1.0, within this run's
noise); time linear in rows (10M/1M close to 10).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from harness import machine, now, table  # noqa: E402

CACHE = Path(os.environ.get("MDREG_BENCH_CACHE", "~/.cache/mdreg-bench")).expanduser()
SPARK_VENV = CACHE / "spark"
# Pinned as peers.py pins its MLflow venv, so that numbers from different days compare.
SPARK_REQUIREMENTS = [
    "-e",
    f"{REPO}[spark,sklearn,lightgbm]",
    "mlflow==3.17.2",
    "scikit-learn==1.9.1",
    "py-spy==0.4.3",
]
RESULTS_JSON = HERE / "results" / "score_spark.json"

MASTER = "local[2]"
ARROW_BATCH = 10_000  # score_bench.py's batch size; Spark's default too
CHECK_ROWS = 2_000
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
SIDES = ("mdreg", "mlflow")


def _log(message: str) -> None:
    print(f"[score_spark_bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _in_bench_venv() -> bool:
    return Path(sys.prefix).resolve() == SPARK_VENV.resolve()


def _reexec_in_venv() -> None:
    """Make (or reuse) the bench venv and run this script again with its Python."""
    from peers import ensure_venv  # its stamp: the venv is made once for these pins

    python = ensure_venv(SPARK_VENV, SPARK_REQUIREMENTS)
    os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


# ---------------------------------------------------------------------------------------
# Models and session


def _prepare_models(work: Path, names: list[str]) -> dict[str, dict]:
    """name -> the model, its artifact folder, its MLflow model folder, the prediction
    column mdreg writes."""
    import joblib
    import lightgbm  # noqa: F401 - the flavour's import, before MLflow's
    import mlflow.lightgbm
    import mlflow.sklearn
    import pandas as pd
    from mlflow.models import infer_signature
    from score_bench import _make_models

    import mdreg
    from mdreg.batch.outputs import output_columns

    made = _make_models(work)
    out = {}
    for name in names:
        path, sample = made[name]
        model = joblib.load(path)
        artifact = work / f"art_{name}"
        mdreg.prepare(path, artifact, x_sample=sample)
        read = pd.read_parquet if sample.suffix == ".parquet" else pd.read_csv
        x = read(sample).astype("float32")
        signature = infer_signature(x, model.predict(x))
        mlflow_dir = work / f"mlflow_{name}"
        if name == "lgbm":
            mlflow.lightgbm.save_model(model, str(mlflow_dir), signature=signature)
        else:  # MLflow 3 saves with skops, which trusts sklearn's Tree only when told
            mlflow.sklearn.save_model(
                model,
                str(mlflow_dir),
                signature=signature,
                skops_trusted_types=["sklearn.tree._tree.Tree"],
            )
        (prediction,) = [c.name for c in output_columns(artifact)]
        out[name] = {
            "model": model,
            "artifact": artifact,
            "mlflow": mlflow_dir,
            "prediction": prediction,
        }
    return out


def _session() -> tuple[object, float]:
    """A local[2] SparkSession and the seconds from nothing to its first job's end."""
    from pyspark.sql import SparkSession

    start = time.perf_counter()
    spark = (
        SparkSession.builder.master(MASTER)
        .appName("mdreg score-spark bench")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.memory", "3g")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(ARROW_BATCH))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    spark.range(1).count()
    return spark, time.perf_counter() - start


# ---------------------------------------------------------------------------------------
# The two sides


def _features() -> list[str]:
    from score_bench import FEATURES

    return [f"f{i}" for i in range(FEATURES)]


def _scored(side: str, spark, df, entry: dict):
    """The DataFrame of id and prediction that ``side`` computes (lazy)."""
    from pyspark.sql import functions as F

    if side == "mdreg":
        import mdreg.spark

        scored = mdreg.spark.score(spark, entry["artifact"], df, keep_columns=["id"])
        return scored.withColumnRenamed(entry["prediction"], "prediction")
    import mlflow.pyfunc

    udf = mlflow.pyfunc.spark_udf(
        spark, str(entry["mlflow"]), result_type="long", env_manager="local"
    )
    return df.select("id", udf(*[F.col(c) for c in _features()]).alias("prediction"))


def _timed(side: str, spark, df, entry: dict) -> tuple[float, float]:
    """(seconds to build the scored DataFrame, seconds of the whole job with the write)."""
    start = time.perf_counter()
    scored = _scored(side, spark, df, entry)
    built = time.perf_counter() - start
    scored.write.format("noop").mode("overwrite").save()
    return built, time.perf_counter() - start


def _check(spark, df, data: Path, entry: dict) -> None:
    """Both sides' predictions for the first CHECK_ROWS ids equal the model's own."""
    import numpy as np
    import pyarrow.dataset as ds
    from pyspark.sql import functions as F

    table_ = ds.dataset(data).to_table(filter=ds.field("id") < CHECK_ROWS)
    x = table_.select(_features()).to_pandas()
    want = dict(zip(table_["id"].to_pylist(), entry["model"].predict(x).tolist(), strict=True))
    sample = df.filter(F.col("id") < CHECK_ROWS)
    for side in SIDES:
        got = _scored(side, spark, sample, entry).toPandas()
        assert len(got) == len(want), f"{side}: {len(got)} rows, not {len(want)}"
        mismatched = int(np.sum([want[i] != p for i, p in zip(got["id"], got["prediction"])]))
        assert mismatched == 0, f"{side}: {mismatched} of {len(got)} predictions differ"


def bench(work: Path, rows_list: list[int], names: list[str], rounds: int) -> dict:
    from score_bench import _make_data

    os.environ.update(ONE_THREAD)  # the JVM and its Python workers inherit them
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    os.environ.setdefault("MLFLOW_TRACKING_URI", (work / "mlruns").as_uri())
    os.environ["GIT_PYTHON_REFRESH"] = "quiet"
    # pyspark 4 warns on every pandas UDF that pandas 3 is not fully supported, and
    # spark_udf warns on each call that env_manager="local" does not rebuild the model's
    # environment (it is this venv, on purpose)
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    entries = _prepare_models(work, names)
    logging.getLogger("mlflow").setLevel(logging.ERROR)  # after its import, which sets it
    spark, startup = _session()
    _log(f"session up in {startup:.1f} s")
    runs = []
    for rows in rows_list:
        data = work / f"data_{rows}.parquet"
        _make_data(data, rows)
        df = spark.read.parquet(str(data))
        partitions = df.rdd.getNumPartitions()
        for name in names:
            entry = entries[name]
            _check(spark, df, data, entry)
            seconds: dict[str, list[float]] = {s: [] for s in SIDES}
            built: dict[str, list[float]] = {s: [] for s in SIDES}
            warmup: dict[str, float] = {}
            first = rows == rows_list[0]  # later row counts find workers and models warm
            for round_ in range(0 if first else 1, rounds + 1):
                for side in SIDES:
                    b, s = _timed(side, spark, df, entry)
                    _log(f"{name} {rows:,} rows round {round_} {side}: {s:.2f} s (build {b:.2f})")
                    if round_ == 0:
                        warmup[side] = s
                    else:
                        seconds[side].append(s)
                        built[side].append(b)
            runs.append(
                {
                    "model": name,
                    "rows": rows,
                    "partitions": partitions,
                    "seconds": seconds,
                    "build_seconds": built,
                    "warmup_seconds": warmup,
                }
            )
        data.unlink()  # 10M rows are ~0.9 GB
    spark.stop()
    return {"startup_seconds": startup, "runs": runs}


# ---------------------------------------------------------------------------------------
# Report


def _versions() -> dict[str, str]:
    import importlib.metadata as m

    names = ["mdreg", "pyspark", "mlflow", "scikit-learn", "lightgbm", "pandas", "pyarrow"]
    return {n: m.version(n) for n in names}


def report(result: dict, load_start: tuple, load_end: tuple, rounds: int) -> str:
    lines, ratios, growth = [], [], []
    by = {(r["model"], r["rows"]): r for r in result["runs"]}
    for r in result["runs"]:
        rows = r["rows"]
        med = {s: statistics.median(r["seconds"][s]) for s in SIDES}
        best = {s: min(r["seconds"][s]) for s in SIDES}
        ratio = med["mlflow"] / med["mdreg"]  # rows/s ratio, mdreg over mlflow
        ratios.append(ratio)
        lines.append(
            [
                r["model"],
                f"{rows:,}",
                str(r["partitions"]),
                f"{rows / med['mdreg']:,.0f}",
                f"{rows / med['mlflow']:,.0f}",
                f"{ratio:.2f}",
                f"{med['mdreg']:.1f} / {best['mdreg']:.1f}",
                f"{med['mlflow']:.1f} / {best['mlflow']:.1f}",
                f"{statistics.median(r['build_seconds']['mdreg']):.2f} / "
                f"{statistics.median(r['build_seconds']['mlflow']):.2f}",
            ]
        )
    body = table(
        lines,
        [
            "model",
            "rows",
            "partitions",
            "mdreg rows/s",
            "spark_udf rows/s",
            "ratio",
            "mdreg s (median / best)",
            "spark_udf s (median / best)",
            "building the DataFrame s (mdreg / spark_udf)",
        ],
    )
    rows_list = sorted({r["rows"] for r in result["runs"]})
    if len(rows_list) > 1:
        small, large = rows_list[0], rows_list[-1]
        for name in dict.fromkeys(r["model"] for r in result["runs"]):
            parts = []
            for side in SIDES:
                t_small = statistics.median(by[(name, small)]["seconds"][side])
                t_large = statistics.median(by[(name, large)]["seconds"][side])
                growth.append(t_large / t_small)
                parts.append(f"{side} {t_large / t_small:.1f}x")
            body += (
                f"\n\nTime growth {name}, {small:,} -> {large:,} rows ({large / small:.0f}x): "
                + ", ".join(parts)
                + " the median wall time."
            )
    fast = all(r >= 1.0 for r in ratios)
    body += (
        f"\n\nRatio: spark_udf's median seconds over mdreg's (mdreg's rows/s over spark_udf's). "
        f"Target: mdreg at least as fast as spark_udf: {'met' if fast else 'missed'} "
        f"(ratios {min(ratios):.2f}–{max(ratios):.2f})."
    )
    if growth:
        body += (
            f" Time linear in rows: {rows_list[-1] / rows_list[0]:.0f}x rows took "
            f"{min(growth):.1f}x–{max(growth):.1f}x the time."
        )
    v = result["versions"]
    body += (
        f"\n\nOne SparkSession, `{MASTER}`, for both sides; started (JVM and a first job) in "
        f"{result['startup_seconds']:.1f} s, not counted above. Each round: one noop write "
        f"per side (id and the prediction), median and best of {rounds} interleaved rounds "
        "after a warm-up round (at the first row count only: later ones find the Python "
        "workers started and the models loaded in them); the seconds include building the scored DataFrame "
        "(mdreg zips and adds the artifact; spark_udf copies the model), shown apart in the "
        f"last column. Arrow batches of {ARROW_BATCH:,} rows "
        "(`spark.sql.execution.arrow.maxRecordsPerBatch`) both sides; one BLAS/OpenMP thread "
        f"per Python worker. Predictions of {CHECK_ROWS:,} rows checked equal to the model's "
        f"own predict on both sides. pyspark {v['pyspark']}, mlflow {v['mlflow']}, "
        f"scikit-learn {v['scikit-learn']}, lightgbm {v['lightgbm']}, pandas {v['pandas']}, "
        f"pyarrow {v['pyarrow']}."
    )
    body += (
        f"\n\nLoad averages (1, 5, 15 min): {', '.join(f'{x:.1f}' for x in load_start)} at "
        f"the start, {', '.join(f'{x:.1f}' for x in load_end)} at the end."
    )
    return body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1e6,1e7", help="comma-separated row counts")
    parser.add_argument("--models", default="rf,lgbm")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds after the warm-up")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    if not _in_bench_venv():
        _reexec_in_venv()
    rows_list = [int(float(r)) for r in args.rows.split(",")]
    names = args.models.split(",")
    load_start = os.getloadavg()
    header = machine()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mdreg-score-spark-bench-") as tmp:
        result = bench(Path(tmp), rows_list, names, args.rounds)
    load_end = os.getloadavg()
    result["versions"] = _versions()
    body = report(result, load_start, load_end, args.rounds)
    print(body)
    if args.no_write:
        return
    from run import write_section

    write_section("score-spark", body)
    RESULTS_JSON.parent.mkdir(exist_ok=True)
    RESULTS_JSON.write_text(
        json.dumps(
            {
                "date": now(),
                "machine": header,
                "platform": platform.platform(),
                "loadavg_start": list(load_start),
                "settings": {
                    "master": MASTER,
                    "arrow_batch": ARROW_BATCH,
                    "rounds": args.rounds,
                    "sink": "noop",
                    "threads_per_worker": 1,
                },
                "versions": result["versions"],
                **{k: v for k, v in result.items() if k != "versions"},
                "loadavg_end": list(load_end),
                "seconds": time.perf_counter() - started,
            },
            indent=1,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
