"""The local catalog's rows: the columns a listing and a record read, the write
transaction, and the conversions between rows and records."""

from __future__ import annotations

import getpass
import json
import os
import sqlite3
from datetime import UTC, datetime
from typing import Any

from mdreg.catalog.base import (
    ModelDetails,
    ModelRecord,
    ModelSummary,
    VersionLabelTakenError,
    escaped,
)
from mdreg.catalog.local.schema import BUSY_TIMEOUT_MS
from mdreg.errors import MdregError

SUMMARY_COLUMNS = """m.id, m.display_name, m.lifecycle_state, m.time_created, m.created_by,
    m.compartment_id, m.project_id, m.freeform_tags, m.defined_tags, m.version_set_id, vs.name,
    m.version_label, m.artifact_size, m.artifact_sha256"""
RECORD_COLUMNS = SUMMARY_COLUMNS + """, m.description, d.custom_metadata, d.defined_metadata,
    d.input_schema, d.output_schema, d.provenance"""
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
            raise MdregError(f"the local catalog stayed locked for {BUSY_TIMEOUT_MS // 1000} s "
                             f"({exc}): try again") from exc

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.db.execute("COMMIT")
        else:
            self.db.execute("ROLLBACK")


def label_taken(details: ModelDetails, other: str) -> VersionLabelTakenError:
    return VersionLabelTakenError(
        f"version label {details.version_label!r} is already used in version set "
        f"{details.version_set!r} (by {other}): choose another --version-label")


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
    (mid, name, state, created, by, comp, proj, tags, dtags, vs_id, vs_name, label, size, sha) = row[:14]
    return ModelSummary(
        id=mid, display_name=name, lifecycle_state=state, time_created=created, created_by=by,
        compartment_id=comp, project_id=proj, freeform_tags=json.loads(tags),
        defined_tags=json.loads(dtags), model_version_set_id=vs_id, model_version_set_name=vs_name,
        version_label=label, artifact_size=size, artifact_sha256=sha, catalog="local")


def record(row: tuple[Any, ...]) -> ModelRecord:
    head = summary(row)
    desc, custom, defined, ischema, oschema, prov = row[14:]
    return ModelRecord(
        id=head.id, display_name=head.display_name, description=desc,
        lifecycle_state=head.lifecycle_state, time_created=head.time_created,
        created_by=head.created_by, compartment_id=head.compartment_id,
        project_id=head.project_id, freeform_tags=head.freeform_tags,
        defined_tags=head.defined_tags, custom_metadata_list=loads(custom) or [],
        defined_metadata_list=loads(defined) or [], input_schema=loads(ischema),
        output_schema=loads(oschema), provenance=loads(prov) or {},
        model_version_set_id=head.model_version_set_id,
        model_version_set_name=head.model_version_set_name, version_label=head.version_label,
        artifact_size=head.artifact_size or 0, artifact_sha256=head.artifact_sha256 or "",
        catalog="local")
