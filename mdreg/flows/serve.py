"""``serve_artifact``: an artifact folder, zip or catalog model served over HTTP until
SIGINT/SIGTERM, as the model deployment serves it (``mdreg.server``).

A folder is served where it is. A zip, a bucket URI or a model id goes through
``load_artifact`` first (safe unzip, manifest, scan: the same gate as ``mdreg load``)
into a temporary folder that is removed when the server stops.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from mdreg.artifact.layout import SCORE_PY
from mdreg.errors import ArtifactError
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
    ``on_load(message)`` hears what was done to fetch a non-folder source."""
    with _artifact_folder(str(source), trust, on_load) as folder:
        run(folder, options, on_ready)


@contextmanager
def _artifact_folder(
    source: str, trust: bool, on_load: Callable[[str], None] | None
) -> Iterator[Path]:
    path = Path(source)
    if path.is_dir():
        if not (path / SCORE_PY).is_file():
            raise ArtifactError(f"{path} has no {SCORE_PY}: is it an artifact folder?")
        yield path
        return
    from mdreg.flows.load import load_artifact

    tmp = Path(tempfile.mkdtemp(prefix="mdreg-serve-"))
    try:
        result = load_artifact(source, tmp / "artifact", trust=trust)
        if on_load is not None:
            on_load(f"loaded {source} ({result.kind}) into {result.artifact_dir}")
        yield result.artifact_dir
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
