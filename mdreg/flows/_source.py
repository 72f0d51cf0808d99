"""An artifact from anywhere ``load`` reads, as a folder for as long as it is used
(``serve`` and ``score``).

A folder is used where it is. A zip, a bucket URI or a model id goes through
``load_artifact`` (safe unzip, manifest, scan: the same gate as ``mdreg load``) into a
temporary folder, removed afterwards.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from mdreg.artifact.layout import SCORE_PY
from mdreg.errors import ArtifactError


@contextmanager
def artifact_folder(
    source: str, trust: bool = False, on_load: Callable[[str], None] | None = None
) -> Iterator[Path]:
    path = Path(source)
    if path.is_dir():
        if not (path / SCORE_PY).is_file():
            raise ArtifactError(f"{path} has no {SCORE_PY}: is it an artifact folder?")
        yield path
        return
    from mdreg.flows.load import load_artifact

    tmp = Path(tempfile.mkdtemp(prefix="mdreg-artifact-"))
    try:
        result = load_artifact(source, tmp / "artifact", trust=trust)
        if on_load is not None:
            on_load(f"loaded {source} ({result.kind}) into {result.artifact_dir}")
        yield result.artifact_dir
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
