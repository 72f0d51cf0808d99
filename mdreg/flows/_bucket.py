"""An artifact folder zipped straight into a bucket object (``Bucket.put_stream``): what
``upload`` and ``save --bucket`` do with a folder. Into ``oci://`` the zip goes up in
parts as it is written, never touching the local disk; its bytes are those ``mdreg zip``
writes (one writer), and its sha256 is known when the upload is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mdreg._files import ProgressFactory


def stream_zip(
    bucket: Any, key: str, artifact: Path, progress: ProgressFactory
) -> tuple[Any, list[str]]:
    """(the object's ``ObjectInfo``, warnings about shipped files that look like secrets).
    The folder is checked (an artifact, its manifest's files present) before any upload;
    progress counts the files' bytes as they are zipped."""
    from mdreg.artifact.zipping import plan_zip, write_zip

    plan = plan_zip(artifact)
    with progress(plan.input_bytes, "zip+upload") as advance:
        info, _ = bucket.put_stream(
            key,
            lambda sink: write_zip(plan, sink, progress=advance),
            size_hint=plan.input_bytes,
        )
    return info, plan.warnings


def bucket_object(artifact: Path, bucket_uri: str) -> tuple[Any, str]:
    """(bucket, key) for the artifact's zip under ``bucket_uri``: a fresh name under a
    prefix, so that concurrent saves of one artifact never share an object."""
    from mdreg.catalog.ids import ulid
    from mdreg.storage.uri import open_location

    name = artifact.resolve().name.removesuffix(".zip")
    return open_location(bucket_uri, default_name=f"{name}-{ulid().lower()}.zip")
