"""The ``mdreg`` command line: one thin module per command over the library API.

``main`` is the one error boundary: an MdregError becomes its message on stderr and
its exit code; any other exception is a bug and shows a traceback only with --debug.
SIGTERM unwinds the program as Ctrl-C does (``Terminated`` is raised where it runs), so
the code being interrupted removes its temp files on the way out; exit 143 (130 for
Ctrl-C).
"""

from __future__ import annotations

import copy
import gc
import importlib
import os
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import typer

from mdreg.cli import _app

#: Command name -> the module under mdreg.cli that defines it (a command, or a group of
#: subcommands added with ``app.add_typer``). ``main`` imports only the module of the
#: command being run; a test keeps this in step with the decorators.
COMMAND_MODULES = {
    "prepare": "prepare",
    "introspect": "introspect",
    "verify": "verify",
    "serve": "serve",
    "predict": "predict",
    "score": "score",
    "zip": "zip",
    "save": "save",
    "upload": "upload",
    "load": "load",
    "deploy": "deploy",
    "deployments": "deploy",  # a group: deployments list / show / update / stop / start / delete
    "scan": "scan",
    "frameworks": "frameworks",
    "list": "catalog_cmds",
    "show": "catalog_cmds",
    "update": "catalog_cmds",
    "delete": "catalog_cmds",
    "gc": "catalog_cmds",
}


def load_commands(names: Iterable[str] | None = None) -> typer.Typer:
    """The app with the named commands' modules imported (all of them by default, in
    the order ``--help`` lists them: the workflow's)."""
    modules = dict.fromkeys(
        COMMAND_MODULES[n] for n in (COMMAND_MODULES if names is None else names)
    )
    for module in modules:
        importlib.import_module(f"mdreg.cli.{module}")
    return _app.app


def __getattr__(name: str) -> typer.Typer:
    # ``from mdreg.cli import app`` (completions, tests) gets every command registered.
    if name == "app":
        return load_commands()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _app_for(args: list[str]) -> typer.Typer:
    """The app holding only the command the arguments name, when they name one.

    Only that command's module is imported, and Typer turns only it into a click
    command (signatures, type hints, parameter callbacks: ~25 ms for all of mdreg's).
    The root options are flags, so the first argument that is not an option is the
    command's name. Anything else (no command, ``--help`` of the whole tool, a misspelt
    name that click should answer) gets the whole app.
    """
    name = next((a for a in args if not a.startswith("-")), None)
    if name not in COMMAND_MODULES or "--" in args[: args.index(name)]:
        return load_commands()
    app = load_commands([name])
    chosen = [
        c
        for c in app.registered_commands
        if (c.name or (c.callback and typer.main.get_command_name(c.callback.__name__))) == name
    ]
    one = copy.copy(app)
    one.registered_commands = chosen
    one.registered_groups = [g for g in app.registered_groups if g.name == name]
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


class Terminated(BaseException):
    """SIGTERM, raised where the program is, so that it unwinds (and cleans up) as after
    Ctrl-C: every ``except BaseException`` / ``finally`` that removes a temp file runs.
    Not a KeyboardInterrupt: Typer would turn that into a silent exit 130."""


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """Turn the first SIGTERM into ``Terminated`` (later ones are ignored: the cleanup it
    starts must not be cut short; SIGKILL still ends it). The old handler comes back on
    return. Only in the main thread, where Python runs signal handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> None:
    with _collector_paused(), _sigterm_unwinds():
        _main(argv)


def _main(argv: list[str] | None) -> None:
    from mdreg.cli._output import error
    from mdreg.errors import MdregError

    debug = "--debug" in (argv or sys.argv[1:]) or os.environ.get("MDREG_DEBUG") not in (
        None,
        "",
        "0",
    )
    try:
        # Standalone mode: Typer itself reports usage errors (exit 2) and --help.
        _app_for(sys.argv[1:] if argv is None else argv)(args=argv, prog_name="mdreg")
    except MdregError as exc:
        if debug:
            raise
        error(str(exc))
        sys.exit(exc.exit_code)
    except Terminated:
        error("terminated")
        sys.exit(143)
    except KeyboardInterrupt:
        error("interrupted")
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - a bug: say so in one line unless debugging
        if debug:
            raise
        error(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)")
        sys.exit(1)
