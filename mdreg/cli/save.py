"""``mdreg save``: introspect, zip and store an artifact in the catalog; print its id."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mdreg.cli._app import app
from mdreg.cli._deploy_opts import (
    AccessGroupOpt,
    AccessLogOpt,
    BandwidthOpt,
    CondaOpt,
    DeployOptions,
    EnvOpt,
    InstancesOpt,
    MemoryOpt,
    OcpusOpt,
    PredictGroupOpt,
    PredictLogOpt,
    SaveDeploy,
    ShapeOpt,
    WaitOpt,
    report,
)
from mdreg.cli._options import (
    AuthOpt,
    ConfigFileOpt,
    DsEndpointOpt,
    OsEndpointOpt,
    ParallelOpt,
    PartSizeOpt,
    ProfileOpt,
    QuietOpt,
)
from mdreg.cli._output import emit_json, note, warn


@app.command("save")
def save_cmd(
    artifact: Annotated[Path, typer.Argument(help="Artifact folder (or zip).")],
    display_name: Annotated[
        str | None,
        typer.Option("--display-name", help="Name in the catalog [default: the folder's name]."),
    ] = None,
    description: Annotated[
        str | None, typer.Option("--description", help="At most 255 characters.")
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Freeform tag KEY=VALUE (repeat it).")
    ] = None,
    version_set: Annotated[
        str | None,
        typer.Option("--version-set", help="Version set name (created on first use) or id."),
    ] = None,
    version_label: Annotated[
        str | None, typer.Option("--version-label", help="Label, unique within the version set.")
    ] = None,
    compartment_id: Annotated[
        str | None,
        typer.Option(
            "--compartment-id",
            envvar="NB_SESSION_COMPARTMENT_OCID",
            help="Compartment OCID recorded with the model.",
        ),
    ] = None,
    project_id: Annotated[
        str | None,
        typer.Option(
            "--project-id", envvar="PROJECT_OCID", help="Project OCID recorded with the model."
        ),
    ] = None,
    ignore_introspection: Annotated[
        bool,
        typer.Option("--ignore-introspection", help="Save even when an introspection check fails."),
    ] = False,
    no_verify: Annotated[
        bool,
        typer.Option(
            "--no-verify", help="Do not run score.py before saving (recorded as skipped)."
        ),
    ] = False,
    large: Annotated[
        bool,
        typer.Option(
            "--large", help="Send the artifact through --bucket (OCI's route above 2 GiB)."
        ),
    ] = False,
    bucket: Annotated[
        str | None,
        typer.Option(
            "--bucket",
            help="Bucket URI the artifact travels through: file:///dir or oci://bucket@ns/prefix.",
        ),
    ] = None,
    keep_bucket_object: Annotated[
        bool,
        typer.Option("--keep-bucket-object", help="Leave the zip in the bucket after the save."),
    ] = False,
    catalog: Annotated[
        str | None,
        typer.Option(
            "--catalog",
            envvar="MDREG_CATALOG",
            help="Catalog to save to: local (default) or oci.",
        ),
    ] = None,
    auth: AuthOpt = None,
    profile: ProfileOpt = None,
    config_file: ConfigFileOpt = None,
    ds_endpoint: DsEndpointOpt = None,
    os_endpoint: OsEndpointOpt = None,
    part_size: PartSizeOpt = None,
    parallel: ParallelOpt = None,
    quiet: QuietOpt = False,
    deploy: Annotated[
        bool,
        typer.Option(
            "--deploy", help="Then deploy the saved model (OCI catalog; see `mdreg deploy`)."
        ),
    ] = False,
    shape: ShapeOpt = "VM.Standard.E4.Flex",
    instance_count: InstancesOpt = 1,
    bandwidth_mbps: BandwidthOpt = 10,
    ocpus: OcpusOpt = None,
    memory_gb: MemoryOpt = None,
    access_log_id: AccessLogOpt = None,
    access_log_group_id: AccessGroupOpt = None,
    predict_log_id: PredictLogOpt = None,
    predict_log_group_id: PredictGroupOpt = None,
    env: EnvOpt = None,
    conda_env: CondaOpt = None,
    wait: WaitOpt = True,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the model's record as one JSON document.")
    ] = False,
) -> None:
    """Check the artifact, zip it and store it in the catalog; print the new model's id
    (with --deploy, then the deployment's predict URL)."""
    from mdreg.catalog import open_catalog
    from mdreg.cli._catalog import human_size, oci_context, parse_pairs, progress_factory
    from mdreg.flows.save import SaveOptions, save_model

    deploy_options = DeployOptions(
        shape,
        instance_count,
        bandwidth_mbps,
        ocpus,
        memory_gb,
        access_log_id,
        access_log_group_id,
        predict_log_id,
        predict_log_group_id,
        env,
        conda_env,
        wait,
    )
    chained = SaveDeploy.plan(deploy, artifact, deploy_options)  # checked before the save

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
        if chained:
            chained.require_oci(cat)
        result = save_model(
            artifact, options, catalog=cat, progress=progress_factory(quiet or as_json)
        )
        deployed = chained.deploy(result.record, quiet or as_json) if chained else None
    if as_json:
        emit_json({**result.to_dict(), **({"deployment": deployed.to_dict()} if deployed else {})})
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
    if deployed:
        report(deployed)
