"""``upload_artifact``: zip an artifact folder (or take a zip) and put it into a bucket.

A folder is zipped straight into the bucket (``flows._bucket.stream_zip``): into
``oci://``, in parts as the zip is written, with no temp file.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mdreg._files import ProgressFactory, no_progress
from mdreg.errors import InputError
from mdreg.storage.uri import open_location


@dataclass
class UploadResult:
    uri: str
    key: str
    size: int
    sha256: str | None
    warnings: list[str] = field(default_factory=list)  # files shipped that look like secrets

    def to_dict(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "key": self.key,
            "size": self.size,
            "sha256": self.sha256,
            "warnings": self.warnings,
        }


def upload_artifact(
    artifact: str | Path, uri: str, *, progress: ProgressFactory = no_progress
) -> UploadResult:
    """Put ``artifact`` (folder: zipped first; or a .zip) at ``uri``: a ``.zip`` object URI,
    or a prefix under which it goes as ``ARTIFACT-NAME.zip``."""
    artifact = Path(artifact)
    if not artifact.exists():
        raise InputError(f"{artifact}: no such artifact folder or zip")
    if artifact.is_file() and not zipfile.is_zipfile(artifact):
        raise InputError(f"{artifact} is neither a folder nor a zip file")
    name = artifact.resolve().name
    bucket, key = open_location(uri, default_name=name if name.endswith(".zip") else f"{name}.zip")
    if artifact.is_file():
        from mdreg.artifact.secrets import zip_secret_warnings

        return _put(bucket, key, artifact, progress, zip_secret_warnings(artifact))
    from mdreg.flows._bucket import stream_zip

    info, warnings = stream_zip(bucket, key, artifact, progress)
    return UploadResult(bucket.uri_for(key), key, info.size, info.sha256, warnings)


def _put(
    bucket: Any, key: str, path: Path, progress: ProgressFactory, warnings: list[str]
) -> UploadResult:
    size = path.stat().st_size
    with progress(size, "upload") as advance:
        info = bucket.put(key, path, progress=advance)
    return UploadResult(bucket.uri_for(key), key, info.size, info.sha256, warnings)
