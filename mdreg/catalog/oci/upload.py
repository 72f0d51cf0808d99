"""Putting a model's artifact into the OCI catalog (the artifact's half of a save; the
model itself is created, and rolled back on failure, by ``OciCatalog``):

- up to ``max_direct_bytes``: ``create_model_artifact``, the zip streamed from disk
  (``SliceReader``), retried as a whole with one retry token;
- from a bucket (``save_from_bucket``, the caller uploaded it): ``export_model_artifact``,
  whose work request is polled to the end (progress follows its ``percentComplete``).

Either way the artifact's size (and, sent directly, its MD5) is checked with a HEAD,
when the service's answer carries them (``mdreg.oci.responses``: what is required of a
response and what may be missing).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mdreg._files import ProgressFn, SliceReader
from mdreg.errors import RemoteError
from mdreg.oci import retry
from mdreg.oci.clients import OciClients
from mdreg.oci.errors import translated
from mdreg.oci.responses import content_length, header, required, tolerated
from mdreg.oci.settings import OciSettings
from mdreg.oci.work_requests import follow

if TYPE_CHECKING:
    from mdreg.storage.oci import OciBucket


def upload_direct(
    clients: OciClients,
    settings: OciSettings,
    model_id: str,
    path: Path,
    size: int,
    progress: ProgressFn | None,
) -> None:
    """The zip at ``path`` as the artifact of ``model_id`` (``create_model_artifact``),
    streamed and retried from the start as a whole; the stored size and MD5 checked."""
    ds = clients.data_science
    token = secrets.token_hex(
        16
    )  # one retry token: a retried upload that had landed is not doubled
    name = path.name if path.suffix == ".zip" else "artifact.zip"
    seen = [0]

    def on_pos(pos: int) -> None:
        if progress is not None and pos > seen[0]:
            progress(pos - seen[0])
            seen[0] = pos

    def attempt(_: int) -> str:
        reader = SliceReader(path, 0, size, on_pos=on_pos)
        try:
            ds.create_model_artifact(
                model_id,
                reader if size else b"",
                content_length=size,
                content_disposition=f'attachment; filename="{name}"',
                opc_retry_token=token,
                retry_strategy=retry.no_retries(),
            )
        finally:
            reader.close()
        return reader.md5_b64()

    with translated(f"uploading the artifact of {model_id}"):
        md5 = retry.call(attempt, settings)
    check_artifact(ds, model_id, size, md5)


def export_from_bucket(
    clients: OciClients,
    settings: OciSettings,
    model_id: str,
    bucket: OciBucket,
    key: str,
    size: int,
    progress: ProgressFn | None,
) -> None:
    """The object ``key`` of ``bucket`` as the artifact of ``model_id``
    (``export_model_artifact``), its work request followed; the stored size checked."""
    ds = clients.data_science
    from oci.data_science.models import (
        ArtifactExportDetailsObjectStorage,
        ExportModelArtifactDetails,
    )

    source = ArtifactExportDetailsObjectStorage(
        namespace=bucket.namespace,
        source_bucket=bucket.name,
        source_object_name=key,
        source_region=bucket.region or clients.region,
    )
    what = f"exporting {bucket.uri_for(key)} into {model_id}"
    with translated(what):
        resp = ds.export_model_artifact(
            model_id, ExportModelArtifactDetails(artifact_export_details=source)
        )
    follow(
        ds,
        required(
            header(resp.headers, "opc-work-request-id"),
            "opc-work-request-id header",
            what,
            "following the copy needs",
        ),
        what,
        settings,
        size=size,
        progress=progress,
    )
    check_artifact(ds, model_id, size, None)


def check_artifact(ds: Any, model_id: str, size: int, md5: str | None) -> None:
    what = f"checking the artifact of {model_id}"
    with translated(what):
        headers = ds.head_model_artifact(model_id).headers
    got = content_length(headers)
    if got is None:
        tolerated(headers, "content-length", what, "its size is not checked")
    stored_md5 = tolerated(headers, "content-md5", what, "its MD5 is not checked")
    if (got is not None and got != size) or (md5 and stored_md5 and stored_md5 != md5):
        raise RemoteError(
            f"the catalog holds {got} bytes (MD5 {stored_md5}) as the "
            f"artifact of {model_id}; {size} bytes (MD5 {md5}) were sent"
        )
