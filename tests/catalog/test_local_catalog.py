"""The local SQLite catalog: the shared suite, plus storage, migrations and gc."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mdreg.catalog import backend_for_id, open_catalog
from mdreg.catalog.ids import LOCAL_ID, new_model_id
from mdreg.catalog.local import LocalCatalog
from mdreg.catalog.local.schema import MIGRATIONS
from mdreg.errors import ArtifactError, InputError, MdregError, UsageError
from tests.catalog.suite import CatalogSuite, MakeZip, details


class TestLocalCatalog(CatalogSuite):
    @pytest.fixture
    def catalog(self, mdreg_home: Path) -> Iterator[LocalCatalog]:
        with LocalCatalog() as cat:
            yield cat


@pytest.fixture
def cat(mdreg_home: Path) -> Iterator[LocalCatalog]:
    with LocalCatalog() as c:
        yield c


def blobs(home: Path) -> list[Path]:
    return sorted((home / "blobs" / "sha256").rglob("*.zip"))


# -- ids --------------------------------------------------------------------------------


def test_local_ids_never_look_like_ocids() -> None:
    ids = {new_model_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(LOCAL_ID.match(i) and not i.startswith("ocid1.") for i in ids)
    assert all(backend_for_id(i) == "local" for i in ids)
    assert backend_for_id("ocid1.datasciencemodel.oc1.iad.aaaa") == "oci"
    with pytest.raises(InputError, match="not a model id"):
        backend_for_id("mdl-short")


def test_the_oci_catalog_needs_credentials(mdreg_home: Path) -> None:
    with pytest.raises(UsageError, match="no OCI config file at"):
        open_catalog("oci")
    with pytest.raises(UsageError, match="unknown catalog"):
        open_catalog("s3")
    assert isinstance(open_catalog(), LocalCatalog)


# -- storage ----------------------------------------------------------------------------


def test_the_same_artifact_is_stored_once(
    cat: LocalCatalog, make_zip: MakeZip, mdreg_home: Path
) -> None:
    z = make_zip()
    a = cat.save(details("a"), z)
    b = cat.save(details("b"), z)
    assert len(blobs(mdreg_home)) == 1
    assert blobs(mdreg_home)[0].name == f"{a.artifact_sha256}.zip"
    cat.delete(a.id)
    assert len(blobs(mdreg_home)) == 1  # b still uses it
    cat.delete(b.id)
    assert blobs(mdreg_home) == []  # freed with its last model
    assert cat.db.execute("SELECT count(*) FROM model_documents").fetchone()[0] == 0


def test_move_takes_the_file_and_copy_leaves_it(cat: LocalCatalog, make_zip: MakeZip) -> None:
    z1, z2 = make_zip(), make_zip()
    cat.save(details("copied"), z1)
    assert z1.exists()
    cat.save(details("moved"), z2, move=True)
    assert not z2.exists()
    assert cat.fsck().ok


def test_records_are_in_sqlite_in_wal_mode(
    cat: LocalCatalog, make_zip: MakeZip, mdreg_home: Path
) -> None:
    cat.save(details("a"), make_zip())
    assert cat.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert cat.db.execute("PRAGMA busy_timeout").fetchone()[0] >= 10_000
    db = sqlite3.connect(mdreg_home / "catalog.db")
    assert db.execute("SELECT display_name FROM models").fetchall() == [("a",)]
    names = [r[0] for r in db.execute("SELECT name FROM _mdreg_migrations ORDER BY rowid")]
    assert (
        names
        == [name for name, _ in MIGRATIONS.steps]
        == ["m001_models_and_version_sets", "m002_listing_indexes"]
    )


def test_a_corrupt_blob_is_refused_on_download(
    cat: LocalCatalog, make_zip: MakeZip, mdreg_home: Path, tmp_path: Path
) -> None:
    record = cat.save(details("a"), make_zip())
    blob = blobs(mdreg_home)[0]
    blob.write_bytes(blob.read_bytes()[:-1] + b"X")
    with pytest.raises(ArtifactError, match="corrupt"):
        cat.download_artifact(record.id, tmp_path / "out.zip")
    assert not (tmp_path / "out.zip").exists()
    blob.unlink()
    with pytest.raises(ArtifactError, match="missing"):
        cat.download_artifact(record.id, tmp_path / "out.zip")
    assert cat.fsck().missing_artifacts == [record.id]


def test_artifact_size_limit_is_configurable(
    make_zip: MakeZip, monkeypatch: pytest.MonkeyPatch
) -> None:
    z = make_zip(b"x" * 5000)
    monkeypatch.setenv("MDREG_LOCAL_MAX_ARTIFACT_BYTES", "1000")
    with LocalCatalog() as cat:
        assert cat.max_artifact_bytes == 1000
        with pytest.raises(
            InputError,
            match=r"over the local catalog's limit of 1000.*MDREG_LOCAL_MAX_ARTIFACT_BYTES",
        ):
            cat.save(details("a"), z)
        assert cat.list() == [] and cat.fsck().orphan_blobs == []
    monkeypatch.setenv("MDREG_LOCAL_MAX_ARTIFACT_BYTES", "none")
    assert LocalCatalog().max_artifact_bytes is None
    monkeypatch.delenv("MDREG_LOCAL_MAX_ARTIFACT_BYTES")
    assert LocalCatalog().max_artifact_bytes == 6 * 2**30


# -- migrations -------------------------------------------------------------------------


def test_migrations_run_once_and_are_recorded(mdreg_home: Path, make_zip: MakeZip) -> None:
    with LocalCatalog() as cat:
        cat.save(details("a"), make_zip())
    db = sqlite3.connect(mdreg_home / "catalog.db", isolation_level=None)
    assert MIGRATIONS.pending(db) == []
    assert MIGRATIONS.apply(db) == []
    with LocalCatalog() as cat:
        assert [r.display_name for r in cat.list()] == ["a"]


def test_an_old_database_is_upgraded(mdreg_home: Path) -> None:
    mdreg_home.mkdir()
    db = sqlite3.connect(mdreg_home / "catalog.db", isolation_level=None)
    first = MIGRATIONS.steps[:1]
    from mdreg.catalog.local.migrations import Migrations

    old = Migrations("catalog")
    for _, step in first:
        old(step)
    assert old.apply(db) == ["m001_models_and_version_sets"]
    db.close()
    with LocalCatalog() as cat:
        cat.list()
        indexes = {
            r[0] for r in cat.db.execute("SELECT name FROM sqlite_master WHERE type='index'")
        }
    assert "models_newest" in indexes


def test_a_database_from_a_newer_mdreg_is_refused(mdreg_home: Path) -> None:
    with LocalCatalog() as cat:
        cat.list()
        cat.db.execute("INSERT INTO _mdreg_migrations VALUES ('catalog', 'm999_future', 'x')")
    with pytest.raises(MdregError, match="newer mdreg"):
        LocalCatalog().list()


def test_a_damaged_database_is_one_clear_error(mdreg_home: Path) -> None:
    mdreg_home.mkdir()
    (mdreg_home / "catalog.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(MdregError, match="catalog"):
        LocalCatalog().list()


# -- gc ---------------------------------------------------------------------------------


def test_gc_removes_orphans_and_stale_temps_only(
    cat: LocalCatalog, make_zip: MakeZip, mdreg_home: Path
) -> None:
    kept = cat.save(details("kept"), make_zip())
    orphan = cat.blobs.put_file(make_zip())  # a blob whose save died before its row
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    stale = cat.blobs.tmp / f"{dead}-0a1b2c3d.partial"
    stale.write_bytes(b"half a blob")
    stale_dir = cat.blobs.tmp / f"{dead}-0a1b2c3e.staging"
    stale_dir.mkdir()
    (stale_dir / "artifact.zip").write_bytes(b"half a zip")
    live = cat.blobs.tmp / f"{os.getpid()}-0a1b2c3f.partial"  # this process is alive: in progress
    live.write_bytes(b"being written")

    dry = cat.gc(dry_run=True)
    assert dry.removed_blobs == [orphan.sha256] and orphan.path.exists()
    report = cat.gc()
    assert report.removed_blobs == [orphan.sha256] and report.kept_blobs == 1
    assert sorted(report.removed_temps) == sorted([stale.name, stale_dir.name])
    assert not orphan.path.exists() and not stale.exists() and not stale_dir.exists()
    assert live.exists()
    assert [b.name for b in blobs(mdreg_home)] == [f"{kept.artifact_sha256}.zip"]
    assert cat.fsck().ok and cat.fsck().orphan_blobs == []


@pytest.mark.parametrize(
    "failure",
    [sqlite3.OperationalError("disk I/O error"), KeyboardInterrupt()],
    ids=["error", "interrupt"],
)
def test_a_save_failing_after_its_blob_removes_the_blob(
    cat: LocalCatalog,
    make_zip: MakeZip,
    mdreg_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    failure: BaseException,
) -> None:
    """Blob first, then the row: a failure between them takes the new blob away at once
    (gc is for SIGKILL), but never a blob another model uses."""
    from mdreg.storage.file import FileBucket

    used = make_zip()
    kept = cat.save(details("kept"), used)
    bucket = FileBucket(tmp_path / "bucket")
    bucket.put("new.zip", make_zip())

    def insert(*args: object) -> None:
        raise failure

    monkeypatch.setattr(cat, "_insert", insert)
    for save in (
        lambda: cat.save(details("new"), make_zip()),
        lambda: cat.save(details("new"), make_zip(), move=True),
        lambda: cat.save_from_bucket(details("new"), bucket, "new.zip"),
        lambda: cat.save(details("again"), used),
    ):  # the blob "kept" uses
        with pytest.raises(type(failure)):
            save()
        assert [b.name for b in blobs(mdreg_home)] == [f"{kept.artifact_sha256}.zip"]
        assert list(cat.blobs.tmp.iterdir()) == []
    monkeypatch.undo()
    assert [m.id for m in cat.list()] == [kept.id]
    assert cat.fsck().ok and cat.fsck().orphan_blobs == []


def test_the_database_itself_keeps_labels_unique(cat: LocalCatalog, make_zip: MakeZip) -> None:
    first = cat.save(details("a", version_set="s", version_label="v1"), make_zip())
    row = cat.db.execute("SELECT * FROM models WHERE id = ?", (first.id,)).fetchone()
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        cat.db.execute(
            "INSERT INTO models VALUES (" + ",".join("?" * len(row)) + ")",
            ("mdl-01HZZZZZZZZZZZZZZZZZZZZZZZ", *row[1:]),
        )
