"""Bucket URIs, parsed in one place.

    file:///abs/folder/name.zip     the folder is the bucket, the file name the key
    file:///abs/folder/             a folder (for upload: the key is ARTIFACT-NAME.zip)
    oci://bucket@namespace/prefix   an Object Storage bucket and an object name or prefix

A location whose last part ends in ``.zip`` names an object; anything else is a prefix
(folder) under which a default object name goes.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from mdreg.errors import InputError, UsageError
from mdreg.storage.base import Bucket, check_key

SCHEMES = ("file", "oci")


@dataclass(frozen=True)
class BucketURI:
    """A parsed bucket URI. ``path`` is the object name or prefix ('' for the bucket root);
    for ``file://`` ``bucket`` is the absolute folder path and ``namespace`` is ''."""

    scheme: str
    bucket: str
    namespace: str
    path: str

    @property
    def names_object(self) -> bool:
        return self.path.lower().endswith(".zip")

    def key(self, default_name: str | None = None) -> str:
        """The object key: the path itself when it names a .zip, else PREFIX/default_name."""
        if self.names_object:
            return self.path
        if default_name is None:
            raise InputError(f"{self}: give the URI of a .zip object")
        prefix = self.path.strip("/")
        return f"{prefix}/{default_name}" if prefix else default_name

    def __str__(self) -> str:
        if self.scheme == "oci":
            return f"oci://{self.bucket}@{self.namespace}/{self.path}"
        return f"file://{self.bucket.rstrip('/')}/{self.path}"


def is_uri(text: str) -> bool:
    return "://" in text


def parse_uri(uri: str) -> BucketURI:
    """Parse a ``file://`` or ``oci://`` URI; InputError for anything else."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        raise InputError(
            f"{uri!r} is not a bucket URI: write file:///abs/path or oci://bucket@namespace/prefix"
        )
    scheme = scheme.lower()
    if scheme == "file":
        return _parse_file(uri)
    if scheme == "oci":
        return _parse_oci(uri, rest)
    raise InputError(f"{uri!r}: unsupported scheme {scheme}://; use file:// or oci://")


def _parse_file(uri: str) -> BucketURI:
    parts = urlsplit(uri)
    if parts.netloc not in ("", "localhost"):
        raise InputError(f"{uri!r}: file:// URIs name a local absolute path: file:///abs/path")
    path = unquote(parts.path)
    if not path.startswith("/"):
        raise InputError(f"{uri!r}: file:// URIs name a local absolute path: file:///abs/path")
    if ".." in path.split("/"):
        raise InputError(f"{uri!r}: '..' is not allowed in a bucket URI")
    if path.lower().endswith(".zip"):
        folder, _, name = path.rpartition("/")
        return BucketURI("file", folder or "/", "", name)
    return BucketURI("file", path.rstrip("/") or "/", "", "")


def _parse_oci(uri: str, rest: str) -> BucketURI:
    authority, _, path = rest.partition("/")
    bucket, at, namespace = authority.partition("@")
    if not (bucket and at and namespace):
        raise InputError(f"{uri!r}: write oci://bucket@namespace/prefix")
    if path and not path.endswith("/"):
        check_key(path)
    return BucketURI("oci", bucket, namespace, path)


def open_bucket(uri: BucketURI | str) -> Bucket:
    """The bucket a URI points into.

    ``oci://`` buckets take their credentials and endpoints from the OCI settings in
    force (``mdreg.oci.settings``: flags given to ``using``, the environment, config.toml);
    they are loaded here, so that a missing profile fails before any work is done.
    """
    parsed = parse_uri(uri) if isinstance(uri, str) else uri
    if parsed.scheme == "file":
        from mdreg.storage.file import FileBucket

        return FileBucket(parsed.bucket)
    if parsed.scheme == "oci":
        from mdreg.storage.oci import OciBucket

        return OciBucket(parsed.bucket, parsed.namespace)
    raise UsageError(f"{parsed.scheme}:// buckets are not supported")


def open_location(uri: str, default_name: str | None = None) -> tuple[Bucket, str]:
    """(bucket, key) for a URI; ``default_name`` is the object name under a prefix."""
    parsed = parse_uri(uri)
    bucket = open_bucket(parsed)
    return bucket, check_key(parsed.key(default_name))
