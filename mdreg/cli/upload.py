"""``mdreg upload``: zip an artifact and put it into a bucket."""

from __future__ import annotations

from pathlib import Path

import typer

from mdreg.cli import app
from mdreg.cli._output import emit_json, note


@app.command("upload")
def upload_cmd(
    artifact: Path = typer.Argument(..., help="Artifact folder (zipped first) or zip."),
    uri: str = typer.Argument(..., help="file:///dir/ (prefix) or file:///dir/name.zip; oci:// with the OCI backend."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Put the artifact's zip into a bucket; print the object's URI."""
    from mdreg.cli._catalog import human_size, progress_factory  # noqa: PLC0415
    from mdreg.storage.upload import upload_artifact  # noqa: PLC0415

    result = upload_artifact(artifact, uri, progress=progress_factory(quiet or as_json))
    if as_json:
        emit_json(result.to_dict())
        return
    note(f"uploaded {human_size(result.size)}, sha256 {result.sha256}")
    typer.echo(result.uri)
