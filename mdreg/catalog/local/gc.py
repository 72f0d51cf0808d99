"""Garbage collection and consistency checks of the local catalog.

``collect_garbage`` removes blobs no model refers to and temp files whose writer is gone,
under the exclusive blob lock (saves hold it shared, so a blob a save is about to record
is never taken); ``remove_leftovers`` removes the temp files and folders that zips and
loads left beside what they were writing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mdreg._files import remove_temp, stale_temp_siblings
from mdreg.catalog.local.blobs import BlobStore
from mdreg.catalog.local.locks import FileLock
from mdreg.errors import InputError


@dataclass
class GcReport:
    removed_blobs: list[str] = field(default_factory=list)
    removed_bytes: int = 0
    removed_temps: list[str] = field(default_factory=list)
    kept_blobs: int = 0
    dry_run: bool = False
    removed_leftovers: list[str] = field(default_factory=list)  # paths, in the folders given

    def to_dict(self) -> dict[str, Any]:
        return {
            "removed_blobs": self.removed_blobs,
            "removed_bytes": self.removed_bytes,
            "removed_temps": self.removed_temps,
            "kept_blobs": self.kept_blobs,
            "dry_run": self.dry_run,
            "removed_leftovers": self.removed_leftovers,
        }


@dataclass
class FsckReport:
    integrity: str
    missing_artifacts: list[str]  # model ids whose blob is gone
    orphan_blobs: list[str]  # sha256 of blobs no model refers to

    @property
    def ok(self) -> bool:
        return self.integrity == "ok" and not self.missing_artifacts


def remove_leftovers(report: GcReport, folders: Iterable[Path]) -> None:
    """Temp files and folders whose writer is gone, in ``folders`` (beside what zips and
    loads were writing); recorded in ``report``, removed unless it is a dry run."""
    for folder in folders:
        if not Path(folder).is_dir():
            raise InputError(f"not a folder: {folder}")
        for path in stale_temp_siblings(Path(folder)):
            report.removed_leftovers.append(str(path))
            if not report.dry_run:
                remove_temp(path)


def collect_garbage(
    report: GcReport, db: sqlite3.Connection, blobs: BlobStore, blob_lock: FileLock
) -> GcReport:
    """Remove blobs no model refers to and the blob store's stale temp files."""
    dry_run = report.dry_run
    with blob_lock.exclusive():
        referenced = {r[0] for r in db.execute("SELECT DISTINCT artifact_sha256 FROM models")}
        for blob in blobs:
            if blob.sha256 in referenced:
                report.kept_blobs += 1
                continue
            report.removed_blobs.append(blob.sha256)
            report.removed_bytes += blob.size
            if not dry_run:
                blobs.remove(blob.sha256)
        for path in blobs.stale_temps():
            report.removed_temps.append(path.name)
            if not dry_run:
                blobs.remove_temp(path)
    if not dry_run:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return report


def check(db: sqlite3.Connection, blobs: BlobStore) -> FsckReport:
    """SQLite's integrity check, models whose blob is missing, and orphan blobs."""
    integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    rows = db.execute("SELECT id, artifact_sha256 FROM models").fetchall()
    missing = [mid for mid, sha in rows if not blobs.exists(sha)]
    referenced = {sha for _, sha in rows}
    orphans = [b.sha256 for b in blobs if b.sha256 not in referenced]
    return FsckReport(integrity, missing, orphans)
