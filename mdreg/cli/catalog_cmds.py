"""``mdreg list / show / update / delete / gc``: the models in a catalog."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mdreg.cli._app import app
from mdreg.cli._options import AuthOpt, ConfigFileOpt, DsEndpointOpt, ProfileOpt
from mdreg.cli._output import emit_json, note

DEFAULT_LIMIT = 50


@app.command("list")
def list_cmd(
    version_set: Annotated[
        str | None, typer.Option("--version-set", help="Only this version set (name or id).")
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", help="Only models with tag KEY=VALUE (repeat: all must match)."),
    ] = None,
    name_contains: Annotated[
        str | None,
        typer.Option("--name-contains", help="Only display names containing this (any case)."),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", help="Show at most this many, newest first.")
    ] = DEFAULT_LIMIT,
    show_all: Annotated[bool, typer.Option("--all", help="Show every match (no --limit).")] = False,
    compartment_id: Annotated[
        str | None,
        typer.Option(
            "--compartment-id",
            help="Only this compartment (OCI: the compartment listed [default: the configured one]).",
        ),
    ] = None,
    project_id: Annotated[
        str | None, typer.Option("--project-id", help="Only this project.")
    ] = None,
    catalog: Annotated[
        str | None,
        typer.Option(
            "--catalog", envvar="MDREG_CATALOG", help="Catalog to list: local (default) or oci."
        ),
    ] = None,
    auth: AuthOpt = None,
    profile: ProfileOpt = None,
    config_file: ConfigFileOpt = None,
    ds_endpoint: DsEndpointOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON document (a list of records).")
    ] = False,
) -> None:
    """List models, newest first."""
    from mdreg.catalog import open_catalog
    from mdreg.cli._catalog import oci_context, parse_pairs
    from mdreg.errors import UsageError

    if limit < 1:
        raise UsageError(f"--limit {limit}: give 1 or more (--all shows every match)")
    tags = parse_pairs(tag, "--tag")
    with (
        oci_context(auth=auth, profile=profile, config_file=config_file, ds_endpoint=ds_endpoint),
        open_catalog(catalog) as cat,
    ):
        # one more than asked tells whether to say that more exist
        records = cat.list(
            version_set=version_set,
            tags=tags or None,
            name_contains=name_contains,
            compartment_id=compartment_id,
            project_id=project_id,
            limit=None if show_all else limit + 1,
        )
    more = not show_all and len(records) > limit
    records = records if show_all else records[:limit]
    if as_json:
        emit_json([r.to_dict() for r in records])
    else:
        _table(records)
    if more:
        # plain write, not note(): importing Rich for one line would add ~50 ms to `mdreg list`
        sys.stderr.write(f"showing the newest {limit}; use --all or --limit for more\n")


def _table(records: list[Any]) -> None:
    """Aligned plain columns: nothing wraps or shortens, so ids can be copied and
    lines grepped at any terminal width."""
    from mdreg.cli._catalog import human_size

    rows = [("ID", "DISPLAY NAME", "VERSION", "CREATED", "SIZE", "TAGS")]
    for r in records:
        version = (r.model_version_set_name or "") + (
            f":{r.version_label}" if r.version_label else ""
        )
        tags = _one_line(",".join(f"{k}={v}" for k, v in sorted(r.freeform_tags.items())))
        size = (
            "-" if r.artifact_size is None else human_size(r.artifact_size)
        )  # OCI listings lack it
        rows.append(
            (
                r.id,
                _one_line(r.display_name),
                _one_line(version),
                r.time_created[:19].replace("T", " "),
                size,
                tags,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = []
    for row in rows:
        cells = [row[i].rjust(widths[i]) if i == 4 else row[i].ljust(widths[i]) for i in range(5)]
        lines.append("  ".join([*cells, row[5]]).rstrip())
    sys.stdout.write("\n".join(lines) + "\n")


def _one_line(text: str) -> str:
    return "".join(c if c.isprintable() else " " for c in text)


@app.command("show")
def show_cmd(
    model_id: Annotated[str, typer.Argument(help="Model id (mdl-... local, ocid1.... OCI).")],
    auth: AuthOpt = None,
    profile: ProfileOpt = None,
    config_file: ConfigFileOpt = None,
    ds_endpoint: DsEndpointOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole record as one JSON document.")
    ] = False,
) -> None:
    """Show one model's record."""
    from mdreg.catalog import catalog_for_id
    from mdreg.cli._catalog import oci_context, render_record

    with (
        oci_context(auth=auth, profile=profile, config_file=config_file, ds_endpoint=ds_endpoint),
        catalog_for_id(model_id) as cat,
    ):
        record = cat.get(model_id)
    if as_json:
        emit_json(record.to_dict())
    else:
        render_record(record)


@app.command("update")
def update_cmd(
    model_id: Annotated[str, typer.Argument(help="Model id.")],
    display_name: Annotated[
        str | None, typer.Option("--display-name", help="New display name.")
    ] = None,
    description: Annotated[
        str | None,
        typer.Option("--description", help="New description (at most 255 characters)."),
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Set freeform tag KEY=VALUE (repeat it).")
    ] = None,
    remove_tag: Annotated[
        list[str] | None, typer.Option("--remove-tag", help="Remove freeform tag KEY.")
    ] = None,
    metadata: Annotated[
        list[str] | None,
        typer.Option(
            "--metadata", help="Set custom metadata KEY=VALUE (value at most 255 characters)."
        ),
    ] = None,
    remove_metadata: Annotated[
        list[str] | None, typer.Option("--remove-metadata", help="Remove custom metadata KEY.")
    ] = None,
    auth: AuthOpt = None,
    profile: ProfileOpt = None,
    config_file: ConfigFileOpt = None,
    ds_endpoint: DsEndpointOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the updated record as one JSON document.")
    ] = False,
) -> None:
    """Change a model's name, description, tags or custom metadata."""
    from mdreg.catalog import catalog_for_id
    from mdreg.cli._catalog import oci_context, parse_pairs, render_record
    from mdreg.flows.update import ModelEdit, update_model

    edit = ModelEdit(
        display_name=display_name,
        description=description,
        set_tags=parse_pairs(tag, "--tag"),
        remove_tags=list(remove_tag or []),
        set_metadata=parse_pairs(metadata, "--metadata"),
        remove_metadata=list(remove_metadata or []),
    )
    with (
        oci_context(auth=auth, profile=profile, config_file=config_file, ds_endpoint=ds_endpoint),
        catalog_for_id(model_id) as cat,
    ):
        record = update_model(cat, model_id, edit)
    if as_json:
        emit_json(record.to_dict())
    else:
        render_record(record)


@app.command("delete")
def delete_cmd(
    model_id: Annotated[str, typer.Argument(help="Model id.")],
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (for scripts).")
    ] = False,
    auth: AuthOpt = None,
    profile: ProfileOpt = None,
    config_file: ConfigFileOpt = None,
    ds_endpoint: DsEndpointOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Delete a model and (when no other model shares it) its artifact."""
    from mdreg.catalog import catalog_for_id
    from mdreg.cli._catalog import oci_context
    from mdreg.errors import UsageError

    with (
        oci_context(auth=auth, profile=profile, config_file=config_file, ds_endpoint=ds_endpoint),
        catalog_for_id(model_id) as cat,
    ):
        record = cat.get(model_id)
        if not yes:
            if not sys.stdin.isatty():
                raise UsageError(
                    "delete asks for confirmation on a terminal: pass --yes to delete "
                    "without asking"
                )
            if not typer.confirm(f"delete {record.id} ({record.display_name})?", err=True):
                note("nothing deleted")
                raise typer.Exit(1)
        cat.delete(model_id)
    if as_json:
        emit_json({"deleted": model_id, "display_name": record.display_name})
    else:
        note(f"deleted {model_id} ({record.display_name})")


@app.command("gc")
def gc_cmd(
    folders: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Folders to clear of temp files that killed zips and loads left there."
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only say what would be removed.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Remove artifact blobs no model uses and temp files crashed saves left (local catalog),
    and in FOLDERS the temp files of zips and loads whose process is gone."""
    from mdreg.catalog.local import LocalCatalog
    from mdreg.cli._catalog import human_size

    with LocalCatalog() as cat:
        report = cat.gc(dry_run=dry_run, folders=folders or ())
    if as_json:
        emit_json(report.to_dict())
        return
    verb = "would remove" if dry_run else "removed"
    note(
        f"{verb} {len(report.removed_blobs)} unused artifacts ({human_size(report.removed_bytes)}) "
        f"and {len(report.removed_temps) + len(report.removed_leftovers)} temp files; "
        f"{report.kept_blobs} artifacts in use"
    )
