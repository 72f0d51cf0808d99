"""The local catalog's SQLite database: ``open_database`` (WAL, busy timeout, foreign keys;
one process migrates, under a lock), and its schema as named migrations. Append; never
edit a step that has shipped (a database records the steps it ran by name)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from mdreg.catalog.local.locks import FileLock
from mdreg.catalog.local.migrations import Migrations
from mdreg.errors import MdregError

DB_NAME = "catalog.db"
BUSY_TIMEOUT_MS = 60_000
MIGRATIONS = Migrations("catalog")


def open_database(home: Path) -> sqlite3.Connection:
    """The catalog database under ``home`` (created), in WAL mode with a busy timeout and
    foreign keys, migrated to this mdreg's schema."""
    try:
        home.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(home / DB_NAME, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    except (OSError, sqlite3.Error) as exc:
        raise MdregError(f"cannot open the catalog in {home}: {exc}") from exc
    try:
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA foreign_keys = ON")
        if MIGRATIONS.pending(db):
            # one process sets WAL and migrates; the others wait, then find it done
            with FileLock(home / ".init.lock").exclusive():
                db.execute("PRAGMA journal_mode = WAL")
                MIGRATIONS.apply(db)
        db.execute("PRAGMA synchronous = FULL")
    except sqlite3.DatabaseError as exc:
        db.close()
        raise MdregError(f"the catalog database {home / DB_NAME} is unusable: {exc}") from exc
    except BaseException:
        db.close()
        raise
    return db


@MIGRATIONS
def m001_models_and_version_sets(db: sqlite3.Connection) -> None:
    db.execute("""
        CREATE TABLE version_sets (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            description TEXT,
            compartment_id TEXT,
            project_id TEXT,
            time_created TEXT NOT NULL,
            created_by TEXT NOT NULL
        )""")
    # What a listing shows and filters on lives in `models`, kept narrow so that a
    # scan or sort of 10,000 rows reads little; the large JSON documents (metadata,
    # schemas, provenance) live in `model_documents`, read only by `get`.
    db.execute("""
        CREATE TABLE models (
            id TEXT PRIMARY KEY,
            display_name TEXT NOT NULL,
            description TEXT,
            lifecycle_state TEXT NOT NULL,
            time_created TEXT NOT NULL,
            created_by TEXT NOT NULL,
            compartment_id TEXT,
            project_id TEXT,
            freeform_tags TEXT NOT NULL DEFAULT '{}',
            defined_tags TEXT NOT NULL DEFAULT '{}',
            version_set_id TEXT REFERENCES version_sets(id),
            version_label TEXT,
            artifact_sha256 TEXT NOT NULL,
            artifact_size INTEGER NOT NULL
        )""")
    db.execute("""
        CREATE TABLE model_documents (
            model_id TEXT PRIMARY KEY REFERENCES models(id) ON DELETE CASCADE,
            custom_metadata TEXT NOT NULL DEFAULT '[]',
            defined_metadata TEXT NOT NULL DEFAULT '[]',
            input_schema TEXT,
            output_schema TEXT,
            provenance TEXT NOT NULL DEFAULT '{}'
        )""")
    db.execute(
        "CREATE UNIQUE INDEX models_version_label ON models (version_set_id, version_label) "
        "WHERE version_label IS NOT NULL"
    )


@MIGRATIONS
def m002_listing_indexes(db: sqlite3.Connection) -> None:
    db.execute("CREATE INDEX models_newest ON models (time_created DESC, id DESC)")
    db.execute("CREATE INDEX models_version_set ON models (version_set_id, time_created DESC)")
    db.execute("CREATE INDEX models_artifact ON models (artifact_sha256)")
