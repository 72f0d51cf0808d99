"""``mdreg load``: unpack a saved model, a bucket zip, a zip or a folder into a folder."""

from __future__ import annotations

from pathlib import Path

import typer

from mdreg.cli import app
from mdreg.cli._output import emit_json, note


@app.command("load")
def load_cmd(
    source: str = typer.Argument(..., help="Model id, bucket URI of a zip (file:///...zip), zip file or folder."),
    output: Path = typer.Option(..., "-o", "--output", help="Folder to unpack the artifact into."),
    force: bool = typer.Option(False, "--force", help="Replace a non-empty output folder."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Unpack an artifact safely and verify every file against its manifest."""
    from mdreg.catalog.load import load_artifact  # noqa: PLC0415
    from mdreg.cli._catalog import progress_factory  # noqa: PLC0415

    result = load_artifact(source, output, force=force, progress=progress_factory(quiet or as_json))
    if as_json:
        emit_json(result.to_dict())
        return
    if result.manifest == "absent":
        note("no manifest in the artifact: its files could not be checked against hashes")
    else:
        note("manifest verified: every file matches its sha256")
    typer.echo(str(result.artifact_dir))
