"""``mdreg save``: introspect, zip and store an artifact in the catalog; print its id."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from mdreg.cli._app import app
from mdreg.cli._catalog import (
    auth_option,
    config_file_option,
    ds_endpoint_option,
    os_endpoint_option,
    parallel_option,
    part_size_option,
    profile_option,
)
from mdreg.cli._output import emit_json, note, warn


@app.command("save")
def save_cmd(
    artifact: Path = typer.Argument(..., help="Artifact folder (or zip)."),
    display_name: Optional[str] = typer.Option(
        None, "--display-name", help="Name in the catalog [default: the folder's name]."
    ),
    description: Optional[str] = typer.Option(
        None, "--description", help="At most 255 characters."
    ),
    tag: Optional[List[str]] = typer.Option(
        None, "--tag", help="Freeform tag KEY=VALUE (repeat it)."
    ),
    version_set: Optional[str] = typer.Option(
        None, "--version-set", help="Version set name (created on first use) or id."
    ),
    version_label: Optional[str] = typer.Option(
        None, "--version-label", help="Label, unique within the version set."
    ),
    compartment_id: Optional[str] = typer.Option(
        None,
        "--compartment-id",
        envvar="NB_SESSION_COMPARTMENT_OCID",
        help="Compartment OCID recorded with the model.",
    ),
    project_id: Optional[str] = typer.Option(
        None, "--project-id", envvar="PROJECT_OCID", help="Project OCID recorded with the model."
    ),
    ignore_introspection: bool = typer.Option(
        False, "--ignore-introspection", help="Save even when an introspection check fails."
    ),
    no_verify: bool = typer.Option(
        False, "--no-verify", help="Do not run score.py before saving (recorded as skipped)."
    ),
    large: bool = typer.Option(
        False, "--large", help="Send the artifact through --bucket (OCI's route above 2 GiB)."
    ),
    bucket: Optional[str] = typer.Option(
        None,
        "--bucket",
        help="Bucket URI the artifact travels through: file:///dir or oci://bucket@ns/prefix.",
    ),
    keep_bucket_object: bool = typer.Option(
        False, "--keep-bucket-object", help="Leave the zip in the bucket after the save."
    ),
    catalog: Optional[str] = typer.Option(
        None,
        "--catalog",
        envvar="MDREG_CATALOG",
        help="Catalog to save to: local (default) or oci.",
    ),
    auth: Optional[str] = auth_option(),
    profile: Optional[str] = profile_option(),
    config_file: Optional[str] = config_file_option(),
    ds_endpoint: Optional[str] = ds_endpoint_option(),
    os_endpoint: Optional[str] = os_endpoint_option(),
    part_size: Optional[str] = part_size_option(),
    parallel: Optional[int] = parallel_option(),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    as_json: bool = typer.Option(
        False, "--json", help="Print the model's record as one JSON document."
    ),
) -> None:
    """Check the artifact, zip it and store it in the catalog; print the new model's id."""
    from mdreg.catalog import open_catalog
    from mdreg.cli._catalog import human_size, oci_context, parse_pairs, progress_factory
    from mdreg.flows.save import SaveOptions, save_model

    options = SaveOptions(
        display_name=display_name,
        description=description,
        freeform_tags=parse_pairs(tag, "--tag"),
        version_set=version_set,
        version_label=version_label,
        compartment_id=compartment_id,
        project_id=project_id,
        ignore_introspection=ignore_introspection,
        no_verify=no_verify,
        large=large,
        bucket=bucket,
        keep_bucket_object=keep_bucket_object,
    )
    with (
        oci_context(
            auth=auth,
            profile=profile,
            config_file=config_file,
            ds_endpoint=ds_endpoint,
            os_endpoint=os_endpoint,
            compartment_id=compartment_id,
            project_id=project_id,
            part_size=part_size,
            parallel=parallel,
        ),
        open_catalog(catalog) as cat,
    ):
        result = save_model(
            artifact, options, catalog=cat, progress=progress_factory(quiet or as_json)
        )
    if as_json:
        emit_json(result.to_dict())
        return
    for w in result.warnings:
        warn(w)
    if result.failed_checks:
        warn(f"saved despite failed introspection checks: {', '.join(result.failed_checks)}")
    record = result.record
    via = " through the bucket" if result.route == "bucket" else ""
    note(
        f"saved {record.display_name} ({human_size(record.artifact_size)}){via} "
        f"to the {record.catalog} catalog"
    )
    if result.bucket_object:
        note(f"kept {result.bucket_object}")
    typer.echo(record.id)
