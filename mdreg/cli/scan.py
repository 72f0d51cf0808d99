"""``mdreg scan``: judge a model file's pickles without loading them."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mdreg.cli._app import app
from mdreg.cli._output import emit_json, print_table, stdout

if TYPE_CHECKING:
    from mdreg.scan import Verdict
    from mdreg.scan.policy import Finding
    from mdreg.scan.scanner import ScanReport


class Format(str, Enum):
    table = "table"
    json = "json"
    sarif = "sarif"


@app.command("scan")
def scan_cmd(
    paths: Annotated[list[Path], typer.Argument(help="Model files or folders.")],
    framework: Annotated[
        list[str] | None,
        typer.Option(
            "--framework",
            help="Judge against this framework's allow-list (repeatable) [default: all].",
        ),
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
) -> None:
    """Walk every pickle stream (never executing it) and judge its globals: safe, unknown
    or dangerous. Archives are opened, nested ones too (zip, tar, 7z, gzip/bz2/xz); one
    that cannot be read fully is unknown. Exit 0 when every file is safe, 4 otherwise."""
    from mdreg import __version__
    from mdreg.errors import EXIT_UNSAFE, InputError
    from mdreg.scan import Verdict, scan_path

    for p in paths:
        if not p.exists():
            raise InputError(f"{p}: no such file or folder")
    reports = [scan_path(p, framework or None) for p in paths]
    if as_json or fmt is Format.json:
        emit_json({"verdict": _worst(reports).value, "files": [r.to_dict() for r in reports]})
    elif fmt is Format.sarif:
        from mdreg.scan.sarif import to_sarif

        emit_json(to_sarif(reports, __version__))
    else:
        _table(reports)
    if _worst(reports) is not Verdict.SAFE:
        raise typer.Exit(EXIT_UNSAFE)


def _worst(reports: list[ScanReport]) -> Verdict:
    from mdreg.scan.policy import worst

    return worst(r.verdict for r in reports)


def _table(reports: list[ScanReport]) -> None:
    style = {"safe": "green", "unknown": "yellow", "dangerous": "bold red"}
    for report in reports:
        v = report.verdict.value
        stdout().print(f"{report.path}: [{style[v]}]{v}[/]", highlight=False)
        if not report.findings:
            continue
        print_table(
            ["file", "global", "byte", "severity", "why"],
            [
                [
                    _where(f, report.path),
                    f.ref.dotted if f.ref else "-",
                    str(f.ref.offset) if f.ref else "-",
                    f.severity.value,
                    f.reason,
                ]
                for f in report.findings
            ],
        )


def _where(finding: Finding, path: Path) -> str:
    """The file, and the member the global is in: "outer.zip member a.zip > inner.pkl"."""
    from mdreg.scan.report import shown

    where = finding.ref.where if finding.ref else ""
    return f"{finding.path or path}" + (f" member {shown(where, 400)}" if where else "")
