"""The ``mdreg`` command line: one thin module per command over the library API.

``main`` is the one error boundary: an MdregError becomes its message on stderr and
its exit code; any other exception is a bug and shows a traceback only with --debug.
"""

from __future__ import annotations

import copy
import gc
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

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


def _app_for(args: list[str]) -> typer.Typer:
    """``app``, holding only the command the arguments name when they name one.

    Typer turns every registered command into a click command on each run (signatures,
    type hints, parameter callbacks: ~25 ms for mdreg's commands); the one being run is
    all click needs. The root options are flags, so the first argument that is not an
    option is the command's name. Anything else (no command, ``--help`` of the whole
    tool, a misspelt name that click should answer) gets the whole app.
    """
    name = next((a for a in args if not a.startswith("-")), None)
    if name is None or "--" in args[:args.index(name)]:
        return app
    chosen = [c for c in app.registered_commands
              if (c.name or typer.main.get_command_name(c.callback.__name__)) == name]
    if len(chosen) != 1 or app.registered_groups:
        return app
    one = copy.copy(app)
    one.registered_commands = chosen
    return one


#: Seconds a command runs before Python's cycle collector is switched back on.
COLLECTOR_PAUSE_S = 5.0


@contextmanager
def _collector_paused(seconds: float = COLLECTOR_PAUSE_S) -> Iterator[None]:
    """Run without the cyclic garbage collector for the first ``seconds``.

    Most commands finish in well under that, and there the collector only re-scans what
    was just imported, again and again as the heap grows: ~20 ms of `introspect` and
    ~0.3 s of `prepare` (a framework import is a million objects). Reference counting
    still frees everything that is not a cycle, and a run long enough to pile up
    cycles (a big scan, zip or upload) gets the collector back after ``seconds``. The
    state is restored on return, so an in-process caller (tests) keeps its own.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    timer = threading.Timer(seconds, gc.enable)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        gc.enable()


def main(argv: list[str] | None = None) -> None:
    with _collector_paused():
        _main(argv)


def _main(argv: list[str] | None) -> None:
    from mdreg.cli._output import error  # noqa: PLC0415
    from mdreg.errors import MdregError  # noqa: PLC0415

    debug = "--debug" in (argv or sys.argv[1:]) or os.environ.get("MDREG_DEBUG") not in (None, "", "0")
    try:
        # Standalone mode: Typer itself reports usage errors (exit 2) and --help.
        _app_for(sys.argv[1:] if argv is None else argv)(args=argv, prog_name="mdreg")
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
