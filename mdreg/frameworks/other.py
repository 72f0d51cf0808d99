"""A model of a framework no plugin knows, chosen with ``--framework other``.

The file (or folder) goes into the artifact as it is, and score.py is a template whose
load_model() and predict() say plainly what to fill in. mdreg never loads the model.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from mdreg.frameworks.base import Detection, Framework, LoadOptions, ModelFacts
from mdreg.frameworks.probe import Probe


class UnknownModel:
    """Stands for a model mdreg cannot load: only its file is known."""

    def __init__(self, path: Path) -> None:
        self.path = path


class OtherFramework(Framework):
    name = "other"
    display_name = "other"
    serialization_format = "other"
    template = "score_other.py.jinja2"
    detectable = False
    unpickles = False
    template_only = True

    def sniff(self, probe: Probe) -> Detection | None:
        return None  # never claimed by detection: the user asks for it

    def load(self, path: Path, options: LoadOptions) -> Any:
        return UnknownModel(path)

    def save(self, model: Any, source: Path, dest_dir: Path, options: LoadOptions) -> str:
        name = source.name
        if source.is_dir():
            shutil.copytree(source, dest_dir / name, symlinks=False)
        else:
            shutil.copyfile(source, dest_dir / name)
        return name

    def describe(self, model: Any) -> ModelFacts:
        return ModelFacts(algorithm="unknown")

    def template_context(self, model: Any, source: Path) -> dict[str, Any]:
        return {"predict_call": "model.predict(features)"}
