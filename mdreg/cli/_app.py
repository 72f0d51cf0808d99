"""The Typer app and its root options; each command module adds its commands to ``app``."""

from __future__ import annotations

import sys

import typer

from mdreg import __version__

app = typer.Typer(
    name="mdreg",
    help="Prepare, check and register model artifacts for the OCI Data Science Model Catalog.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help: rich_utils alone costs ~150 ms of start-up
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"mdreg {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", envvar="MDREG_DEBUG",
                               help="Show tracebacks for errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Prepare, check and register model artifacts for the OCI Data Science Model Catalog.

    Exit codes: 0 ok, 1 checks failed, 2 usage, 3 bad input, 4 refused as unsafe,
    5 remote/service error.
    """
    _state["debug"] = debug
