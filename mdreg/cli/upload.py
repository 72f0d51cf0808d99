"""``mdreg upload``: zip an artifact and put it into a bucket."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mdreg.cli._app import app
from mdreg.cli._options import (
    AuthOpt,
    ConfigFileOpt,
    OsEndpointOpt,
    ParallelOpt,
    PartSizeOpt,
    ProfileOpt,
    QuietOpt,
)
from mdreg.cli._output import emit_json, note, warn


@app.command("upload")
def upload_cmd(
    artifact: Annotated[Path, typer.Argument(help="Artifact folder (zipped first) or zip.")],
    uri: Annotated[
        str,
        typer.Argument(
            help="Bucket prefix (file:///dir/, oci://bucket@namespace/prefix/) "
            "or object URI ending in .zip.",
        ),
    ],
    auth: AuthOpt = None,
    profile: ProfileOpt = None,
    config_file: ConfigFileOpt = None,
    os_endpoint: OsEndpointOpt = None,
    part_size: PartSizeOpt = None,
    parallel: ParallelOpt = None,
    quiet: QuietOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Put the artifact's zip into a bucket; print the object's URI."""
    from mdreg.cli._catalog import human_size, oci_context, progress_factory
    from mdreg.flows.upload import upload_artifact

    with oci_context(
        auth=auth,
        profile=profile,
        config_file=config_file,
        os_endpoint=os_endpoint,
        part_size=part_size,
        parallel=parallel,
    ):
        result = upload_artifact(artifact, uri, progress=progress_factory(quiet or as_json))
    if as_json:
        emit_json(result.to_dict())
        return
    for w in result.warnings:
        warn(w)
    note(f"uploaded {human_size(result.size)}, sha256 {result.sha256}")
    typer.echo(result.uri)
