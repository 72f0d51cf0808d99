"""Which input columns a scoring run sends to score.py and which it keeps, checked before
any work starts (both engines)."""

from __future__ import annotations

import json
from pathlib import Path

from mdreg.artifact import layout
from mdreg.batch.outputs import ERROR_COLUMN, OutputColumn
from mdreg.errors import InputError, UsageError


def model_columns(folder: Path, names: list[str]) -> list[str]:
    """input_schema.json's column names in order; every input column when the model
    was fitted on an array (numbered columns) or the schema is empty."""
    try:
        doc = json.loads((folder / layout.INPUT_SCHEMA).read_text(encoding="utf-8"))
        items = sorted(doc.get("schema", []), key=lambda c: c.get("order", 0))
    except (OSError, ValueError):
        items = []
    named = [c["name"] for c in items if isinstance(c.get("name"), str)]
    return named if named else list(names)


def plan_columns(
    source: str,
    folder: Path,
    names: list[str],
    outputs: list[OutputColumn],
    columns: list[str] | None,
    keep_columns: list[str] | None,
) -> tuple[list[str], list[str]]:
    """(the columns sent to score.py, the columns kept) for an input called ``source``
    with the columns ``names``: a missing column is one InputError line, a kept column
    the predictions would overwrite a UsageError."""
    sent = columns if columns is not None else model_columns(folder, names)
    missing = [c for c in sent if c not in names]
    if missing:
        raise InputError(
            f"{source} lacks the column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} that score.py needs (input_schema.json; "
            f"the input has {', '.join(names[:8])}{', ...' if len(names) > 8 else ''})"
        )
    keep = list(names) if keep_columns is None else list(dict.fromkeys(keep_columns))
    unknown = [c for c in keep if c not in names]
    if unknown:
        raise InputError(f"--keep-columns: {source} has no column {', '.join(unknown)}")
    clash = set(keep) & ({c.name for c in outputs} | {ERROR_COLUMN})
    if clash:
        raise UsageError(
            f"the input column{'s' if len(clash) > 1 else ''} {', '.join(sorted(clash))} "
            "would be overwritten by the predictions: leave it out with --keep-columns"
        )
    return sent, keep
