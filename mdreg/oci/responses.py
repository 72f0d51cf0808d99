"""What mdreg requires of OCI's responses, and what it only uses when it is there.

Each header or field mdreg reads is either required by the API's documentation (then
its absence is a ``RemoteError`` naming it, never a ``KeyError`` or a wrong number), or
tolerated when absent (then the check it feeds is skipped and, where the check is an
integrity one, a debug line says so: ``mdreg --debug``, logger ``mdreg.oci``). Third-party
Object Storage emulators leave out what the real service always sends; that is not
corruption.

Object Storage (``mdreg.storage.oci``, ``oci_parts``, ``oci_multipart``, ``oci_stream``):

=====================  ======================  ==========================================
call                   read                    absent
=====================  ======================  ==========================================
PutObject, UploadPart  ``opc-content-md5``     tolerated (debug): every body is sent with
                                               ``Content-MD5``, which the service checks
                                               itself (400 on a mismatch); when present it
                                               is compared too
UploadPart             ``etag``                required: CommitMultipartUpload lists each
                                               part's ETag (``partsToCommit``)
PutObject, Commit      ``etag``                tolerated (debug): the object's version is
                                               unknown, so its sha256 is not remembered
                                               for ``head``
CommitMultipartUpload  ``opc-multipart-md5``   tolerated (debug); compared when present
CreateMultipartUpload  ``uploadId`` (body)     required: every later call names it
GetObject              ``content-length``      tolerated: the body is read to its end
                       ``etag``                tolerated (debug): a resumed download
                                               cannot be pinned with ``If-Match``
                       ``content-md5``         tolerated; compared (single-part objects)
HeadObject             ``content-length``      the size is taken from ListObjects
                                               (``fields=size``); required if neither
                                               says it
ListObjects            ``size``, ``etag``,     tolerated (size 0, etag None);
                       ``timeModified``        ``nextStartWith`` absent: the last page
any                    ``last-modified``       tolerated (``modified`` None)
=====================  ======================  ==========================================

Data Science (``mdreg.catalog.oci``, ``mdreg.oci.work_requests``):

================================  ========================  ============================
call                              read                      absent
================================  ========================  ============================
CreateModel, GetModel, ListModels ``id`` and the record's   ``id`` required (the SDK
                                  fields                    model's own); the rest is
                                                            passed through (None, "")
Export/ImportModelArtifact        ``opc-work-request-id``   required: the only way to
                                                            follow the copy
GetWorkRequest                    ``status``                required; ``percentComplete``
                                                            tolerated (progress waits)
HeadModelArtifact                 ``content-length``        tolerated (debug): the size
                                                            check after an upload is
                                                            skipped, the size shown is 0
                                  ``content-md5``           tolerated; compared
ListModels, ListModelVersionSets  ``opc-next-page``         tolerated: the last page
================================  ========================  ============================

``CreateModelArtifact`` takes no ``Content-MD5`` (the SDK has no such parameter): its
bytes are checked afterwards with HeadModelArtifact's ``content-md5`` when there is one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from mdreg.errors import RemoteError
from mdreg.oci.retry import Corrupted

log = logging.getLogger("mdreg.oci")

#: Codes an MD5 rejection may carry: OCI documents the 400 and its message ("The
#: computed MD5 of the request body (ACTUAL_MD5) does not match the Content-MD5 header
#: (HEADER_MD5)") but not its code; S3-style emulators say BadDigest or InvalidDigest.
_MD5_CODES = ("UnmatchedContentMd5", "UnmatchedContentMD5", "BadDigest", "InvalidDigest")


def required(value: Any, name: str, what: str, why: str) -> Any:
    """``value``, or RemoteError: the response to ``what`` has no ``name``."""
    if value is None or value == "":
        raise RemoteError(
            f"{what}: the service's response has no {name}, which {why}: is the endpoint "
            "an OCI API (or an emulator that leaves it out)?"
        )
    return value


def header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """A response header, None when absent or empty."""
    value = (headers or {}).get(name)
    return value or None


def tolerated(headers: Mapping[str, str] | None, name: str, what: str, consequence: str) -> Any:
    """A header that may be absent; its absence logged at debug with what it costs."""
    value = header(headers, name)
    if value is None:
        log.debug("%s: the response has no %s header: %s", what, name, consequence)
    return value


def check_content_md5(headers: Mapping[str, str] | None, sent: str, what: str) -> None:
    """The MD5 the service computed (``opc-content-md5``) against the ``Content-MD5`` sent:
    Corrupted (retried) when they differ; when the service sends none, a debug line."""
    got = header(headers, "opc-content-md5")
    if got is None:
        log.debug(
            "%s: the response has no opc-content-md5 header (an emulator?); the body went "
            "with Content-MD5 %s, which the service checks itself",
            what,
            sent,
        )
        return
    if got != sent:
        raise Corrupted(f"{what}: the service computed MD5 {got}, {sent} was sent")


def md5_rejected(exc: BaseException) -> bool:
    """Whether ``exc`` is the service refusing a body whose MD5 differs from Content-MD5."""
    import oci

    if not isinstance(exc, oci.exceptions.ServiceError) or exc.status != 400:
        return False
    return exc.code in _MD5_CODES or "md5" in str(exc.message or "").lower()


def content_length(headers: Mapping[str, str] | None) -> int | None:
    """The ``content-length`` header as a number, None when absent or not a number."""
    value = header(headers, "content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
