"""``LocalCatalog``: the catalog under ``$MDREG_HOME`` (layout in the package docstring).

Crash safety: a save writes its blob completely (temp, fsync, rename) before it inserts
the row in one transaction, so a SIGKILL at any point leaves either a complete model or
no row; what it may leave is an orphan blob or a temp file, which ``gc`` removes (a save
that fails or is interrupted between the two removes its blob itself). Saves
hold the blob lock shared and ``gc`` exclusive, so gc never removes a blob that a save
is about to claim (see locks.py).
"""

from __future__ import annotations

import builtins
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
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
    VersionSet,
    check_fields,
    check_version_set_name,
)
from mdreg.catalog.ids import is_local_id
from mdreg.catalog.local.blobs import BlobStore
from mdreg.catalog.local.gc import FsckReport, GcReport, check, collect_garbage, remove_leftovers
from mdreg.catalog.local.locks import FileLock
from mdreg.catalog.local.rows import (
    FROM,
    FROM_RECORD,
    RECORD_COLUMNS,
    SUMMARY_COLUMNS,
    Transaction,
    dumps,
    get_version_set,
    insert_model,
    insert_version_set,
    label_taken,
    record,
    summary,
)
from mdreg.catalog.local.schema import open_database
from mdreg.errors import ArtifactError, InputError, MdregError
from mdreg.home import ENV_LOCAL_MAX_ARTIFACT_BYTES, env_bytes, mdreg_home
from mdreg.storage.base import Bucket

_CLEANUP_LOCK_S = 10.0  # a failed save waits this long to remove its blob, else gc does


class LocalCatalog(Catalog):
    """The catalog under ``home`` (default ``$MDREG_HOME``, else ``~/.mdreg``)."""

    name = "local"
    max_direct_bytes = None

    def __init__(
        self,
        home: str | Path | None = None,
        *,
        max_artifact_bytes: int | Literal["env"] | None = "env",
    ) -> None:
        """``max_artifact_bytes``: "env" reads $MDREG_LOCAL_MAX_ARTIFACT_BYTES (default
        6 GiB, as the OCI catalog; ``none`` for no limit)."""
        self.home = Path(home) if home is not None else mdreg_home()
        self.max_artifact_bytes = (
            env_bytes(ENV_LOCAL_MAX_ARTIFACT_BYTES, MAX_OCI_ARTIFACT_BYTES)
            if max_artifact_bytes == "env"
            else max_artifact_bytes
        )
        self.blobs = BlobStore(self.home / "blobs")
        self._blob_lock = FileLock(self.home / ".blobs.lock")
        self._db: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"LocalCatalog({str(self.home)!r})"

    # -- connection ---------------------------------------------------------------------
    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = open_database(self.home)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _write(self) -> Transaction:
        return Transaction(self.db)

    def staging_dir(self) -> Path:
        path = self.blobs.new_temp("staging")
        path.mkdir()
        return path

    # -- models -------------------------------------------------------------------------
    def save(
        self,
        details: ModelDetails,
        artifact_zip: Path,
        *,
        move: bool = False,
        sha256: str | None = None,
        progress: ProgressFn | None = None,
    ) -> ModelRecord:
        details.check()
        self._check_size(_file_size(artifact_zip))
        self.db  # noqa: B018 - opens (and creates) the catalog before its lock file
        self._check_label_free(details)
        stored = None  # the blob's sha256 until its row is committed
        try:
            with self._blob_lock.shared():
                try:
                    blob = self.blobs.put_file(
                        Path(artifact_zip),
                        move=move,
                        sha256=sha256 if move else None,
                        progress=progress,
                    )
                except OSError as exc:
                    raise MdregError(
                        f"cannot store the artifact in {self.blobs.root}: {exc.strerror or exc}"
                    ) from exc
                stored = blob.sha256
                record = self._insert(details, blob.sha256, blob.size)
                stored = None
                return record
        finally:
            if stored is not None:
                self._remove_if_unused(stored)

    def save_from_bucket(
        self, details: ModelDetails, bucket: Bucket, key: str, *, progress: ProgressFn | None = None
    ) -> ModelRecord:
        from mdreg.storage.base import ObjectNotFoundError

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
                        from mdreg._files import hash_file

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
        row = self.db.execute(
            f"SELECT {RECORD_COLUMNS} {FROM_RECORD} WHERE m.id = ?", (model_id,)
        ).fetchone()
        if row is None:
            raise ModelNotFoundError(f"no model {model_id} in the local catalog ({self.home})")
        return record(row)

    def list(
        self,
        *,
        version_set: str | None = None,
        tags: dict[str, str] | None = None,
        name_contains: str | None = None,
        compartment_id: str | None = None,
        project_id: str | None = None,
        limit: int | None = None,
    ) -> list[ModelSummary]:
        where: list[str] = []
        args: list[Any] = []
        if version_set is not None:
            where.append("(vs.name = ? OR vs.id = ?)")
            args += [version_set, version_set]
        for k, v in (tags or {}).items():
            where.append(
                "EXISTS (SELECT 1 FROM json_each(m.freeform_tags) t "
                "WHERE t.key = ? AND t.value = ?)"
            )
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
        sql = f"SELECT {SUMMARY_COLUMNS} {FROM}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY m.time_created DESC, m.id DESC"
        if limit is not None:
            if limit < 0:
                raise InputError("--limit must be 0 or more")
            sql += " LIMIT ?"
            args.append(limit)
        return [summary(r) for r in self.db.execute(sql, args)]

    def update(self, model_id: str, changes: ModelUpdate) -> ModelRecord:
        with self._write():
            new = changes.applied_to(self.get(model_id))
            check_fields(
                new.display_name,
                new.description,
                new.custom_metadata_list,
                new.defined_metadata_list,
            )
            self.db.execute(
                "UPDATE models SET display_name = ?, description = ?, freeform_tags = ? "
                "WHERE id = ?",
                (new.display_name, new.description, dumps(new.freeform_tags), model_id),
            )
            self.db.execute(
                "UPDATE model_documents SET custom_metadata = ?, defined_metadata = ? "
                "WHERE model_id = ?",
                (dumps(new.custom_metadata_list), dumps(new.defined_metadata_list), model_id),
            )
        return new

    def delete(self, model_id: str) -> None:
        with self._write():
            sha = self.get(model_id).artifact_sha256
            self.db.execute("DELETE FROM models WHERE id = ?", (model_id,))
        # free the blob now when no save is in flight; otherwise gc will
        with self._blob_lock.try_exclusive() as alone:
            if alone and not self._referenced(sha):
                self.blobs.remove(sha)

    def download_artifact(
        self, model_id: str, dest: Path, *, progress: ProgressFn | None = None
    ) -> Path:
        record = self.get(model_id)
        dest = Path(dest)
        try:
            f = open(self.blobs.path_for(record.artifact_sha256), "rb")  # noqa: SIM115 - closed by the with below
        except FileNotFoundError as exc:
            raise ArtifactError(
                f"the artifact of {model_id} is missing from {self.blobs.root}: "
                "the catalog was damaged; delete the model and save it again"
            ) from exc
        with f:
            try:
                write_atomically(f, dest, progress=progress, expected_sha256=record.artifact_sha256)
            except DigestMismatch as exc:
                raise ArtifactError(
                    f"the stored artifact of {model_id} is corrupt ({exc}): "
                    "delete the model and save it again"
                ) from exc
            except OSError as exc:
                raise MdregError(f"cannot write {dest}: {exc.strerror or exc}") from exc
        return dest

    @contextmanager
    def open_artifact(self, model_id: str, *, progress: ProgressFn | None = None) -> Iterator[Path]:
        """The stored blob itself: no copy. Its bytes are not re-hashed here; a caller
        that unzips it has every entry's CRC checked, and ``load`` the manifest's hashes."""
        record = self.get(model_id)
        path = self.blobs.path_for(record.artifact_sha256)
        if not path.is_file():
            raise ArtifactError(
                f"the artifact of {model_id} is missing from {self.blobs.root}: "
                "the catalog was damaged; delete the model and save it again"
            )
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
            return insert_version_set(self.db, name, description, None, None)

    def get_version_set(self, name_or_id: str) -> VersionSet:
        return get_version_set(self.db, name_or_id)

    def list_version_sets(self) -> builtins.list[VersionSet]:
        rows = self.db.execute(
            "SELECT id, name, description, time_created, created_by, "
            "compartment_id, project_id FROM version_sets ORDER BY name"
        )
        return [VersionSet(*r) for r in rows]

    # -- local only -----------------------------------------------------------------------
    def gc(self, *, dry_run: bool = False, folders: Iterable[Path] = ()) -> GcReport:
        """Remove blobs no model refers to and temp files whose writer is gone; also
        those that zips and loads left in ``folders`` (beside what they were writing)."""
        report = GcReport(dry_run=dry_run)
        remove_leftovers(report, folders)
        return collect_garbage(report, self.db, self.blobs, self._blob_lock)

    def fsck(self) -> FsckReport:
        """SQLite's integrity check, models whose blob is missing, and orphan blobs."""
        return check(self.db, self.blobs)

    # -- internals ------------------------------------------------------------------------
    def _check_size(self, size: int) -> None:
        limit = self.max_artifact_bytes
        if limit is not None and size > limit:
            raise InputError(
                f"the artifact zip is {size} bytes, over the local catalog's limit "
                f"of {limit} (the OCI catalog takes at most {MAX_OCI_ARTIFACT_BYTES}); "
                f"set {ENV_LOCAL_MAX_ARTIFACT_BYTES} to raise it"
            )

    def _remove_if_unused(self, sha256: str) -> None:
        """After a save that stored its blob but not its row: remove the blob unless a
        model uses it (the same artifact saved before). Under the exclusive blob lock, as
        gc does, so no other save is between storing this same blob and recording it. When
        the lock stays busy or the database cannot answer, the blob is left to ``gc``."""
        try:
            with FileLock(self._blob_lock.path, timeout=_CLEANUP_LOCK_S).exclusive():
                used = self.db.execute(
                    "SELECT 1 FROM models WHERE artifact_sha256 = ? LIMIT 1", (sha256,)
                ).fetchone()
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
            (details.version_set, details.version_set, details.version_label),
        ).fetchone()
        if row:
            raise label_taken(details, row[0])

    def _insert(self, details: ModelDetails, sha256: str, size: int) -> ModelRecord:
        with self._write():
            if not self.blobs.exists(sha256):  # cannot happen under the blob lock; be sure
                raise MdregError(f"the artifact blob {sha256} vanished before it was recorded")
            model_id = insert_model(self.db, details, sha256, size)
        return self.get(model_id)

    def _referenced(self, sha256: str) -> bool:
        return (
            self.db.execute(
                "SELECT 1 FROM models WHERE artifact_sha256 = ? LIMIT 1", (sha256,)
            ).fetchone()
            is not None
        )


def _file_size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        raise InputError(f"no such file: {path}") from None
