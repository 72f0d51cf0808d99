"""``serve_artifact``: an artifact folder, zip or catalog model served over HTTP until
SIGINT/SIGTERM, as the model deployment serves it (``mdreg.server``). A source that is
not a folder is loaded first, through the same gate as ``mdreg load`` (``_source``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mdreg.flows._source import artifact_folder
from mdreg.server.settings import ServeOptions
from mdreg.server.supervisor import run


def serve_artifact(
    source: str | Path,
    options: ServeOptions,
    on_ready: Callable[[str], None],
    *,
    trust: bool = False,
    on_load: Callable[[str], None] | None = None,
) -> None:
    """Serve ``source`` with ``options``; ``on_ready(url)`` once the socket is bound.
    ``on_load(message)`` hears what was done to fetch a source that is not a folder."""
    with artifact_folder(str(source), trust, on_load) as folder:
        run(folder, options, on_ready)
