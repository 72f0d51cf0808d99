"""``load_artifact``: a model id, a bucket URI, a zip or a folder in; a checked artifact
folder out.

The zip is fetched (streamed) into a hidden folder beside the destination, unpacked by
``safe_extract`` (which refuses hostile entries and flattens a single nested folder),
and the manifest's sha256 of every file is verified before the folder is renamed into
place. Its pickles are then scanned and judged by the safety gate
(``mdreg.scan.gate.clear_folder``, the allow-lists of the framework the metadata names):
anything but ``safe`` is refused (exit 4) unless ``trust`` is given, and a
trusted load is recorded in the loaded artifact's ``.mdreg/metadata.json``. The metadata
came with the artifact, so a ``trusted`` flag set at prepare time counts for nothing here.
A destination that is not empty is replaced only with ``force``, and only once the new
artifact is complete, verified and scanned.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mdreg._files import ProgressFactory, move_into_place, no_progress, temp_name
from mdreg.catalog.ids import looks_like_id
from mdreg.errors import ArtifactError, DestinationExistsError, InputError

if TYPE_CHECKING:
    from mdreg.scan.policy import Verdict


@dataclass
class LoadResult:
    artifact_dir: Path
    source: str
    kind: str  # "model", "bucket", "zip" or "folder"
    model_id: str | None
    zip_sha256: str | None
    manifest: str  # "verified" or "absent"
    unlisted: list[str]
    scan_verdict: str = "safe"  # "safe", or "unknown" / "dangerous" loaded with trust
    trusted: bool = False  # loaded although not safe, because of trust=True
    findings: list[str] = field(default_factory=list)  # "file: global" that made it unsafe

    def to_dict(self) -> dict[str, Any]:
        return {
            "artifact_dir": str(self.artifact_dir),
            "source": self.source,
            "kind": self.kind,
            "model_id": self.model_id,
            "zip_sha256": self.zip_sha256,
            "manifest": self.manifest,
            "unlisted": self.unlisted,
            "scan_verdict": self.scan_verdict,
            "trusted": self.trusted,
            "findings": self.findings,
        }


def load_artifact(
    source: str | Path,
    dest: str | Path,
    *,
    force: bool = False,
    progress: ProgressFactory = no_progress,
    catalog: Any = None,
    trust: bool = False,
) -> LoadResult:
    """Unpack the artifact ``source`` names into the folder ``dest``.

    ``source``: a model id (``mdl-...`` local, ``ocid1....`` OCI), a bucket URI of a zip
    (``file:///...zip``), or a local zip file or artifact folder. ``catalog`` overrides
    the catalog asked for a model id. A pickle the scan does not call safe raises
    ``UnsafeModelError`` unless ``trust``.
    """
    source = str(source)
    dest = Path(dest)
    _check_dest(dest, source, force)
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = temp_name(dest, "download")
    work.mkdir()
    try:
        with _fetch(source, work, catalog, progress) as (zip_path, kind, model_id, sha):
            staged = temp_name(dest, "loading")
            try:
                from mdreg.artifact.unzipping import safe_extract

                root = safe_extract(zip_path, staged)
                manifest, unlisted = _verify(root, source)
                verdict, findings = _scan(root, source, trust)
                move_into_place(staged, dest)
            except BaseException:
                shutil.rmtree(staged, ignore_errors=True)
                raise
        artifact_dir = dest / root.relative_to(staged)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    from mdreg.scan.policy import Verdict  # imported by the scan already

    return LoadResult(
        artifact_dir,
        source,
        kind,
        model_id,
        sha,
        manifest,
        unlisted,
        verdict.value,
        verdict is not Verdict.SAFE,
        findings,
    )


def _check_dest(dest: Path, source: str, force: bool) -> None:
    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        raise DestinationExistsError(f"{dest} exists and is not a folder: choose another -o")
    if dest.is_dir() and any(dest.iterdir()):
        if not force:
            raise DestinationExistsError(f"{dest} is not empty: use --force to replace it")
        real = Path(os.path.realpath(dest))
        for keep in (Path.cwd(), Path.home(), Path(os.path.realpath(source))):
            if keep == real or real in keep.parents:
                raise DestinationExistsError(
                    f"--force would remove {dest}, which holds {keep}: choose another -o"
                )


@contextmanager
def _fetch(
    source: str, work: Path, catalog: Any, progress: ProgressFactory
) -> Iterator[tuple[Path, str, str | None, str | None]]:
    """(local zip, kind, model id, sha256 when known) for ``source``, valid in the block."""
    target = work / "artifact.zip"
    if "://" in source:
        from mdreg.storage.uri import open_location

        bucket, key = open_location(source)
        head = bucket.head(key)
        with progress(head.size if head else 0, "download") as advance:
            info = bucket.get(key, target, progress=advance)
        yield target, "bucket", None, info.sha256
        return
    path = Path(source)
    if looks_like_id(source) and not path.exists():
        from mdreg.catalog import catalog_for_id

        cat = catalog or catalog_for_id(source)
        try:
            record = cat.get(source)
            with (
                progress(record.artifact_size, "download") as advance,
                cat.open_artifact(source, progress=advance) as zip_path,
            ):
                yield zip_path, "model", source, record.artifact_sha256
        finally:
            if catalog is None:
                cat.close()
        return
    if path.is_dir():
        from mdreg.artifact.zipping import zip_artifact

        total = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        with progress(total, "zip") as advance:
            result = zip_artifact(path, target, progress=advance)
        yield target, "folder", None, result.sha256
        return
    if path.is_file():
        if not zipfile.is_zipfile(path):
            raise InputError(f"{source} is not a zip file")
        yield path, "zip", None, None
        return
    raise InputError(f"{source}: no such model id, bucket URI, zip file or folder")


def _verify(root: Path, source: str) -> tuple[str, list[str]]:
    from mdreg.artifact.manifest import read_manifest, verify_manifest

    manifest = read_manifest(root)
    if manifest is None:
        return "absent", []
    check = verify_manifest(root, manifest, unzipped=True)  # the zip's own entries too
    if not check.ok:
        problems = []
        if check.missing:
            problems.append(f"missing {', '.join(check.missing)}")
        if check.mismatched:
            problems.append(f"sha256 differs for {', '.join(check.mismatched)}")
        raise ArtifactError(
            f"{source}: the artifact does not match its manifest "
            f"({'; '.join(problems)}): it was changed after prepare; refused"
        )
    return "verified", check.unlisted


def _scan(root: Path, source: str, trust: bool) -> tuple[Verdict, list[str]]:
    """Scan the unpacked artifact's pickles as ``prepare`` and ``introspect`` do: against
    the allow-lists of the framework its metadata names (every list when it names none).
    Not safe: refused by the gate without ``trust``; with it, recorded in the metadata."""
    from mdreg.scan.gate import clear_folder
    from mdreg.scan.policy import Verdict

    meta = _metadata(root)
    facts = meta.get("mdreg") if meta is not None else None
    facts = facts if isinstance(facts, dict) else None
    allow = _allow_lists(facts.get("framework") if facts else None)
    verdict, findings = clear_folder(root, allow, trust=trust, subject=source)
    if verdict is Verdict.SAFE:
        return verdict, findings
    if meta is not None and facts is not None:  # an mdreg artifact: record it in its metadata
        facts["load_trust"] = {
            "scan_verdict": verdict.value,
            "trusted": True,
            "findings": findings[:50],
        }
        from mdreg.artifact.metadata import write_metadata

        write_metadata(root, meta)
    return verdict, findings


def _metadata(root: Path) -> dict[str, Any] | None:
    from mdreg.artifact.metadata import read_metadata

    try:
        return read_metadata(root)
    except ArtifactError:
        return None  # a damaged metadata file: scan against every allow-list


def _allow_lists(framework: Any) -> list[str] | None:
    if not isinstance(framework, str):
        return None
    from mdreg.frameworks.registry import default_registry

    plugin = default_registry().plugins.get(framework)
    return list(plugin.allow) if plugin is not None else None
