"""``mdreg deploy`` and ``mdreg deployments list / show / update / stop / start / delete``:
a catalog model behind an OCI model deployment, and its life after that."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated, Any

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
    PollLine,
    PredictGroupOpt,
    PredictLogOpt,
    ShapeOpt,
    WaitOpt,
    report,
)
from mdreg.cli._options import AuthOpt, ConfigFileOpt, DsEndpointOpt, ProfileOpt
from mdreg.cli._output import emit_json, note

deployments_app = typer.Typer(
    name="deployments",
    help="List, show, update, stop, start and delete OCI model deployments.",
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(deployments_app, name="deployments")

IdArg = Annotated[str, typer.Argument(help="Model deployment OCID.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
QuietPollOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress line.")]


class State(str, Enum):  # ModelDeployment.lifecycle_state (the SDK is not imported here)
    CREATING = "CREATING"
    ACTIVE = "ACTIVE"
    UPDATING = "UPDATING"
    INACTIVE = "INACTIVE"
    NEEDS_ATTENTION = "NEEDS_ATTENTION"
    FAILED = "FAILED"
    DELETING = "DELETING"
    DELETED = "DELETED"


def _oci(auth: str | None, profile: str | None, config_file: str | None, ds: str | None) -> Any:
    from mdreg.cli._catalog import oci_context

    return oci_context(auth=auth, profile=profile, config_file=config_file, ds_endpoint=ds)


@app.command("deploy")
def deploy_cmd(
    model_id: Annotated[str, typer.Argument(help="OCI model id (ocid1.datasciencemodel...).")],
    display_name: Annotated[
        str | None,
        typer.Option("--display-name", help="Deployment name [default: the model's name]."),
    ] = None,
    description: Annotated[
        str | None, typer.Option("--description", help="Description of the deployment.")
    ] = None,
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
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Freeform tag KEY=VALUE (repeat it).")
    ] = None,
    compartment_id: Annotated[
        str | None,
        typer.Option(
            "--compartment-id", envvar="NB_SESSION_COMPARTMENT_OCID", help="Compartment OCID."
        ),
    ] = None,
    project_id: Annotated[
        str | None, typer.Option("--project-id", envvar="PROJECT_OCID", help="Project OCID.")
    ] = None,
    wait: WaitOpt = True,
    quiet: QuietPollOpt = False,
    auth: AuthOpt = None,
    profile: ProfileOpt = None,
    config_file: ConfigFileOpt = None,
    ds_endpoint: DsEndpointOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Deploy a model of the OCI catalog; print the predict URL once it is ACTIVE.

    The limits (name, instances, bandwidth, flex shape, logs, variables) and the conda
    pack in the model's runtime.yaml are checked before anything is created. A
    deployment that goes FAILED exits 5 with the service's own message.
    """
    from mdreg.cli._catalog import parse_pairs
    from mdreg.flows.deploy import deploy_model

    options = DeployOptions(
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
    spec = options.spec(
        display_name=display_name,
        description=description,
        compartment_id=compartment_id,
        project_id=project_id,
        freeform_tags=parse_pairs(tag, "--tag"),
    )
    line = PollLine(f"deploying {model_id}", quiet or as_json)
    with _oci(auth, profile, config_file, ds_endpoint):
        try:
            result = deploy_model(model_id, spec, wait=wait, on_poll=line)
        finally:
            line.done()
    if as_json:
        emit_json(result.to_dict())
    else:
        report(result)


@deployments_app.command("list")
def list_cmd(
    state: Annotated[
        State | None, typer.Option("--state", help="Only this state [default: all but DELETED].")
    ] = None,
    compartment_id: Annotated[
        str | None,
        typer.Option("--compartment-id", help="Compartment listed [default: the configured one]."),
    ] = None,
    project_id: Annotated[
        str | None, typer.Option("--project-id", help="Only this project.")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, help="Show at most this many, newest first.")
    ] = 50,
    auth: AuthOpt = None,
    profile: ProfileOpt = None,
    config_file: ConfigFileOpt = None,
    ds_endpoint: DsEndpointOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List model deployments, newest first."""
    from mdreg.cli._catalog import oci_context
    from mdreg.cli._output import print_table
    from mdreg.flows.deploy import list_deployments

    with oci_context(
        auth=auth,
        profile=profile,
        config_file=config_file,
        ds_endpoint=ds_endpoint,
        compartment_id=compartment_id,
    ):
        found = list_deployments(
            project_id=project_id,
            lifecycle_state=state.value if state else None,
            limit=limit,
        )
    if as_json:
        emit_json([d.to_dict() for d in found])
        return
    rows = [
        [
            d.id,
            d.display_name,
            d.lifecycle_state,
            d.shape or "",
            "" if d.instance_count is None else str(d.instance_count),
            d.model_id or "",
            d.time_created[:19].replace("T", " "),
        ]
        for d in found
    ]
    headers = ["ID", "DISPLAY NAME", "STATE", "SHAPE", "INSTANCES", "MODEL", "CREATED"]
    print_table(headers, rows, styles={"ACTIVE": "green", "FAILED": "red"})


@deployments_app.command("show")
def show_cmd(
    deployment_id: IdArg,
    auth: AuthOpt = None,
    profile: ProfileOpt = None,
    config_file: ConfigFileOpt = None,
    ds_endpoint: DsEndpointOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one model deployment."""
    from mdreg.flows.deploy import get_deployment

    with _oci(auth, profile, config_file, ds_endpoint):
        deployment = get_deployment(deployment_id)
    _print(deployment, as_json)


@deployments_app.command("update")
def update_cmd(
    deployment_id: IdArg,
    instance_count: Annotated[
        int | None, typer.Option("--instance-count", help="New number of instances.")
    ] = None,
    shape: Annotated[str | None, typer.Option("--shape", help="New compute shape.")] = None,
    ocpus: OcpusOpt = None,
    memory_gb: MemoryOpt = None,
    model_id: Annotated[
        str | None, typer.Option("--model-id", help="Serve this model instead.")
    ] = None,
    bandwidth_mbps: Annotated[
        int | None,
        typer.Option("--bandwidth-mbps", help="New bandwidth, 10 to 8000 Mbps (INACTIVE only)."),
    ] = None,
    display_name: Annotated[
        str | None, typer.Option("--display-name", help="New name (at most 255 characters).")
    ] = None,
    wait: WaitOpt = True,
    quiet: QuietPollOpt = False,
    auth: AuthOpt = None,
    profile: ProfileOpt = None,
    config_file: ConfigFileOpt = None,
    ds_endpoint: DsEndpointOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change the instance count, shape or model with zero downtime (the bandwidth only
    while stopped)."""
    from mdreg.flows.deploy import update_deployment
    from mdreg.oci.deployment_spec import DeploymentChange

    change = DeploymentChange(
        model_id=model_id,
        shape=shape,
        ocpus=ocpus,
        memory_gb=memory_gb,
        instance_count=instance_count,
        bandwidth_mbps=bandwidth_mbps,
        display_name=display_name,
    )
    change.check()
    line = PollLine(f"updating {deployment_id}", quiet or as_json)
    with _oci(auth, profile, config_file, ds_endpoint):
        try:
            deployment = update_deployment(deployment_id, change, wait=wait, on_poll=line)
        finally:
            line.done()
    _print(deployment, as_json)


@deployments_app.command("stop")
def stop_cmd(
    deployment_id: IdArg,
    wait: WaitOpt = True,
    quiet: QuietPollOpt = False,
    auth: AuthOpt = None,
    profile: ProfileOpt = None,
    config_file: ConfigFileOpt = None,
    ds_endpoint: DsEndpointOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Deactivate a model deployment (no instances billed; its URL answers nothing)."""
    from mdreg.flows.deploy import stop_deployment

    _lifecycle(
        stop_deployment,
        "stopping",
        deployment_id,
        wait,
        quiet,
        as_json,
        auth,
        profile,
        config_file,
        ds_endpoint,
    )


@deployments_app.command("start")
def start_cmd(
    deployment_id: IdArg,
    wait: WaitOpt = True,
    quiet: QuietPollOpt = False,
    auth: AuthOpt = None,
    profile: ProfileOpt = None,
    config_file: ConfigFileOpt = None,
    ds_endpoint: DsEndpointOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Activate a stopped model deployment."""
    from mdreg.flows.deploy import start_deployment

    _lifecycle(
        start_deployment,
        "starting",
        deployment_id,
        wait,
        quiet,
        as_json,
        auth,
        profile,
        config_file,
        ds_endpoint,
    )


@deployments_app.command("delete")
def delete_cmd(
    deployment_id: IdArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Really delete (required).")] = False,
    wait: WaitOpt = True,
    quiet: QuietPollOpt = False,
    auth: AuthOpt = None,
    profile: ProfileOpt = None,
    config_file: ConfigFileOpt = None,
    ds_endpoint: DsEndpointOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete a model deployment (the model stays in the catalog). Needs --yes."""
    from mdreg.errors import UsageError
    from mdreg.flows.deploy import delete_deployment

    if not yes:
        raise UsageError(f"deleting {deployment_id} needs --yes (nothing was deleted)")
    line = PollLine(f"deleting {deployment_id}", quiet or as_json)
    with _oci(auth, profile, config_file, ds_endpoint):
        try:
            before = delete_deployment(deployment_id, wait=wait, on_poll=line)
        finally:
            line.done()
    if as_json:
        emit_json({"deleted": deployment_id, "display_name": before.display_name, "waited": wait})
    else:
        verb = "deleted" if wait else "deleting"
        note(f"{verb} model deployment {deployment_id} ({before.display_name})")


def _lifecycle(
    fn: Any,
    verb: str,
    deployment_id: str,
    wait: bool,
    quiet: bool,
    as_json: bool,
    *oci: str | None,
) -> None:
    line = PollLine(f"{verb} {deployment_id}", quiet or as_json)
    with _oci(*oci):
        try:
            deployment = fn(deployment_id, wait=wait, on_poll=line)
        finally:
            line.done()
    _print(deployment, as_json)


def _print(deployment: Any, as_json: bool) -> None:
    """One deployment as JSON, or as aligned ``name: value`` lines."""
    if as_json:
        emit_json(deployment.to_dict())
        return
    d = deployment
    flex = f" ({d.ocpus:g} OCPUs, {d.memory_gb:g} GB)" if d.ocpus is not None else ""
    rows = [
        ("id", d.id),
        ("display name", d.display_name),
        ("state", d.lifecycle_state + (f" ({d.lifecycle_details})" if d.lifecycle_details else "")),
        ("predict URL", d.predict_url),
        ("model", d.model_id or ""),
        ("shape", (d.shape or "") + flex),
        ("instances", "" if d.instance_count is None else str(d.instance_count)),
        ("bandwidth", "" if d.bandwidth_mbps is None else f"{d.bandwidth_mbps} Mbps"),
        ("created", f"{d.time_created} by {d.created_by}"),
        ("compartment", d.compartment_id or ""),
        ("project", d.project_id or ""),
    ]
    rows += [(f"env {k}", v) for k, v in sorted(d.environment.items())]
    rows += [("access log", d.access_log_id)] if d.access_log_id else []
    rows += [("predict log", d.predict_log_id)] if d.predict_log_id else []
    width = max(len(k) for k, _ in rows)
    sys.stdout.write("".join(f"{k:<{width}}  {v}\n" for k, v in rows))
