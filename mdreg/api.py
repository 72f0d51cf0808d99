"""Small library entry points that don't belong to one subpackage."""

from __future__ import annotations

from pathlib import Path

from mdreg.frameworks.base import Detection
from mdreg.frameworks.registry import default_registry


def detect(model_path: str | Path, framework: str | None = None) -> Detection:
    """Which framework plugin claims ``model_path``, and the evidence (bytes only)."""
    _, detection, _ = default_registry().detect(Path(model_path), framework)
    return detection
