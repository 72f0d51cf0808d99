"""The Typer app and its root options; each command module adds its commands to ``app``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from mdreg import __version__

#: The exit codes, as ``mdreg --help`` ends (README.md has the same table). "\b" keeps
#: click from rewrapping the lines.
EXIT_CODES = """\
Exit codes:

\b
  0         ok
  1         checks failed (introspect, verify), or an internal error
  2         usage: unknown option, conflicting flags, unknown framework
  3         bad input: a missing, unreadable or unknown model file, a bad
            sample, a non-empty destination, a folder not an artifact
  4         refused as unsafe (pass --trust if you trust its author);
            scan found something not safe
  5         remote or service error
  130, 143  interrupted (Ctrl-C) or terminated (SIGTERM)
"""

app = typer.Typer(
    name="mdreg",
    help="Prepare, check and register model artifacts for the OCI Data Science Model Catalog.",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help: rich_utils alone costs ~150 ms of start-up
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"mdreg {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            envvar="MDREG_DEBUG",
            help="Show tracebacks for errors, and frameworks' own log lines.",
        ),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Prepare, check and register model artifacts for the OCI Data Science Model Catalog
    (``--help`` ends with the exit codes: ``EXIT_CODES``)."""
    if not debug:  # TensorFlow's C++ log lines, Spark's JVM notices: see _quiet
        from mdreg.cli._quiet import quiet_frameworks

        ctx.call_on_close(quiet_frameworks())
    else:  # mdreg's own debug lines (what an OCI response lacked, retries) on stderr
        import logging

        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("debug: %(name)s: %(message)s"))
        logger = logging.getLogger("mdreg")
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
