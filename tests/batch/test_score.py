"""``mdreg score`` with the local engine: the artifact's score.py over a dataset in
batches, in real worker processes, compared with the model's own predict."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import mdreg_proc

pytest.importorskip("pyarrow")


@pytest.fixture(scope="module")
def iris_artifact(
    iris_rf: Path, iris_x_csv: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    from mdreg import prepare

    out = tmp_path_factory.mktemp("score") / "artifact"
    return prepare(iris_rf, out, x_sample=iris_x_csv).artifact_dir


@pytest.fixture(scope="module")
def rows(iris) -> pd.DataFrame:
    """7,500 iris rows in a shuffled order, with an id column the model does not use."""
    X, _ = iris
    frame = pd.concat([X] * 50, ignore_index=True).sample(frac=1.0, random_state=1)
    frame.insert(0, "id", np.arange(len(frame)) * 3)
    return frame.reset_index(drop=True)


def _expected(iris_rf: Path, frame: pd.DataFrame) -> np.ndarray:
    import joblib

    model = joblib.load(iris_rf)
    return model.predict(frame[list(model.feature_names_in_)])


@pytest.mark.parametrize("workers", ["1", "2"])
def test_parquet_scored_in_input_order_as_the_model_predicts(
    iris_artifact, iris_rf, rows, tmp_path, workers
):
    source, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    rows.to_parquet(source)
    run = mdreg_proc(
        "score", iris_artifact, source, "-o", out, "--batch-rows", "1000", "-w", workers, "--json"
    )
    assert run.code == 0, run.err
    summary = json.loads(run.out)
    assert summary["rows"] == len(rows) and summary["workers"] == int(workers)
    scored = pd.read_parquet(out)
    assert scored.columns.tolist() == [*rows.columns, "prediction"]
    pd.testing.assert_frame_equal(scored[rows.columns], rows)
    assert (scored["prediction"].to_numpy() == _expected(iris_rf, rows)).all()
    assert str(scored["prediction"].dtype) == "int64"  # output_schema.json's dtype


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_csv_and_json_lines_in_and_out(iris_artifact, iris_rf, rows, tmp_path, suffix):
    source, out = tmp_path / f"in{suffix}", tmp_path / f"out{suffix}"
    if suffix == ".csv":
        rows.to_csv(source, index=False)
    else:
        rows.to_json(source, orient="records", lines=True)
    run = mdreg_proc(
        "score", iris_artifact, source, "-o", out, "--keep-columns", "id", "--batch-rows", "777"
    )
    assert run.code == 0, run.err
    assert run.out.strip() == str(out)
    scored = pd.read_csv(out) if suffix == ".csv" else pd.read_json(out, lines=True)
    assert scored.columns.tolist() == ["id", "prediction"]
    assert (scored["id"] == rows["id"]).all()
    assert (scored["prediction"].to_numpy() == _expected(iris_rf, rows)).all()


def test_mistakes_are_one_line_errors_before_any_work(iris_artifact, rows, tmp_path):
    source, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    rows.drop(columns=["petal width (cm)"]).to_parquet(source)
    run = mdreg_proc("score", iris_artifact, source, "-o", out)
    assert run.code == 3
    assert run.err.startswith(f"error: {source} lacks the column petal width (cm) that score.py")
    assert not out.exists()
    rows.to_parquet(source)
    out.write_text("precious")
    run = mdreg_proc("score", iris_artifact, source, "-o", out)
    assert run.code == 3 and "exists: pass --force" in run.err
    assert out.read_text() == "precious"
    clash = rows.assign(prediction=1)
    clash.to_parquet(source)
    run = mdreg_proc("score", iris_artifact, source, "-o", tmp_path / "o2.parquet")
    assert run.code == 2 and "prediction would be overwritten" in run.err
    assert list(tmp_path.glob(".*")) == []  # no temporary file left behind


def _edited(artifact: Path, dest: Path, old: str, new: str) -> Path:
    shutil.copytree(artifact, dest)
    score = dest / "score.py"
    text = score.read_text()
    assert old in text
    score.write_text(text.replace(old, new, 1))
    return dest


FAIL_ON_LONG_SEPALS = (
    "    return features\n",
    "    if (features['sepal length (cm)'] > 7.6).any():\n"
    "        raise ValueError('sepal too long')\n"
    "    return features\n",
)


def test_on_error_fail_names_the_batch_and_skip_writes_the_error(
    iris_artifact, iris_rf, rows, tmp_path
):
    picky = _edited(iris_artifact, tmp_path / "art", *FAIL_ON_LONG_SEPALS)
    source = tmp_path / "in.parquet"
    rows.to_parquet(source)
    bad = rows["sepal length (cm)"] > 7.6
    first_bad = int(np.flatnonzero(bad.to_numpy())[0])
    batch = first_bad // 500
    run = mdreg_proc("score", picky, source, "-o", tmp_path / "o.parquet", "--batch-rows", "500")
    assert run.code == 1
    assert run.err.strip() == (
        f"error: batch {batch} (rows {batch * 500:,}-{batch * 500 + 499:,}): "
        "predict raised ValueError: sepal too long"
    )
    assert not (tmp_path / "o.parquet").exists()

    out = tmp_path / "skip.parquet"
    run = mdreg_proc(
        "score", picky, source, "-o", out, "--batch-rows", "500", "--on-error", "skip", "--json"
    )
    assert run.code == 0, run.err
    assert json.loads(run.out)["skipped"] == int(bad.sum())
    scored = pd.read_parquet(out)
    assert scored["error"].notna().tolist() == bad.tolist()
    assert set(scored.loc[bad, "error"]) == {"predict raised ValueError: sepal too long"}
    assert scored.loc[bad, "prediction"].isna().all()
    good = ~bad
    assert (scored.loc[good, "prediction"].to_numpy() == _expected(iris_rf, rows[good])).all()


def test_an_interrupted_run_leaves_no_output(iris_artifact, rows, tmp_path):
    slow = _edited(
        iris_artifact,
        tmp_path / "art",
        "    return features\n",
        "    import time\n    time.sleep(0.5)\n    return features\n",
    )
    source, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    rows.to_parquet(source)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mdreg", "score", slow, source, "-o", out, "--batch-rows", "100"],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".out.parquet.*")):  # writing has begun
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.1)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    children = subprocess.run(["pgrep", "-f", f"mdreg.worker {slow}"], capture_output=True)
    assert children.stdout == b""


def test_a_folder_of_parquet_files_as_spark_writes_it(iris_artifact, iris_rf, rows, tmp_path):
    """Part files in name order; ``_SUCCESS`` and ``.crc`` files left out, as pyarrow's
    datasets leave them; files with other columns are an error before any work."""
    from mdreg.errors import InputError
    from mdreg.flows.score import score_dataset

    folder = tmp_path / "in"
    folder.mkdir()
    for i, start in enumerate(range(0, len(rows), 2500)):
        rows.iloc[start : start + 2500].to_parquet(folder / f"part-{i:05d}.snappy.parquet")
        (folder / f".part-{i:05d}.snappy.parquet.crc").write_bytes(b"not parquet")
    (folder / "_SUCCESS").write_bytes(b"")
    out = tmp_path / "out.parquet"
    run = mdreg_proc("score", iris_artifact, folder, "-o", out, "-w", "1", "--json")
    assert run.code == 0, run.err
    scored = pd.read_parquet(out)
    pd.testing.assert_frame_equal(scored[rows.columns], rows)
    assert (scored["prediction"].to_numpy() == _expected(iris_rf, rows)).all()

    rows.drop(columns="id").head(5).to_parquet(folder / "part-00009.snappy.parquet")
    with pytest.raises(InputError, match=r"part-00009\.snappy\.parquet: its columns differ"):
        score_dataset(iris_artifact, str(folder), str(tmp_path / "again.parquet"))
    assert not (tmp_path / "again.parquet").exists()


def test_the_allocator_settings_leave_a_users_choice(monkeypatch):
    from mdreg.batch.memory import hold_flat

    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")
    hold_flat()
    assert os.environ["ARROW_DEFAULT_MEMORY_POOL"] == "jemalloc"
    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL")
    hold_flat()
    assert os.environ["ARROW_DEFAULT_MEMORY_POOL"] == "system"


def test_workers_stop_quickly_and_still_run_score_pys_atexit_hooks(iris_artifact, rows, tmp_path):
    """A worker exits without tearing its modules down (0.65 s each with pandas and
    scikit-learn), but what score.py registered with atexit still runs, and the output
    is whole."""
    art = tmp_path / "art"
    shutil.copytree(iris_artifact, art)
    marker = tmp_path / "atexit-ran"
    with (art / "score.py").open("a") as f:
        f.write(
            f"\nimport atexit as _atexit\n_atexit.register(lambda: open({str(marker)!r}, 'a')"
            ".write('x'))\n"
        )
    source, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    rows.to_parquet(source)
    run = mdreg_proc("score", art, source, "-o", out, "-w", "2", "--json")
    assert run.code == 0, run.err
    assert marker.read_text() == "xx"  # once per worker
    assert len(pd.read_parquet(out)) == len(rows)


def test_the_scoring_process_does_without_pandas(iris_artifact, rows, tmp_path):
    """Only the workers need pandas (score.py does); mdreg's own process reads, sends and
    writes Arrow, and stays about 40 MB smaller without it."""
    source, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    rows.to_parquet(source)
    code = (
        "import sys\n"
        "from mdreg.flows.score import score_dataset\n"
        f"score_dataset({str(iris_artifact)!r}, {str(source)!r}, {str(out)!r}, workers=1)\n"
        "print(sorted(m for m in ('pandas', 'sklearn') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert len(pd.read_parquet(out)) == len(rows)
