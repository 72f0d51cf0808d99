"""``mdreg introspect``: check an artifact as the service would."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from mdreg.cli._app import app
from mdreg.cli._output import emit_json, print_table

_STYLE = {"passed": "green", "failed": "bold red", "skipped": "yellow"}


@app.command("introspect")
def introspect_cmd(
    artifact: Annotated[Path, typer.Argument(help="Artifact folder or zip.")],
    online: Annotated[
        bool,
        typer.Option(
            "--online", help="Also run the checks that need the network and OCI credentials."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Run the service's artifact checks, then mdreg's. Exit 1 when a check failed."""
    from mdreg.checks.introspect import introspect

    report = introspect(artifact, online=online)
    if as_json:
        emit_json(report.to_dict())
    else:
        print_table(
            ["key", "category", "result", "message"],
            [[r.key, r.category, r.status.value, r.message or ""] for r in report.results],
            title=str(artifact),
            styles=_STYLE,
        )
        counts = report.to_dict()["counts"]
        sys.stdout.write(
            f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped\n"
        )
    if not report.ok:
        raise typer.Exit(1)
