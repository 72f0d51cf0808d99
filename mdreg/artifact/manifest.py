"""model_artifact_manifest.json: sha256 and size of every file the artifact ships.

The same document ADS 2.15+ writes, so both tools' score.py can check the model file
at load time. In the folder, mdreg's mutable metadata file is left out on purpose:
introspection and catalog edits rewrite it, and must not invalidate the hashes.

A zip is a frozen snapshot, and ADS (``safe_extract_zip``) refuses a zip holding a
file its manifest does not list. So the zip writer stores its own manifest member
(``zip_manifest``): the entries prepare wrote, as they are (a file changed since
prepare still fails every check), plus an entry for every other file it ships (the
metadata, files added after prepare), hashed from the bytes zipped and marked
``"listed_at": "zip"``. Such an entry vouches only for the zip: in a folder it counts as
unlisted (``verify_manifest``), the metadata's entry is ignored (it stays mutable), and
the next zip hashes them again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mdreg._files import hash_file
from mdreg.artifact import layout
from mdreg.errors import ArtifactError

_UNLISTED = {layout.MANIFEST, layout.METADATA}

#: Key and value marking an entry the zip writer added (not one prepare vouched for).
LISTED_AT = "listed_at"
AT_ZIP = "zip"


def sha256_file(path: Path) -> str:
    return hash_file(path)[1]


def listable_files(root: Path) -> list[str]:
    """Relative paths (posix) of the files a manifest covers, sorted."""
    out = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not p.is_symlink() and rel not in _UNLISTED:
            out.append(rel)
    return out


def build_manifest(root: Path, generated_by: str) -> dict[str, Any]:
    files = {
        rel: {"sha256": sha256_file(root / rel), "size": (root / rel).stat().st_size}
        for rel in listable_files(root)
    }
    return {
        "version": 1,
        "generated_by": generated_by,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
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


def is_zip_entry(entry: Any) -> bool:
    """Whether a manifest entry was added by the zip writer rather than by prepare."""
    return isinstance(entry, dict) and entry.get(LISTED_AT) == AT_ZIP


def attested(manifest: dict[str, Any]) -> dict[str, Any]:
    """The entries prepare vouched for: neither the zip writer's nor the metadata's."""
    return {
        rel: entry
        for rel, entry in manifest["files"].items()
        if rel not in _UNLISTED and not is_zip_entry(entry)
    }


def zip_manifest(manifest: dict[str, Any], hashed: dict[str, tuple[str, int]]) -> bytes:
    """The manifest member of a zip: ``manifest``'s own keys and attested entries, plus
    ``hashed`` (path -> (sha256, size) of each other file the zip holds, from the bytes
    written), marked as listed at zip time. Deterministic: the same folder gives the
    same bytes."""
    files = dict(attested(manifest))
    for rel, (sha256, size) in hashed.items():
        files[rel] = {"sha256": sha256, "size": size, LISTED_AT: AT_ZIP}
    doc = {**manifest, "files": {rel: files[rel] for rel in sorted(files)}}
    return (json.dumps(doc, indent=2) + "\n").encode("utf-8")


@dataclass
class ManifestCheck:
    missing: list[str]
    mismatched: list[str]
    unlisted: list[str]

    @property
    def ok(self) -> bool:
        return not (self.missing or self.mismatched)


def verify_manifest(
    root: Path, manifest: dict[str, Any], *, unzipped: bool = False
) -> ManifestCheck:
    """Check the files against the entries prepare wrote. ``unzipped``: ``root`` was just
    unpacked from a zip, whose zip-time entries (the metadata's too) must then match as
    well. ``unlisted``: shipped files prepare did not vouch for, the metadata aside."""
    files: dict[str, Any] = attested(manifest)
    checked = files
    if unzipped:
        checked = {rel: e for rel, e in manifest["files"].items() if rel != layout.MANIFEST}
    missing, mismatched = [], []
    for rel, entry in sorted(checked.items()):
        path = root / rel
        if not path.is_file():
            missing.append(rel)
        elif (
            not isinstance(entry, dict)
            or entry.get("size") != path.stat().st_size
            or entry.get("sha256") != sha256_file(path)
        ):
            mismatched.append(rel)
    unlisted = [rel for rel in listable_files(root) if rel not in files]
    return ManifestCheck(missing, mismatched, unlisted)
