"""model_artifact_manifest.json: sha256 and size of every file the artifact ships.

The same document ADS 2.15+ writes, so both tools' score.py can check the model file
at load time. mdreg's mutable metadata file is left out on purpose: introspection and
catalog edits rewrite it, and must not invalidate the hashes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mdreg.artifact import layout
from mdreg.errors import ArtifactError

_CHUNK = 1 << 20
_UNLISTED = {layout.MANIFEST, layout.METADATA}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def listable_files(root: Path) -> list[str]:
    """Relative paths (posix) of the files a manifest covers, sorted."""
    out = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not p.is_symlink() and rel not in _UNLISTED:
            out.append(rel)
    return out


def build_manifest(root: Path, generated_by: str) -> dict[str, Any]:
    files = {rel: {"sha256": sha256_file(root / rel), "size": (root / rel).stat().st_size}
             for rel in listable_files(root)}
    return {
        "version": 1,
        "generated_by": generated_by,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "files": files,
    }


def write_manifest(root: Path, generated_by: str) -> dict[str, Any]:
    doc = build_manifest(root, generated_by)
    (root / layout.MANIFEST).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return doc


def read_manifest(root: Path) -> dict[str, Any] | None:
    path = root / layout.MANIFEST
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), dict):
        raise ArtifactError(f"{path}: expected an object with a 'files' mapping")
    return doc


@dataclass
class ManifestCheck:
    missing: list[str]
    mismatched: list[str]
    unlisted: list[str]

    @property
    def ok(self) -> bool:
        return not (self.missing or self.mismatched)


def verify_manifest(root: Path, manifest: dict[str, Any]) -> ManifestCheck:
    files: dict[str, Any] = manifest["files"]
    missing, mismatched = [], []
    for rel, entry in sorted(files.items()):
        path = root / rel
        if not path.is_file():
            missing.append(rel)
        elif not isinstance(entry, dict) or entry.get("size") != path.stat().st_size \
                or entry.get("sha256") != sha256_file(path):
            mismatched.append(rel)
    unlisted = [rel for rel in listable_files(root) if rel not in files]
    return ManifestCheck(missing, mismatched, unlisted)
