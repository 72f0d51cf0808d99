"""Helpers the catalog commands share: KEY=VALUE options, progress, rendering records."""

from __future__ import annotations

from typing import Any

from mdreg.cli._output import progress_bar, stdout


def parse_pairs(values: list[str] | None, flag: str) -> dict[str, str]:
    """``["k=v", ...]`` -> ``{"k": "v"}``; UsageError naming the flag for a bad item."""
    from mdreg.errors import UsageError  # noqa: PLC0415

    pairs: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{flag} {item!r}: write KEY=VALUE")
        pairs[key.strip()] = value
    return pairs


def progress_factory(quiet: bool):  # type: ignore[no-untyped-def]
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
    """A model's main fields as aligned ``name: value`` lines on stdout."""
    import json  # noqa: PLC0415

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
        ("artifact", f"{human_size(record.artifact_size)}, sha256 {record.artifact_sha256}"),
        ("tags", ", ".join(f"{k}={v}" for k, v in sorted(record.freeform_tags.items()))),
    ]
    for item in record.defined_metadata_list:
        if item["key"] != "ArtifactTestResults":
            value = item["value"] if isinstance(item["value"], str) else json.dumps(item["value"])
            rows.append((item["key"], _clip(value)))
    for item in record.custom_metadata_list:
        value = item["value"] if isinstance(item["value"], str) else json.dumps(item["value"])
        rows.append((f"custom {item['key']}", _clip(value)))
    for key, value in sorted(record.provenance.items()):
        if value:
            rows.append((f"provenance {key}", _clip(str(value))))
    width = max(len(k) for k, _ in rows)
    out = stdout()
    for key, value in rows:
        out.print(f"{key:<{width}}  {value}", highlight=False, markup=False)


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
