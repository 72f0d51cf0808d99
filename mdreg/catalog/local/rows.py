"""The local catalog's rows: the columns a listing and a record read, the write
transaction, the conversions between rows and records, and the inserts of a model and
of a version set."""

from __future__ import annotations

import getpass
import json
import os
import sqlite3
from datetime import UTC, datetime
from typing import Any

from mdreg.catalog.base import (
    ModelDetails,
    ModelNotFoundError,
    ModelRecord,
    ModelSummary,
    VersionLabelTakenError,
    VersionSet,
    escaped,
)
from mdreg.catalog.ids import is_local_id, new_model_id, new_version_set_id
from mdreg.catalog.local.schema import BUSY_TIMEOUT_MS
from mdreg.errors import InputError, MdregError

ACTIVE = "ACTIVE"
SUMMARY_COLUMNS = """m.id, m.display_name, m.lifecycle_state, m.time_created, m.created_by,
    m.compartment_id, m.project_id, m.freeform_tags, m.defined_tags, m.version_set_id, vs.name,
    m.version_label, m.artifact_size, m.artifact_sha256"""
RECORD_COLUMNS = (
    SUMMARY_COLUMNS
    + """, m.description, d.custom_metadata, d.defined_metadata,
    d.input_schema, d.output_schema, d.provenance"""
)
FROM = "FROM models m LEFT JOIN version_sets vs ON vs.id = m.version_set_id"
FROM_RECORD = FROM + " LEFT JOIN model_documents d ON d.model_id = m.id"


class Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error). Immediate: the write
    lock is taken up front, so two writers queue on the busy timeout instead of
    deadlocking on a read-to-write upgrade."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise MdregError(
                f"the local catalog stayed locked for {BUSY_TIMEOUT_MS // 1000} s "
                f"({exc}): try again"
            ) from exc

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.db.execute("COMMIT")
        else:
            self.db.execute("ROLLBACK")


def label_taken(details: ModelDetails, other: str) -> VersionLabelTakenError:
    return VersionLabelTakenError(
        f"version label {details.version_label!r} is already used in version set "
        f"{details.version_set!r} (by {other}): choose another --version-label"
    )


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def user() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = os.environ.get("USER") or os.environ.get("USERNAME") or "unknown"
    return escaped(user)  # the catalog stores text: an environment's bytes may not be UTF-8


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def dumps_opt(value: Any) -> str | None:
    return None if value is None else dumps(value)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def summary(row: tuple[Any, ...]) -> ModelSummary:
    (mid, name, state, created, by, comp, proj, tags, dtags, vs_id, vs_name, label, size, sha) = (
        row[:14]
    )
    return ModelSummary(
        id=mid,
        display_name=name,
        lifecycle_state=state,
        time_created=created,
        created_by=by,
        compartment_id=comp,
        project_id=proj,
        freeform_tags=json.loads(tags),
        defined_tags=json.loads(dtags),
        model_version_set_id=vs_id,
        model_version_set_name=vs_name,
        version_label=label,
        artifact_size=size,
        artifact_sha256=sha,
        catalog="local",
    )


def record(row: tuple[Any, ...]) -> ModelRecord:
    head = summary(row)
    desc, custom, defined, ischema, oschema, prov = row[14:]
    return ModelRecord(
        id=head.id,
        display_name=head.display_name,
        description=desc,
        lifecycle_state=head.lifecycle_state,
        time_created=head.time_created,
        created_by=head.created_by,
        compartment_id=head.compartment_id,
        project_id=head.project_id,
        freeform_tags=head.freeform_tags,
        defined_tags=head.defined_tags,
        custom_metadata_list=loads(custom) or [],
        defined_metadata_list=loads(defined) or [],
        input_schema=loads(ischema),
        output_schema=loads(oschema),
        provenance=loads(prov) or {},
        model_version_set_id=head.model_version_set_id,
        model_version_set_name=head.model_version_set_name,
        version_label=head.version_label,
        artifact_size=head.artifact_size or 0,
        artifact_sha256=head.artifact_sha256 or "",
        catalog="local",
    )


# -- writing ---------------------------------------------------------------------------


def insert_model(db: sqlite3.Connection, details: ModelDetails, sha256: str, size: int) -> str:
    """Insert the model's rows (its version set created on first use, its label checked
    free); its new id. Inside the caller's write transaction."""
    model_id = new_model_id()
    created = now()
    vs = None
    if details.version_set is not None:
        vs = _version_set_for_save(db, details)
        if details.version_label is not None:
            taken = db.execute(
                "SELECT id FROM models WHERE version_set_id = ? AND version_label = ?",
                (vs.id, details.version_label),
            ).fetchone()
            if taken:
                raise label_taken(details, taken[0])
    db.execute(
        "INSERT INTO models (id, display_name, description, lifecycle_state, time_created, "
        "created_by, compartment_id, project_id, freeform_tags, defined_tags, "
        "version_set_id, version_label, artifact_sha256, artifact_size) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            model_id,
            details.display_name,
            details.description,
            ACTIVE,
            created,
            user(),
            details.compartment_id,
            details.project_id,
            dumps(details.freeform_tags),
            dumps(details.defined_tags),
            vs.id if vs else None,
            details.version_label,
            sha256,
            size,
        ),
    )
    db.execute(
        "INSERT INTO model_documents (model_id, custom_metadata, defined_metadata, "
        "input_schema, output_schema, provenance) VALUES (?, ?, ?, ?, ?, ?)",
        (
            model_id,
            dumps(details.custom_metadata_list),
            dumps(details.defined_metadata_list),
            dumps_opt(details.input_schema),
            dumps_opt(details.output_schema),
            dumps(details.provenance),
        ),
    )
    return model_id


def _version_set_for_save(db: sqlite3.Connection, details: ModelDetails) -> VersionSet:
    name = details.version_set or ""
    try:
        return get_version_set(db, name)
    except ModelNotFoundError:
        if is_local_id(name):
            raise
        return insert_version_set(db, name, None, details.compartment_id, details.project_id)


def insert_version_set(
    db: sqlite3.Connection,
    name: str,
    description: str | None,
    compartment_id: str | None,
    project_id: str | None,
) -> VersionSet:
    vs = VersionSet(
        new_version_set_id(), name, description, now(), user(), compartment_id, project_id
    )
    try:
        db.execute(
            "INSERT INTO version_sets (id, name, description, time_created, "
            "created_by, compartment_id, project_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                vs.id,
                vs.name,
                vs.description,
                vs.time_created,
                vs.created_by,
                vs.compartment_id,
                vs.project_id,
            ),
        )
    except sqlite3.IntegrityError as exc:
        raise InputError(f"a version set named {name!r} already exists") from exc
    return vs


def get_version_set(db: sqlite3.Connection, name_or_id: str) -> VersionSet:
    row = db.execute(
        "SELECT id, name, description, time_created, created_by, "
        "compartment_id, project_id FROM version_sets "
        "WHERE name = ? OR id = ?",
        (name_or_id, name_or_id),
    ).fetchone()
    if row is None:
        raise ModelNotFoundError(f"no version set {name_or_id!r} in the local catalog")
    return VersionSet(*row)
