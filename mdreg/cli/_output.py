"""How the CLI talks: data to stdout, messages to stderr, one JSON document with --json.

Rich honours NO_COLOR and drops styling when the stream is not a terminal.
"""

from __future__ import annotations

import json
import os
import sys
from functools import cache
from typing import Any


@cache
def stdout() -> Any:
    from rich.console import Console

    return Console(soft_wrap=True)


@cache
def stderr() -> Any:
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


def stdout_is_terminal() -> bool:
    """Whether stdout is read by a person (a terminal, or FORCE_COLOR / TTY_COMPATIBLE=1
    saying so) rather than by a pipe or a file, which get every value whole."""
    return (
        sys.stdout.isatty()
        or bool(os.environ.get("FORCE_COLOR"))
        or os.environ.get("TTY_COMPATIBLE") == "1"
    )


def print_table(
    headers: list[str],
    rows: list[list[str]],
    *,
    title: str | None = None,
    styles: dict[str, str] | None = None,
) -> None:
    """A table on stdout. On a terminal, Rich's boxed table, cells found in ``styles``
    coloured; piped or redirected (scripts, CI logs), plain columns two spaces apart, one
    line per row: easier to grep than box drawing, and free of Rich's ~100 ms of import
    and layout."""
    if stdout_is_terminal():
        from rich.markup import escape
        from rich.table import Table

        table = Table(*headers, title=title)
        for row in rows:
            table.add_row(
                *(
                    f"[{styles[c]}]{escape(c)}[/]" if styles and c in styles else escape(c)
                    for c in row
                )
            )
        stdout().print(table)
        return
    rows = [[" ".join(c.split()) for c in row] for row in rows]  # one line per row
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    lines = [title] if title else []
    for row in [headers, *rows]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    sys.stdout.write("\n".join(lines) + "\n")


def emit_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")


def note(message: str) -> None:
    stderr().print(message, highlight=False)


def warn(message: str) -> None:
    stderr().print(f"[yellow]warning:[/yellow] {message}", highlight=False, markup=True)


def error(message: str) -> None:
    # Plain write: the message is the user's one line, and must not be re-wrapped or styled.
    # A line break inside it (a framework's multi-line exception text) becomes a space.
    one_line = " ".join(part.strip() for part in message.splitlines() if part.strip())
    sys.stderr.write(f"error: {one_line}\n")


PROGRESS_MIN_BYTES = 8 << 20  # below this a bar only flickers


class progress_bar:
    """A Rich progress bar on stderr, fed byte counts; silent when stderr is not a
    terminal, when quiet, or for small totals."""

    def __init__(self, total: int, description: str, *, quiet: bool = False) -> None:
        self.enabled = not quiet and total >= PROGRESS_MIN_BYTES and sys.stderr.isatty()
        self.total, self.description = total, description
        self._progress: Any = None

    def __enter__(self) -> Any:
        if not self.enabled:
            return None
        from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

        self._progress = Progress(
            "{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=stderr(),
            transient=True,
        )
        self._progress.start()
        task = self._progress.add_task(self.description, total=self.total)
        return lambda n: self._progress.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
