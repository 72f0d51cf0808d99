"""What the checks look at: one artifact folder, each file read and parsed at most once."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mdreg.artifact import layout
from mdreg.artifact.manifest import read_manifest
from mdreg.artifact.metadata import read_metadata
from mdreg.artifact.runtime import read_runtime
from mdreg.errors import ArtifactError
from mdreg.scan.scanner import ReadOnce

if TYPE_CHECKING:
    from mdreg.scan import PickleReport


class Unavailable(Exception):
    """A file a check needs is missing or unreadable; the check is skipped or failed
    with this message."""


@dataclass
class ArtifactContext:
    root: Path
    online: bool = False
    _walks: ReadOnce = field(default_factory=ReadOnce, repr=False, compare=False)

    def path(self, rel: str) -> Path:
        return self.root / rel

    @cached_property
    def score_source(self) -> str:
        path = self.path(layout.SCORE_PY)
        if not path.is_file():
            raise Unavailable("score.py is missing")
        try:
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise Unavailable(f"score.py is not UTF-8 text ({exc.reason})") from exc

    @cached_property
    def score_tree(self) -> ast.Module:
        try:
            return ast.parse(self.score_source, filename="score.py")
        except SyntaxError as exc:
            raise Unavailable(f"score.py does not parse (line {exc.lineno}: {exc.msg})") from exc

    def score_function(self, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        for node in self.score_tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
                return node
        return None

    @cached_property
    def runtime(self) -> dict[str, Any]:
        path = self.path(layout.RUNTIME_YAML)
        if not path.is_file():
            raise Unavailable("runtime.yaml is missing")
        try:
            return read_runtime(path)
        except ArtifactError as exc:
            raise Unavailable(str(exc)) from exc

    @cached_property
    def manifest(self) -> dict[str, Any] | None:
        try:
            return read_manifest(self.root)
        except ArtifactError as exc:
            raise Unavailable(str(exc)) from exc

    @cached_property
    def metadata(self) -> dict[str, Any] | None:
        try:
            return read_metadata(self.root)
        except ArtifactError:
            return None

    def pickle_report(self, path: Path, *, max_bytes: int | None = None) -> PickleReport:
        """The globals a file's pickles reference, walked once per file for every check
        (model_framework sniffs the model file, model_scan scans the whole folder)."""
        return self._walks(path, max_bytes=max_bytes)

    def mdreg_facts(self) -> dict[str, Any]:
        return (self.metadata or {}).get("mdreg", {}) if isinstance(self.metadata, dict) else {}
