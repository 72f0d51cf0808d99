"""``mdreg load``: unpack a saved model, a bucket zip, a zip or a folder into a folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mdreg._text import with_article
from mdreg.cli._app import app
from mdreg.cli._options import (
    AuthOpt,
    ConfigFileOpt,
    DsEndpointOpt,
    OsEndpointOpt,
    ProfileOpt,
    QuietOpt,
)
from mdreg.cli._output import emit_json, note, warn


@app.command("load")
def load_cmd(
    source: Annotated[
        str,
        typer.Argument(
            help="Model id, bucket URI of a zip (file:///...zip, "
            "oci://bucket@namespace/...zip), zip file or folder.",
        ),
    ],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Folder to unpack the artifact into.")
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Replace a non-empty output folder.")
    ] = False,
    trust: Annotated[
        bool,
        typer.Option(
            "--trust", help="Load it even if its pickles reference code outside the allow-list."
        ),
    ] = False,
    bucket: Annotated[
        str | None,
        typer.Option(
            "--bucket",
            envvar="MDREG_OCI_BUCKET",
            help="oci:// bucket prefix an OCI model's artifact over 2 GiB "
            "travels through (import_model_artifact).",
        ),
    ] = None,
    auth: AuthOpt = None,
    profile: ProfileOpt = None,
    config_file: ConfigFileOpt = None,
    ds_endpoint: DsEndpointOpt = None,
    os_endpoint: OsEndpointOpt = None,
    quiet: QuietOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Unpack an artifact safely, verify every file against its manifest and scan its
    pickles: anything but safe is refused (exit 4) without --trust."""
    from mdreg.cli._catalog import oci_context, progress_factory
    from mdreg.flows.load import load_artifact

    with oci_context(
        auth=auth,
        profile=profile,
        config_file=config_file,
        ds_endpoint=ds_endpoint,
        os_endpoint=os_endpoint,
        bucket=bucket,
    ):
        result = load_artifact(
            source, output, force=force, progress=progress_factory(quiet or as_json), trust=trust
        )
    if as_json:
        emit_json(result.to_dict())
        return
    if result.trusted:
        shown = "; ".join(result.findings[:5]) + ("; ..." if len(result.findings) > 5 else "")
        warn(f"loaded {with_article(result.scan_verdict)} artifact because of --trust ({shown})")
    if result.manifest == "absent":
        note("no manifest in the artifact: its files could not be checked against hashes")
    else:
        note("manifest verified: every file matches its sha256")
    typer.echo(str(result.artifact_dir))
