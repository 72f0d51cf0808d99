"""``mdreg zip``: pack an artifact folder into a reproducible zip."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mdreg.cli._app import app
from mdreg.cli._output import emit_json, note, progress_bar, warn


@app.command("zip")
def zip_cmd(
    artifact: Annotated[Path, typer.Argument(help="Artifact folder.")],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Zip file to write [default: ARTIFACT.zip]."),
    ] = None,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="List the files left out by .model-ignore."),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Zip the artifact (honouring .model-ignore): same folder, byte-identical zip."""
    from mdreg.artifact.zipping import zip_artifact

    dest = output or artifact.with_name(artifact.resolve().name + ".zip")
    total = (
        sum(p.stat().st_size for p in artifact.rglob("*") if p.is_file())
        if artifact.is_dir()
        else 0
    )
    with progress_bar(total, "zip", quiet=quiet or as_json) as advance:
        result = zip_artifact(artifact, dest, progress=advance)
    if as_json:
        emit_json(
            {
                "zip": str(result.path),
                "size": result.size,
                "sha256": result.sha256,
                "files": result.files,
                "skipped": result.skipped,
                "warnings": result.warnings,
            }
        )
        return
    for w in result.warnings:
        warn(w)
    if verbose:
        for rel in result.skipped:
            note(f"left out: {rel}")
    note(f"{len(result.files)} files, {result.size} bytes, sha256 {result.sha256}")
    typer.echo(str(result.path))
