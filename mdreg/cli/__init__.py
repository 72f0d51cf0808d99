"""The ``mdreg`` command line: one thin module per command over the library API.

``main`` is the one error boundary: an MdregError becomes its message on stderr and
its exit code; any other exception is a bug and shows a traceback only with --debug.
"""

from __future__ import annotations

import os
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


def _register() -> None:
    # Each command module adds itself to `app`; importing them is cheap (no frameworks).
    from mdreg.cli import (  # noqa: F401, PLC0415
        catalog_cmds, frameworks, introspect, load, prepare, save, scan, upload, verify, zip)


_register()


def main(argv: list[str] | None = None) -> None:
    from mdreg.cli._output import error  # noqa: PLC0415
    from mdreg.errors import MdregError  # noqa: PLC0415

    debug = "--debug" in (argv or sys.argv[1:]) or os.environ.get("MDREG_DEBUG") not in (None, "", "0")
    try:
        # Standalone mode: Typer itself reports usage errors (exit 2) and --help.
        app(args=argv, prog_name="mdreg")
    except MdregError as exc:
        if debug:
            raise
        error(str(exc))
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        error("interrupted")
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - a bug: say so in one line unless debugging
        if debug:
            raise
        error(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)")
        sys.exit(1)
