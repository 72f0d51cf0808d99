"""Helpers the catalog commands share: the OCI options put in force, KEY=VALUE options,
progress, rendering records (the options themselves: ``_options``)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from mdreg.cli._output import progress_bar, stdout, stdout_is_terminal


def oci_context(
    *,
    auth: str | None = None,
    profile: str | None = None,
    config_file: str | None = None,
    ds_endpoint: str | None = None,
    os_endpoint: str | None = None,
    compartment_id: str | None = None,
    project_id: str | None = None,
    part_size: str | None = None,
    parallel: int | None = None,
    bucket: str | None = None,
) -> AbstractContextManager[None]:
    """The OCI flags in force for the library calls made inside the ``with`` block."""
    from mdreg.oci.settings import OciOptions, using  # light: no oci import

    return using(
        OciOptions(
            auth=auth,
            profile=profile,
            config_file=config_file,
            data_science_endpoint=ds_endpoint,
            object_storage_endpoint=os_endpoint,
            compartment_id=compartment_id,
            project_id=project_id,
            part_size=part_size,
            parallelism=parallel,
            bucket=bucket,
        )
    )


def parse_pairs(values: list[str] | None, flag: str) -> dict[str, str]:
    """``["k=v", ...]`` -> ``{"k": "v"}``; UsageError naming the flag for a bad item."""
    from mdreg.errors import UsageError

    pairs: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{flag} {item!r}: write KEY=VALUE")
        pairs[key.strip()] = value
    return pairs


def progress_factory(quiet: bool) -> Callable[[int, str], progress_bar]:
    """What library flows take as ``progress``: Rich bars on stderr unless quiet."""
    return lambda total, label: progress_bar(total, label, quiet=quiet)


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def render_record(record: Any) -> None:
    """A model's main fields as aligned ``name: value`` lines on stdout. On a terminal,
    long metadata values are cut to a line; piped or redirected, every value is whole."""
    import json

    clip = _clip if stdout_is_terminal() else str

    version = record.model_version_set_name or ""
    if record.version_label:
        version += f" : {record.version_label}"
    rows = [
        ("id", record.id),
        ("display name", record.display_name),
        ("description", record.description or ""),
        ("state", record.lifecycle_state),
        ("created", f"{record.time_created} by {record.created_by}"),
        ("version set", version),
        ("compartment", record.compartment_id or ""),
        ("project", record.project_id or ""),
        (
            "artifact",
            f"{human_size(record.artifact_size)}, sha256 {record.artifact_sha256 or 'unknown'}",
        ),
        ("tags", ", ".join(f"{k}={v}" for k, v in sorted(record.freeform_tags.items()))),
    ]
    for item in record.defined_metadata_list:
        if item["key"] != "ArtifactTestResults":
            value = item["value"] if isinstance(item["value"], str) else json.dumps(item["value"])
            rows.append((item["key"], clip(value)))
    for item in record.custom_metadata_list:
        value = item["value"] if isinstance(item["value"], str) else json.dumps(item["value"])
        rows.append((f"custom {item['key']}", clip(value)))
    for key, value in sorted(record.provenance.items()):
        if value:
            rows.append((f"provenance {key}", clip(str(value))))
    width = max(len(k) for k, _ in rows)
    out = stdout()
    for key, value in rows:
        out.print(f"{key:<{width}}  {value}", highlight=False, markup=False)


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
