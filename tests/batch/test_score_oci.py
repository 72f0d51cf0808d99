"""``mdreg score`` reading and writing ``oci://`` objects: the real ``oci`` SDK against the
loopback OCI server, real worker processes, predictions compared with the model's own."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mdreg.batch import remote
from mdreg.batch.tables import open_input
from mdreg.errors import DestinationExistsError, InputError, RemoteError, UsageError
from mdreg.flows.score import score_dataset
from mdreg.storage.base import ObjectNotFoundError
from mdreg.storage.oci import OciBucket
from tests.batch import test_score
from tests.catalog.test_cli import one_error_line
from tests.conftest import mdreg_proc
from tests.oci_server.fixtures import NAMESPACE, cli_env, settings_for

pytest.importorskip("pyarrow")
pytest.importorskip("oci")
pytestmark = pytest.mark.usefixtures("clean_oci_env")

BASE = f"oci://artifacts@{NAMESPACE}"
iris_artifact = test_score.iris_artifact  # the local engine's fixtures: one prepared artifact
rows = test_score.rows
_expected = test_score._expected


@pytest.fixture
def bucket(oci_server: Any, oci_files: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """The test's view of the bucket; score_dataset finds the server through the same
    environment the CLI uses. Temp files go under tmp_path, to be counted."""
    for name, value in cli_env(oci_server, oci_files, tmp_path / "home").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(tempfile, "tempdir", str(_temp(tmp_path)))
    b = OciBucket("artifacts", NAMESPACE, settings=settings_for(oci_server, oci_files))
    yield b
    b.close()


def _temp(tmp_path: Path) -> Path:
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return tmp_path / "tmp"


def _put(bucket: OciBucket, key: str, frame: pd.DataFrame, tmp_path: Path, **kw: Any) -> str:
    local = tmp_path / Path(key).name
    if key.endswith(".parquet"):
        frame.to_parquet(local, index=False, **kw)
    else:
        frame.to_csv(local, index=False)
    bucket.put(key, local)
    return f"{BASE}/{key}"


def _get(bucket: OciBucket, key: str, tmp_path: Path) -> pd.DataFrame:
    local = tmp_path / f"got-{Path(key).name}"
    bucket.get(key, local)
    if key.endswith(".csv"):
        return pd.read_csv(local)
    if key.endswith(".jsonl"):
        return pd.read_json(local, lines=True)
    return pd.read_parquet(local)


def _score(source: str, output: str, artifact: Path, **kw: Any) -> Any:
    kw.setdefault("workers", 1)  # each worker imports scikit-learn: seconds on a busy machine
    return score_dataset(artifact, source, output, batch_rows=1000, **kw)


def test_parquet_object_in_parquet_object_out_in_input_order(
    bucket, oci_server, iris_artifact, iris_rf, rows, tmp_path, monkeypatch
):
    # Small GETs and read-ahead, and one body cut short: many ranged GETs, one retried.
    monkeypatch.setattr(remote, "MAX_GET", 16 << 10)
    monkeypatch.setattr(remote, "READ_AHEAD", 32 << 10)
    source = _put(bucket, "in/rows.parquet", rows, tmp_path, row_group_size=2000)
    oci_server.faults.truncate("get_object", after_bytes=100)
    started: list[int | None] = []
    result = _score(
        source, f"{BASE}/out/scored.parquet", iris_artifact, workers=2, on_start=started.append
    )
    assert started == [len(rows)]  # from the footer, before any batch
    assert (result.rows, result.output) == (len(rows), f"{BASE}/out/scored.parquet")
    gets = oci_server.statuses("get_object")
    assert gets.count(206) > 10 and set(gets) == {206}
    assert oci_server.faults.injected[("get_object", "truncate")] == 1
    scored = _get(bucket, "out/scored.parquet", tmp_path)
    assert scored.columns.tolist() == [*rows.columns, "prediction"]
    pd.testing.assert_frame_equal(scored[rows.columns], rows)
    assert (scored["prediction"].to_numpy() == _expected(iris_rf, rows)).all()
    assert list(_temp(tmp_path).iterdir()) == []


def test_a_prefix_of_parquet_objects_read_in_key_order(
    bucket, iris_artifact, iris_rf, rows, tmp_path
):
    chunks = [rows.iloc[i : i + 2500].reset_index(drop=True) for i in range(0, len(rows), 2500)]
    for i, chunk in enumerate(chunks):
        _put(bucket, f"parts/day={i}/part-{i}.parquet", chunk, tmp_path)
    bucket.put("parts/_SUCCESS", _empty(tmp_path))  # a job's marker: not data
    for prefix in ("parts", "parts/"):
        table = open_input(f"{BASE}/{prefix}")
        assert (table.format, table.rows) == ("parquet", len(rows))
    result = _score(f"{BASE}/parts", f"{BASE}/scored.csv", iris_artifact, keep_columns=["id"])
    assert result.rows == len(rows)
    scored = _get(bucket, "scored.csv", tmp_path)
    assert scored.columns.tolist() == ["id", "prediction"]
    assert (scored["id"] == rows["id"]).all()
    assert (scored["prediction"].to_numpy() == _expected(iris_rf, rows)).all()


def test_csv_object_in_json_lines_out(bucket, iris_artifact, iris_rf, rows, tmp_path):
    source = _put(bucket, "in/rows.csv", rows, tmp_path)
    result = _score(source, f"{BASE}/out/scored.jsonl", iris_artifact)
    assert result.rows == len(rows)
    scored = _get(bucket, "out/scored.jsonl", tmp_path)
    assert (scored["id"] == rows["id"]).all()
    assert (scored["prediction"].to_numpy() == _expected(iris_rf, rows)).all()


def test_an_existing_output_needs_force_and_is_replaced_whole(
    bucket, iris_artifact, rows, tmp_path
):
    source = _put(bucket, "in.parquet", rows.head(100), tmp_path)
    (tmp_path / "precious").write_text("precious")
    bucket.put("out.parquet", tmp_path / "precious")
    with pytest.raises(DestinationExistsError, match=r"out\.parquet exists: pass --force"):
        _score(source, f"{BASE}/out.parquet", iris_artifact)
    assert _raw(bucket, "out.parquet", tmp_path) == b"precious"
    _score(source, f"{BASE}/out.parquet", iris_artifact, force=True)
    assert len(_get(bucket, "out.parquet", tmp_path)) == 100


def test_a_failed_upload_leaves_no_object_and_no_temp_file(
    bucket, oci_server, iris_artifact, rows, tmp_path
):
    source = _put(bucket, "in.parquet", rows.head(100), tmp_path)
    oci_server.faults.reset("put_object", times=None)  # every try: retries run out
    with pytest.raises(RemoteError):
        _score(source, f"{BASE}/out.parquet", iris_artifact)
    assert bucket.head("out.parquet") is None
    (tmp_path / "old").write_text("old")
    oci_server.faults.clear()
    bucket.put("out.parquet", tmp_path / "old")
    oci_server.faults.reset("put_object", times=None)
    with pytest.raises(RemoteError):  # over an existing object: the old one stays whole
        _score(source, f"{BASE}/out.parquet", iris_artifact, force=True)
    oci_server.faults.clear()
    assert _raw(bucket, "out.parquet", tmp_path) == b"old"
    assert list(_temp(tmp_path).iterdir()) == []


def test_mistakes_are_caught_before_any_work(bucket, iris_artifact, rows, tmp_path):
    source = _put(bucket, "in.parquet", rows.head(10), tmp_path)
    with pytest.raises(ObjectNotFoundError, match="no such object"):
        _score(f"{BASE}/nothing.parquet", f"{BASE}/out.parquet", iris_artifact)
    with pytest.raises(UsageError, match="one object, not a folder"):
        _score(source, f"{BASE}/results/", iris_artifact)
    bucket.put("results/a.parquet", _empty(tmp_path))
    with pytest.raises(UsageError, match="one object, not a folder"):
        _score(source, f"{BASE}/results", iris_artifact)
    bucket.put("in.txt", _empty(tmp_path))
    with pytest.raises(UsageError, match="cannot tell the format"):
        _score(f"{BASE}/in.txt", f"{BASE}/out.parquet", iris_artifact)
    _put(bucket, "mixed/a.parquet", rows.head(10), tmp_path)
    _put(bucket, "mixed/b.parquet", rows.head(10).drop(columns=["id"]), tmp_path)
    with pytest.raises(InputError, match=r"mixed/b\.parquet: its columns differ from those of"):
        _score(f"{BASE}/mixed", f"{BASE}/out.parquet", iris_artifact)
    bucket.put("bad.parquet", _empty(tmp_path))
    with pytest.raises(InputError, match=r"bad\.parquet: cannot read it as parquet"):
        _score(f"{BASE}/bad.parquet", f"{BASE}/out.parquet", iris_artifact)
    assert [o.key for o in bucket.list()] == [
        "bad.parquet",
        "in.parquet",
        "in.txt",
        "mixed/a.parquet",
        "mixed/b.parquet",
        "results/a.parquet",
    ]


def test_the_cli_reads_and_writes_oci_uris(
    oci_server, oci_files, iris_artifact, iris_rf, rows, tmp_path
):
    b = OciBucket("artifacts", NAMESPACE, settings=settings_for(oci_server, oci_files))
    source = _put(b, "in/rows.parquet", rows, tmp_path)
    env = cli_env(oci_server, oci_files, tmp_path / "home")
    out = f"{BASE}/out/scored.parquet"
    run = mdreg_proc("score", iris_artifact, source, "-o", out, "-w", "2", env=env, timeout=120)
    assert run.code == 0, run.err
    assert run.out.strip() == out
    assert (_get(b, "out/scored.parquet", tmp_path)["prediction"] == _expected(iris_rf, rows)).all()
    run = mdreg_proc("score", iris_artifact, source, "-o", out, env=env, timeout=120)
    assert (
        run.code == 3 and one_error_line(run) == f"error: {out} exists: pass --force to replace it"
    )
    b.close()


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty"
    path.write_bytes(b"")
    return path


def _raw(bucket: OciBucket, key: str, tmp_path: Path) -> bytes:
    bucket.get(key, tmp_path / "raw")
    return (tmp_path / "raw").read_bytes()
