"""The local catalog: records in SQLite, artifact zips content-addressed beside it.

    $MDREG_HOME/catalog.db      WAL mode, busy timeout, named migrations
    $MDREG_HOME/blobs/sha256/   one zip per distinct artifact (see blobs.py)
    $MDREG_HOME/blobs/tmp/      blobs and staged zips being written

Crash safety: a save writes its blob completely (temp, fsync, rename) before it inserts
the row in one transaction, so a SIGKILL at any point leaves either a complete model or
no row; what it may leave is an orphan blob or a temp file, which ``gc`` removes (a save
that fails or is interrupted between the two removes its blob itself). Saves
hold the blob lock shared and ``gc`` exclusive, so gc never removes a blob that a save
is about to claim (see locks.py).
"""

from __future__ import annotations

import getpass
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from mdreg._files import DigestMismatch, ProgressFn, write_atomically
from mdreg.catalog.base import (
    MAX_OCI_ARTIFACT_BYTES,
    Catalog,
    ModelDetails,
    ModelNotFoundError,
    ModelRecord,
    ModelSummary,
    ModelUpdate,
    VersionLabelTakenError,
    VersionSet,
    check_fields,
    check_version_set_name,
    escaped,
)
from mdreg.catalog.blobs import BlobStore
from mdreg.catalog.ids import is_local_id, new_model_id, new_version_set_id
from mdreg.catalog.local_schema import MIGRATIONS
from mdreg.catalog.locks import FileLock
from mdreg.errors import ArtifactError, InputError, MdregError
from mdreg.home import ENV_LOCAL_MAX_ARTIFACT_BYTES, env_bytes, mdreg_home
from mdreg.storage.base import Bucket

BUSY_TIMEOUT_MS = 60_000
_CLEANUP_LOCK_S = 10.0  # a failed save waits this long to remove its blob, else gc does
DB_NAME = "catalog.db"
ACTIVE = "ACTIVE"

_SUMMARY_COLUMNS = """m.id, m.display_name, m.lifecycle_state, m.time_created, m.created_by,
    m.compartment_id, m.project_id, m.freeform_tags, m.defined_tags, m.version_set_id, vs.name,
    m.version_label, m.artifact_size, m.artifact_sha256"""
_RECORD_COLUMNS = _SUMMARY_COLUMNS + """, m.description, d.custom_metadata, d.defined_metadata,
    d.input_schema, d.output_schema, d.provenance"""
_FROM = "FROM models m LEFT JOIN version_sets vs ON vs.id = m.version_set_id"
_FROM_RECORD = _FROM + " LEFT JOIN model_documents d ON d.model_id = m.id"


@dataclass
class GcReport:
    removed_blobs: list[str] = field(default_factory=list)
    removed_bytes: int = 0
    removed_temps: list[str] = field(default_factory=list)
    kept_blobs: int = 0
    dry_run: bool = False
    removed_leftovers: list[str] = field(default_factory=list)  # paths, in the folders given

    def to_dict(self) -> dict[str, Any]:
        return {"removed_blobs": self.removed_blobs, "removed_bytes": self.removed_bytes,
                "removed_temps": self.removed_temps, "kept_blobs": self.kept_blobs,
                "dry_run": self.dry_run, "removed_leftovers": self.removed_leftovers}


@dataclass
class FsckReport:
    integrity: str
    missing_artifacts: list[str]  # model ids whose blob is gone
    orphan_blobs: list[str]  # sha256 of blobs no model refers to

    @property
    def ok(self) -> bool:
        return self.integrity == "ok" and not self.missing_artifacts


class LocalCatalog(Catalog):
    """The catalog under ``home`` (default ``$MDREG_HOME``, else ``~/.mdreg``)."""

    name = "local"
    max_direct_bytes = None

    def __init__(self, home: str | Path | None = None, *,
                 max_artifact_bytes: int | Literal["env"] | None = "env") -> None:
        """``max_artifact_bytes``: "env" reads $MDREG_LOCAL_MAX_ARTIFACT_BYTES (default
        6 GiB, as the OCI catalog; ``none`` for no limit)."""
        self.home = Path(home) if home is not None else mdreg_home()
        self.max_artifact_bytes = (env_bytes(ENV_LOCAL_MAX_ARTIFACT_BYTES, MAX_OCI_ARTIFACT_BYTES)
                                   if max_artifact_bytes == "env" else max_artifact_bytes)
        self.blobs = BlobStore(self.home / "blobs")
        self._blob_lock = FileLock(self.home / ".blobs.lock")
        self._db: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"LocalCatalog({str(self.home)!r})"

    # -- connection ---------------------------------------------------------------------
    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = self._connect()
        return self._db

    def _connect(self) -> sqlite3.Connection:
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.home / DB_NAME, isolation_level=None,
                                 timeout=BUSY_TIMEOUT_MS / 1000)
        except (OSError, sqlite3.Error) as exc:
            raise MdregError(f"cannot open the catalog in {self.home}: {exc}") from exc
        try:
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            db.execute("PRAGMA foreign_keys = ON")
            if MIGRATIONS.pending(db):
                # one process sets WAL and migrates; the others wait, then find it done
                with FileLock(self.home / ".init.lock").exclusive():
                    db.execute("PRAGMA journal_mode = WAL")
                    MIGRATIONS.apply(db)
            db.execute("PRAGMA synchronous = FULL")
        except sqlite3.DatabaseError as exc:
            db.close()
            raise MdregError(f"the catalog database {self.home / DB_NAME} is unusable: {exc}") from exc
        except BaseException:
            db.close()
            raise
        return db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _write(self) -> _Transaction:
        return _Transaction(self.db)

    def staging_dir(self) -> Path:
        path = self.blobs.new_temp("staging")
        path.mkdir()
        return path

    # -- models -------------------------------------------------------------------------
    def save(self, details: ModelDetails, artifact_zip: Path, *, move: bool = False,
             sha256: str | None = None, progress: ProgressFn | None = None) -> ModelRecord:
        details.check()
        self._check_size(_file_size(artifact_zip))
        self.db  # noqa: B018 - opens (and creates) the catalog before its lock file
        self._check_label_free(details)
        stored = None  # the blob's sha256 until its row is committed
        try:
            with self._blob_lock.shared():
                try:
                    blob = self.blobs.put_file(Path(artifact_zip), move=move,
                                               sha256=sha256 if move else None, progress=progress)
                except OSError as exc:
                    raise MdregError(f"cannot store the artifact in {self.blobs.root}: "
                                     f"{exc.strerror or exc}") from exc
                stored = blob.sha256
                record = self._insert(details, blob.sha256, blob.size)
                stored = None
                return record
        finally:
            if stored is not None:
                self._remove_if_unused(stored)

    def save_from_bucket(self, details: ModelDetails, bucket: Bucket, key: str, *,
                         progress: ProgressFn | None = None) -> ModelRecord:
        from mdreg.storage.base import ObjectNotFoundError  # noqa: PLC0415

        details.check()
        self.db  # noqa: B018
        info = bucket.head(key)
        if info is None:
            raise ObjectNotFoundError(f"{bucket.uri_for(key)}: no such object")
        self._check_size(info.size)
        self._check_label_free(details)
        stored = None  # the blob's sha256 until its row is committed
        try:
            with self._blob_lock.shared():
                tmp = self.blobs.new_temp()
                try:
                    got = bucket.get(key, tmp, progress=progress)
                    if got.sha256 is None:
                        from mdreg._files import hash_file  # noqa: PLC0415

                        got_sha = hash_file(tmp)[1]
                    else:
                        got_sha = got.sha256
                    blob = self.blobs.adopt(tmp, got_sha)
                finally:
                    self.blobs.remove_temp(tmp)
                stored = blob.sha256
                record = self._insert(details, blob.sha256, blob.size)
                stored = None
                return record
        finally:
            if stored is not None:
                self._remove_if_unused(stored)

    def get(self, model_id: str) -> ModelRecord:
        row = self.db.execute(f"SELECT {_RECORD_COLUMNS} {_FROM_RECORD} WHERE m.id = ?",
                              (model_id,)).fetchone()
        if row is None:
            raise ModelNotFoundError(f"no model {model_id} in the local catalog ({self.home})")
        return _record(row)

    def list(self, *, version_set: str | None = None, tags: dict[str, str] | None = None,
             name_contains: str | None = None, compartment_id: str | None = None,
             project_id: str | None = None, limit: int | None = None) -> list[ModelSummary]:
        where: list[str] = []
        args: list[Any] = []
        if version_set is not None:
            where.append("(vs.name = ? OR vs.id = ?)")
            args += [version_set, version_set]
        for k, v in (tags or {}).items():
            where.append("EXISTS (SELECT 1 FROM json_each(m.freeform_tags) t "
                         "WHERE t.key = ? AND t.value = ?)")
            args += [k, v]
        if name_contains:
            where.append("instr(lower(m.display_name), lower(?)) > 0")
            args.append(name_contains)
        if compartment_id is not None:
            where.append("m.compartment_id = ?")
            args.append(compartment_id)
        if project_id is not None:
            where.append("m.project_id = ?")
            args.append(project_id)
        sql = f"SELECT {_SUMMARY_COLUMNS} {_FROM}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY m.time_created DESC, m.id DESC"
        if limit is not None:
            if limit < 0:
                raise InputError("--limit must be 0 or more")
            sql += " LIMIT ?"
            args.append(limit)
        return [_summary(r) for r in self.db.execute(sql, args)]

    def update(self, model_id: str, changes: ModelUpdate) -> ModelRecord:
        with self._write():
            new = changes.applied_to(self.get(model_id))
            check_fields(new.display_name, new.description, new.custom_metadata_list,
                         new.defined_metadata_list)
            self.db.execute("UPDATE models SET display_name = ?, description = ?, freeform_tags = ? "
                            "WHERE id = ?", (new.display_name, new.description,
                                             _dumps(new.freeform_tags), model_id))
            self.db.execute("UPDATE model_documents SET custom_metadata = ?, defined_metadata = ? "
                            "WHERE model_id = ?", (_dumps(new.custom_metadata_list),
                                                   _dumps(new.defined_metadata_list), model_id))
        return new

    def delete(self, model_id: str) -> None:
        with self._write():
            sha = self.get(model_id).artifact_sha256
            self.db.execute("DELETE FROM models WHERE id = ?", (model_id,))
        # free the blob now when no save is in flight; otherwise gc will
        with self._blob_lock.try_exclusive() as alone:
            if alone and not self._referenced(sha):
                self.blobs.remove(sha)

    def download_artifact(self, model_id: str, dest: Path, *,
                          progress: ProgressFn | None = None) -> Path:
        record = self.get(model_id)
        dest = Path(dest)
        try:
            f = open(self.blobs.path_for(record.artifact_sha256), "rb")  # noqa: SIM115 - closed by the with below
        except FileNotFoundError as exc:
            raise ArtifactError(f"the artifact of {model_id} is missing from {self.blobs.root}: "
                                "the catalog was damaged; delete the model and save it again") from exc
        with f:
            try:
                write_atomically(f, dest, progress=progress, expected_sha256=record.artifact_sha256)
            except DigestMismatch as exc:
                raise ArtifactError(f"the stored artifact of {model_id} is corrupt ({exc}): "
                                    "delete the model and save it again") from exc
            except OSError as exc:
                raise MdregError(f"cannot write {dest}: {exc.strerror or exc}") from exc
        return dest

    @contextmanager
    def open_artifact(self, model_id: str, *,
                      progress: ProgressFn | None = None) -> Iterator[Path]:
        """The stored blob itself: no copy. Its bytes are not re-hashed here; a caller
        that unzips it has every entry's CRC checked, and ``load`` the manifest's hashes."""
        record = self.get(model_id)
        path = self.blobs.path_for(record.artifact_sha256)
        if not path.is_file():
            raise ArtifactError(f"the artifact of {model_id} is missing from {self.blobs.root}: "
                                "the catalog was damaged; delete the model and save it again")
        if progress is not None:
            progress(record.artifact_size)  # nothing to fetch: it is here already
        with self._blob_lock.shared():  # gc must not take it away while it is read
            yield path

    # -- version sets -------------------------------------------------------------------
    def create_version_set(self, name: str, description: str | None = None) -> VersionSet:
        check_version_set_name(name)
        if is_local_id(name):
            raise InputError(f"{name!r} looks like an id: choose another version set name")
        with self._write():
            return self._create_version_set(name, description, None, None)

    def get_version_set(self, name_or_id: str) -> VersionSet:
        row = self.db.execute("SELECT id, name, description, time_created, created_by, "
                              "compartment_id, project_id FROM version_sets "
                              "WHERE name = ? OR id = ?", (name_or_id, name_or_id)).fetchone()
        if row is None:
            raise ModelNotFoundError(f"no version set {name_or_id!r} in the local catalog")
        return VersionSet(*row)

    def list_version_sets(self) -> list[VersionSet]:
        rows = self.db.execute("SELECT id, name, description, time_created, created_by, "
                               "compartment_id, project_id FROM version_sets ORDER BY name")
        return [VersionSet(*r) for r in rows]

    # -- local only -----------------------------------------------------------------------
    def gc(self, *, dry_run: bool = False, folders: Iterable[Path] = ()) -> GcReport:
        """Remove blobs no model refers to and temp files whose writer is gone; also
        those that zips and loads left in ``folders`` (beside what they were writing)."""
        from mdreg._files import remove_temp, stale_temp_siblings  # noqa: PLC0415

        report = GcReport(dry_run=dry_run)
        for folder in folders:
            if not Path(folder).is_dir():
                raise InputError(f"not a folder: {folder}")
            for path in stale_temp_siblings(Path(folder)):
                report.removed_leftovers.append(str(path))
                if not dry_run:
                    remove_temp(path)
        self.db  # noqa: B018
        with self._blob_lock.exclusive():
            referenced = {r[0] for r in self.db.execute("SELECT DISTINCT artifact_sha256 FROM models")}
            for blob in self.blobs:
                if blob.sha256 in referenced:
                    report.kept_blobs += 1
                    continue
                report.removed_blobs.append(blob.sha256)
                report.removed_bytes += blob.size
                if not dry_run:
                    self.blobs.remove(blob.sha256)
            for path in self.blobs.stale_temps():
                report.removed_temps.append(path.name)
                if not dry_run:
                    self.blobs.remove_temp(path)
        if not dry_run:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return report

    def fsck(self) -> FsckReport:
        """SQLite's integrity check, models whose blob is missing, and orphan blobs."""
        integrity = self.db.execute("PRAGMA integrity_check").fetchone()[0]
        rows = self.db.execute("SELECT id, artifact_sha256 FROM models").fetchall()
        missing = [mid for mid, sha in rows if not self.blobs.exists(sha)]
        referenced = {sha for _, sha in rows}
        orphans = [b.sha256 for b in self.blobs if b.sha256 not in referenced]
        return FsckReport(integrity, missing, orphans)

    # -- internals ------------------------------------------------------------------------
    def _check_size(self, size: int) -> None:
        limit = self.max_artifact_bytes
        if limit is not None and size > limit:
            raise InputError(f"the artifact zip is {size} bytes, over the local catalog's limit "
                             f"of {limit} (the OCI catalog takes at most {MAX_OCI_ARTIFACT_BYTES}); "
                             f"set {ENV_LOCAL_MAX_ARTIFACT_BYTES} to raise it")

    def _remove_if_unused(self, sha256: str) -> None:
        """After a save that stored its blob but not its row: remove the blob unless a
        model uses it (the same artifact saved before). Under the exclusive blob lock, as
        gc does, so no other save is between storing this same blob and recording it. When
        the lock stays busy or the database cannot answer, the blob is left to ``gc``."""
        try:
            with FileLock(self._blob_lock.path, timeout=_CLEANUP_LOCK_S).exclusive():
                used = self.db.execute("SELECT 1 FROM models WHERE artifact_sha256 = ? LIMIT 1",
                                       (sha256,)).fetchone()
                if used is None:
                    self.blobs.remove(sha256)
        except (MdregError, OSError, sqlite3.Error):
            pass

    def _check_label_free(self, details: ModelDetails) -> None:
        if details.version_set is None or details.version_label is None:
            return
        row = self.db.execute(
            "SELECT m.id FROM models m JOIN version_sets vs ON vs.id = m.version_set_id "
            "WHERE (vs.name = ? OR vs.id = ?) AND m.version_label = ?",
            (details.version_set, details.version_set, details.version_label)).fetchone()
        if row:
            raise _label_taken(details, row[0])

    def _insert(self, details: ModelDetails, sha256: str, size: int) -> ModelRecord:
        model_id = new_model_id()
        now = _now()
        with self._write():
            if not self.blobs.exists(sha256):  # cannot happen under the blob lock; be sure
                raise MdregError(f"the artifact blob {sha256} vanished before it was recorded")
            vs = None
            if details.version_set is not None:
                vs = self._version_set_for_save(details)
                if details.version_label is not None:
                    taken = self.db.execute("SELECT id FROM models WHERE version_set_id = ? AND "
                                            "version_label = ?", (vs.id, details.version_label)).fetchone()
                    if taken:
                        raise _label_taken(details, taken[0])
            self.db.execute(
                "INSERT INTO models (id, display_name, description, lifecycle_state, time_created, "
                "created_by, compartment_id, project_id, freeform_tags, defined_tags, "
                "version_set_id, version_label, artifact_sha256, artifact_size) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (model_id, details.display_name, details.description, ACTIVE, now, _user(),
                 details.compartment_id, details.project_id, _dumps(details.freeform_tags),
                 _dumps(details.defined_tags), vs.id if vs else None, details.version_label,
                 sha256, size))
            self.db.execute(
                "INSERT INTO model_documents (model_id, custom_metadata, defined_metadata, "
                "input_schema, output_schema, provenance) VALUES (?, ?, ?, ?, ?, ?)",
                (model_id, _dumps(details.custom_metadata_list), _dumps(details.defined_metadata_list),
                 _dumps_opt(details.input_schema), _dumps_opt(details.output_schema),
                 _dumps(details.provenance)))
        return self.get(model_id)

    def _version_set_for_save(self, details: ModelDetails) -> VersionSet:
        name = details.version_set or ""
        try:
            return self.get_version_set(name)
        except ModelNotFoundError:
            if is_local_id(name):
                raise
            return self._create_version_set(name, None, details.compartment_id, details.project_id)

    def _create_version_set(self, name: str, description: str | None,
                            compartment_id: str | None, project_id: str | None) -> VersionSet:
        vs = VersionSet(new_version_set_id(), name, description, _now(), _user(),
                        compartment_id, project_id)
        try:
            self.db.execute("INSERT INTO version_sets (id, name, description, time_created, "
                            "created_by, compartment_id, project_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (vs.id, vs.name, vs.description, vs.time_created, vs.created_by,
                             vs.compartment_id, vs.project_id))
        except sqlite3.IntegrityError as exc:
            raise InputError(f"a version set named {name!r} already exists") from exc
        return vs

    def _referenced(self, sha256: str) -> bool:
        return self.db.execute("SELECT 1 FROM models WHERE artifact_sha256 = ? LIMIT 1",
                               (sha256,)).fetchone() is not None


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error). Immediate: the write
    lock is taken up front, so two writers queue on the busy timeout instead of
    deadlocking on a read-to-write upgrade."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise MdregError(f"the local catalog stayed locked for {BUSY_TIMEOUT_MS // 1000} s "
                             f"({exc}): try again") from exc

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.db.execute("COMMIT")
        else:
            self.db.execute("ROLLBACK")


def _label_taken(details: ModelDetails, other: str) -> VersionLabelTakenError:
    return VersionLabelTakenError(
        f"version label {details.version_label!r} is already used in version set "
        f"{details.version_set!r} (by {other}): choose another --version-label")


def _file_size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        raise InputError(f"no such file: {path}") from None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _user() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = os.environ.get("USER") or os.environ.get("USERNAME") or "unknown"
    return escaped(user)  # the catalog stores text: an environment's bytes may not be UTF-8


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def _dumps_opt(value: Any) -> str | None:
    return None if value is None else _dumps(value)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _summary(row: tuple[Any, ...]) -> ModelSummary:
    (mid, name, state, created, by, comp, proj, tags, dtags, vs_id, vs_name, label, size, sha) = row[:14]
    return ModelSummary(
        id=mid, display_name=name, lifecycle_state=state, time_created=created, created_by=by,
        compartment_id=comp, project_id=proj, freeform_tags=json.loads(tags),
        defined_tags=json.loads(dtags), model_version_set_id=vs_id, model_version_set_name=vs_name,
        version_label=label, artifact_size=size, artifact_sha256=sha, catalog="local")


def _record(row: tuple[Any, ...]) -> ModelRecord:
    summary = _summary(row)
    desc, custom, defined, ischema, oschema, prov = row[14:]
    return ModelRecord(
        id=summary.id, display_name=summary.display_name, description=desc,
        lifecycle_state=summary.lifecycle_state, time_created=summary.time_created,
        created_by=summary.created_by, compartment_id=summary.compartment_id,
        project_id=summary.project_id, freeform_tags=summary.freeform_tags,
        defined_tags=summary.defined_tags, custom_metadata_list=_loads(custom) or [],
        defined_metadata_list=_loads(defined) or [], input_schema=_loads(ischema),
        output_schema=_loads(oschema), provenance=_loads(prov) or {},
        model_version_set_id=summary.model_version_set_id,
        model_version_set_name=summary.model_version_set_name, version_label=summary.version_label,
        artifact_size=summary.artifact_size or 0, artifact_sha256=summary.artifact_sha256 or "",
        catalog="local")
