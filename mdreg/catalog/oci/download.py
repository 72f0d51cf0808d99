"""Getting a model's artifact out of the OCI catalog.

- up to ``max_direct_bytes``: ``get_model_artifact_content``, streamed into a temp file
  beside ``dest`` (constant memory), retried from the start on a cut connection (the
  artifact endpoint takes no ``Range``);
- larger: ``import_model_artifact`` into the configured bucket (``--bucket``), its work
  request followed to the end, then a streamed bucket download; the temporary object is
  removed afterwards.

Either way the bytes are checked against the sha256 mdreg recorded at save (and the
service's ``content-md5``) before ``dest`` is replaced.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Any

from mdreg._files import CHUNK, ProgressFn, fsync_dir, temp_name, unlink_quietly
from mdreg.catalog.base import ModelNotFoundError, ModelRecord
from mdreg.errors import ArtifactError, MdregError, RemoteError
from mdreg.oci import retry
from mdreg.oci.clients import OciClients
from mdreg.oci.errors import translated
from mdreg.oci.responses import header, required
from mdreg.oci.settings import OciSettings
from mdreg.oci.work_requests import follow


def download_direct(
    clients: OciClients,
    settings: OciSettings,
    record: ModelRecord,
    dest: Path,
    progress: ProgressFn | None,
) -> None:
    model_id = record.id
    seen = [0]

    def advance(n: int, pos: int) -> None:
        if progress is not None and pos > seen[0]:
            progress(pos - seen[0])
            seen[0] = pos

    def attempt(_: int) -> tuple[Path, str, str, str | None]:
        resp = clients.data_science.get_model_artifact_content(
            model_id, retry_strategy=retry.no_retries()
        )
        tmp = temp_name(dest)
        try:
            sha, md5 = _stream(resp, tmp, advance)
        except BaseException:
            unlink_quietly(tmp)
            raise
        return tmp, sha, md5, resp.headers.get("content-md5")

    with translated(
        f"downloading the artifact of {model_id}",
        not_found=lambda e: ModelNotFoundError(
            f"model {model_id} has no artifact in the OCI catalog"
        ),
    ):
        tmp, sha, md5, service_md5 = retry.call(attempt, settings)
    try:
        if service_md5 and service_md5 != md5:
            raise RemoteError(
                f"the artifact of {model_id} arrived with MD5 {md5}; the service "
                f"says {service_md5}: try again"
            )
        _check_sha(record, sha)
        os.replace(tmp, dest)
    except BaseException:
        unlink_quietly(tmp)
        raise
    fsync_dir(dest.parent)


def download_through_bucket(
    clients: OciClients,
    settings: OciSettings,
    record: ModelRecord,
    dest: Path,
    progress: ProgressFn | None,
) -> None:
    from oci.data_science.models import (
        ArtifactImportDetailsObjectStorage,
        ImportModelArtifactDetails,
    )

    from mdreg.catalog.ids import ulid
    from mdreg.storage.oci import OciBucket
    from mdreg.storage.uri import parse_uri

    uri = parse_uri(settings.bucket or "")
    if uri.scheme != "oci":
        raise MdregError(
            f"--bucket {uri}: the OCI catalog hands out large artifacts only into oci:// buckets"
        )
    bucket = OciBucket(uri.bucket, uri.namespace, clients=clients)
    key = uri.key(f"{record.id.rsplit('.', 1)[-1][:24]}-{ulid().lower()}.zip")
    target = ArtifactImportDetailsObjectStorage(
        namespace=bucket.namespace,
        destination_bucket=bucket.name,
        destination_object_name=key,
        destination_region=bucket.region,
    )
    what = f"importing the artifact of {record.id} into {bucket.uri_for(key)}"
    with translated(what):
        resp = clients.data_science.import_model_artifact(
            record.id, ImportModelArtifactDetails(artifact_import_details=target)
        )
    try:
        wr = header(resp.headers, "opc-work-request-id")
        follow(
            clients.data_science,
            required(wr, "opc-work-request-id header", what, "following the copy needs"),
            what,
            settings,
        )
        tmp = temp_name(dest)
        try:
            info = bucket.get(key, tmp, progress=progress)
            _check_sha(record, info.sha256 or "")
            os.replace(tmp, dest)
        except BaseException:
            unlink_quietly(tmp)
            raise
        fsync_dir(dest.parent)
    finally:
        try:
            bucket.delete(key)
        except MdregError:
            pass  # never there (the import failed) or already gone


def _stream(resp: Any, tmp: Path, advance: Any) -> tuple[str, str]:
    sha, md5 = hashlib.sha256(), hashlib.md5()  # noqa: S324 - the service's checksum
    size = int(resp.headers.get("content-length", -1))
    done = 0
    try:
        with open(tmp, "xb") as out:
            for chunk in resp.data.raw.stream(CHUNK, decode_content=False):
                out.write(chunk)
                sha.update(chunk)
                md5.update(chunk)
                done += len(chunk)
                advance(len(chunk), done)
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        from mdreg.oci.errors import is_network_error

        if is_network_error(exc):
            raise
        raise MdregError(f"cannot write {tmp.parent}: {exc.strerror or exc}") from exc
    finally:
        resp.data.close()
    if size >= 0 and done != size:
        raise ConnectionError(f"the artifact ended after {done} of {size} bytes")
    return sha.hexdigest(), base64.b64encode(md5.digest()).decode()


def _check_sha(record: ModelRecord, sha: str) -> None:
    if record.artifact_sha256 and sha != record.artifact_sha256:
        raise ArtifactError(
            f"the artifact of {record.id} hashes to sha256 {sha}, not the "
            f"{record.artifact_sha256} recorded at save: refused"
        )
