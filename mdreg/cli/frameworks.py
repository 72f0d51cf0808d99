"""``mdreg frameworks``: the registered framework plugins."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mdreg.cli._app import app
from mdreg.cli._output import emit_json, print_table, warn


@app.command("frameworks")
def frameworks_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """List the framework plugins, whether each framework is installed, and its version."""
    from mdreg.frameworks.registry import default_registry

    reg = default_registry()
    rows: list[dict[str, Any]] = [
        {
            "name": p.name,
            "framework": p.display_name,
            "package": p.distribution,
            "installed": p.installed() if p.distribution else True,
            "version": p.version(),
            "plugin": f"{type(p).__module__}.{type(p).__qualname__}",
        }
        for p in sorted(reg.plugins.values(), key=lambda p: p.name)
    ]
    for w in reg.warnings:
        warn(w)
    if as_json:
        emit_json({"frameworks": rows, "warnings": reg.warnings})
        return
    print_table(
        ["name", "framework", "package", "installed", "version"],
        [
            [
                r["name"],
                r["framework"],
                r["package"] or "-",
                "yes" if r["installed"] else "no",
                r["version"] or "-",
            ]
            for r in rows
        ],
    )
