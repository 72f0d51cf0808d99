"""Between mdreg's records and the SDK's Data Science models.

What does not map one to one, and what mdreg does about it:

- Metadata values are strings in OCI: a dict or list value (``ArtifactTestResults``,
  ``Hyperparameters``) is sent as its JSON text and read back as that text.
- Schemas are JSON text in OCI (``inputSchema``/``outputSchema``); parsed back to dicts.
- Provenance has six fields in OCI (``repository_url``, ``git_branch``, ``git_commit``,
  ``script_dir``, ``training_script``, ``training_id``); other keys mdreg records (such as
  ``uncommitted_changes``) have no place there and are left out.
- OCI keeps no checksum of an artifact. mdreg stores the zip's sha256 as one custom
  metadata item, ``ArtifactSha256`` (category Other): visible in the console, hidden from
  ``custom_metadata_list`` in mdreg's records, checked on download.
- A model's artifact size comes from the artifact's ``content-length`` (HEAD).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from mdreg.catalog.base import ModelRecord, ModelSummary, VersionSet

SHA_KEY = "ArtifactSha256"
SHA_DESCRIPTION = "sha256 of the artifact zip, recorded by mdreg"
PROVENANCE_FIELDS = (
    "repository_url",
    "git_branch",
    "git_commit",
    "script_dir",
    "training_script",
    "training_id",
)
CATALOG = "oci"


def to_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def metadata_out(
    items: list[dict[str, Any]], *, custom: bool, sha256: str | None = None
) -> list[Any]:
    """SDK ``Metadata`` objects for ``items`` (plus the hidden sha256 item)."""
    from oci.data_science.models import Metadata

    out = []
    for item in items:
        kw: dict[str, Any] = {"key": item["key"], "value": to_text(item.get("value"))}
        if custom or item.get("category") is not None:
            kw["category"] = item.get("category", "Other")
        if custom or item.get("description") is not None:
            kw["description"] = item.get("description", "")
        out.append(Metadata(**kw))
    if custom and sha256:
        out.append(
            Metadata(key=SHA_KEY, value=sha256, category="Other", description=SHA_DESCRIPTION)
        )
    return out


def metadata_in(
    items: list[Any] | None, *, custom: bool
) -> tuple[list[dict[str, Any]], str | None]:
    """(mdreg metadata dicts, the recorded sha256) from SDK ``Metadata`` objects."""
    result, sha = [], None
    for m in items or []:
        if custom and m.key == SHA_KEY:
            sha = m.value
            continue
        item: dict[str, Any] = {"key": m.key, "value": m.value}
        if custom:
            item["category"] = m.category
            item["description"] = m.description if m.description is not None else ""
        else:
            for name in ("category", "description"):
                if getattr(m, name, None) is not None:
                    item[name] = getattr(m, name)
        result.append(item)
    return result, sha


def provenance_out(provenance: dict[str, Any]) -> Any:
    from oci.data_science.models import CreateModelProvenanceDetails

    return CreateModelProvenanceDetails(
        **{k: to_text(provenance[k]) for k in PROVENANCE_FIELDS if provenance.get(k) is not None}
    )


def provenance_in(prov: Any) -> dict[str, Any]:
    if prov is None:
        return {}
    return {k: getattr(prov, k) for k in PROVENANCE_FIELDS if getattr(prov, k, None) is not None}


def schema_in(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return {"unparsed": text}


def iso(value: datetime | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds")


def record(model: Any, provenance: Any, artifact_size: int) -> ModelRecord:
    custom, sha = metadata_in(model.custom_metadata_list, custom=True)
    defined, _ = metadata_in(model.defined_metadata_list, custom=False)
    return ModelRecord(
        id=model.id,
        display_name=model.display_name,
        description=model.description,
        lifecycle_state=model.lifecycle_state,
        time_created=iso(model.time_created),
        created_by=model.created_by or "",
        compartment_id=model.compartment_id,
        project_id=model.project_id,
        freeform_tags=dict(model.freeform_tags or {}),
        defined_tags=dict(model.defined_tags or {}),
        custom_metadata_list=custom,
        defined_metadata_list=defined,
        input_schema=schema_in(model.input_schema),
        output_schema=schema_in(model.output_schema),
        provenance=provenance_in(provenance),
        model_version_set_id=model.model_version_set_id,
        model_version_set_name=model.model_version_set_name,
        version_label=model.version_label,
        artifact_size=artifact_size,
        artifact_sha256=sha or "",
        catalog=CATALOG,
    )


def summary(m: Any) -> ModelSummary:
    return ModelSummary(
        id=m.id,
        display_name=m.display_name,
        lifecycle_state=m.lifecycle_state,
        time_created=iso(m.time_created),
        created_by=m.created_by or "",
        compartment_id=m.compartment_id,
        project_id=m.project_id,
        freeform_tags=dict(m.freeform_tags or {}),
        defined_tags=dict(m.defined_tags or {}),
        model_version_set_id=m.model_version_set_id,
        model_version_set_name=m.model_version_set_name,
        version_label=m.version_label,
        artifact_size=None,
        artifact_sha256=None,
        catalog=CATALOG,
    )


def version_set(vs: Any) -> VersionSet:
    return VersionSet(
        id=vs.id,
        name=vs.name,
        description=getattr(vs, "description", None),
        time_created=iso(vs.time_created),
        created_by=vs.created_by or "",
        compartment_id=vs.compartment_id,
        project_id=vs.project_id,
    )
