"""The test server's state: Data Science models, version sets and work requests; Object
Storage buckets, objects and multipart uploads. Bytes live in files under ``root`` (an
object is a list of segment files, so a multipart commit or an export links files
instead of copying gigabytes); everything else in dicts behind one lock.

Errors are ``ApiError(status, code, message)``; the server turns them into the services'
JSON error bodies.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

TAXONOMY_KEYS = {
    "UseCaseType",
    "Framework",
    "FrameworkVersion",
    "Algorithm",
    "Hyperparameters",
    "ArtifactTestResults",
}
CUSTOM_CATEGORIES = {
    "Performance",
    "Training Profile",
    "Training and Validation Datasets",
    "Training Environment",
    "Other",
}
MAX_METADATA_VALUE = 255
MAX_METADATA_BYTES = 32_000
MAX_SCHEMA_BYTES = 32_000
MAX_PARTS = 10_000
REGION_CODE = "iad"


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def not_found(what: str) -> ApiError:
    return ApiError(
        404,
        "NotAuthorizedOrNotFound",
        f"Authorization failed or requested resource not found: {what}",
    )


def ocid(kind: str) -> str:
    return f"ocid1.{kind}.oc1.{REGION_CODE}.amaaaaaa{secrets.token_hex(20)}"


def rfc3339(t: float) -> str:
    return (
        datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{int(t * 1000) % 1000:03d}Z"
    )


@dataclass
class Blob:
    """Bytes as an ordered list of segment files."""

    segments: list[tuple[Path, int]]
    md5: str  # base64: Content-MD5 for one segment; for multipart see multipart_md5
    etag: str = field(default_factory=lambda: secrets.token_hex(16))
    modified: float = field(default_factory=time.time)
    multipart_md5: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    disposition: str | None = None

    @property
    def size(self) -> int:
        return sum(n for _, n in self.segments)


@dataclass
class Upload:
    id: str
    namespace: str
    bucket: str
    object: str
    created: float
    metadata: dict[str, str]
    parts: dict[int, tuple[Path, int, str, str]] = field(
        default_factory=dict
    )  # n -> path, size, md5, etag
    attempts: dict[int, int] = field(default_factory=dict)  # n -> attempts seen (fault injection)


@dataclass
class WorkRequest:
    id: str
    operation_type: str
    compartment_id: str
    model_id: str
    action: Any  # callable run when the request completes; raises ApiError to fail it
    polls_needed: int
    accepted: float = field(default_factory=time.time)
    polls: int = 0
    status: str = "ACCEPTED"
    started: float | None = None
    finished: float | None = None
    errors: list[dict[str, str]] = field(default_factory=list)
    logs: list[dict[str, str]] = field(default_factory=list)
    fail_with: tuple[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        pct = (
            100.0
            if self.status == "SUCCEEDED"
            else min(99.0, 100.0 * self.polls / self.polls_needed)
        )
        if self.status == "ACCEPTED":
            pct = 0.0
        doc = {
            "id": self.id,
            "operationType": self.operation_type,
            "status": self.status,
            "compartmentId": self.compartment_id,
            "percentComplete": pct,
            "resources": [
                {
                    "entityType": "model",
                    "actionType": "IN_PROGRESS" if self.finished is None else "UPDATED",
                    "identifier": self.model_id,
                    "entityUri": f"/models/{self.model_id}",
                }
            ],
            "timeAccepted": rfc3339(self.accepted),
        }
        if self.started:
            doc["timeStarted"] = rfc3339(self.started)
        if self.finished:
            doc["timeFinished"] = rfc3339(self.finished)
        return doc


class Store:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "blobs").mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.models: dict[str, dict[str, Any]] = {}
        self.provenance: dict[str, dict[str, Any]] = {}
        self.artifacts: dict[str, Blob] = {}
        self.version_sets: dict[str, dict[str, Any]] = {}
        self.work_requests: dict[str, WorkRequest] = {}
        self.buckets: dict[tuple[str, str], dict[str, Blob]] = {}
        self.uploads: dict[str, Upload] = {}
        self.retry_tokens: dict[tuple[str, str], tuple[int, dict[str, str], Any]] = {}
        self._last_time = 0.0

    def now(self) -> float:
        """Strictly increasing times, so 'newest first' never ties."""
        with self.lock:
            t = max(time.time(), self._last_time + 0.001)
            self._last_time = t
            return t

    def new_file(self) -> Path:
        return self.root / "blobs" / secrets.token_hex(16)

    # -- Object Storage -------------------------------------------------------------------
    def bucket(self, namespace: str, name: str) -> dict[str, Blob]:
        found = self.buckets.get((namespace, name))
        if found is None:
            raise ApiError(
                404,
                "BucketNotFound",
                f"Either the bucket named '{name}' does not exist "
                f"in the namespace '{namespace}' or you are not "
                "authorized to access it",
            )
        return found

    def object(self, namespace: str, bucket: str, name: str) -> Blob:
        blob = self.bucket(namespace, bucket).get(name)
        if blob is None:
            raise ApiError(
                404, "ObjectNotFound", f"The object '{name}' was not found in the bucket '{bucket}'"
            )
        return blob

    def upload(self, namespace: str, bucket: str, name: str, upload_id: str) -> Upload:
        self.bucket(namespace, bucket)
        up = self.uploads.get(upload_id)
        if up is None or (up.namespace, up.bucket, up.object) != (namespace, bucket, name):
            raise ApiError(
                404,
                "NoSuchUpload",
                f"The upload ID '{upload_id}' was not found for "
                f"object '{name}' in bucket '{bucket}'",
            )
        return up

    def commit(
        self,
        up: Upload,
        to_commit: list[dict[str, Any]],
        to_exclude: list[int],
        min_part_size: int = 0,
    ) -> Blob:
        listed = {int(p["partNum"]) for p in to_commit} | {int(n) for n in to_exclude}
        unlisted = sorted(set(up.parts) - listed)
        if unlisted:
            raise ApiError(
                400,
                "InvalidParameter",
                f"Parts {unlisted} were uploaded but are neither committed nor excluded",
            )
        segments, md5s = [], []
        ordered = sorted(to_commit, key=lambda p: int(p["partNum"]))
        for i, p in enumerate(ordered):
            n = int(p["partNum"])
            if n not in up.parts:
                raise ApiError(400, "InvalidParameter", f"Part {n} was never uploaded")
            path, size, md5, etag = up.parts[n]
            if p.get("etag") != etag:
                raise ApiError(400, "InvalidParameter", f"The ETag of part {n} does not match")
            # The service waives its minimum part size for the last part only; what it
            # answers for a shorter one is not documented: 400 InvalidParameter, as above.
            if size < min_part_size and i < len(ordered) - 1:
                raise ApiError(
                    400,
                    "InvalidParameter",
                    f"Part {n} is {size} bytes: every part but the last must be at least "
                    f"{min_part_size} bytes",
                )
            segments.append((path, size))
            md5s.append(base64.b64decode(md5))
        if not segments:
            raise ApiError(400, "InvalidParameter", "No parts to commit")
        multi = base64.b64encode(hashlib.md5(b"".join(md5s)).digest()).decode() + f"-{len(md5s)}"  # noqa: S324
        blob = Blob(segments, md5="", multipart_md5=multi, metadata=dict(up.metadata))
        for n in set(up.parts) - {int(p["partNum"]) for p in to_commit}:
            _unlink(up.parts[n][0])
        return blob

    def drop(self, blob: Blob | None) -> None:
        """Remove a blob's files once no object or artifact uses them."""
        if blob is None:
            return
        with self.lock:
            used = {p for b in self._all_blobs() for p, _ in b.segments}
        for path, _ in blob.segments:
            if path not in used:
                _unlink(path)

    def _all_blobs(self) -> list[Blob]:
        blobs = list(self.artifacts.values())
        for objects in self.buckets.values():
            blobs.extend(objects.values())
        return blobs

    def link(self, blob: Blob) -> Blob:
        """A copy of ``blob`` sharing nothing mutable (files are hard-linked)."""
        segments = []
        for path, size in blob.segments:
            new = self.new_file()
            os.link(path, new)
            segments.append((new, size))
        return Blob(segments, md5=blob.md5, multipart_md5=blob.multipart_md5)


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
