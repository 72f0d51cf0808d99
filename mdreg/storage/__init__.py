"""Buckets: where artifact zips travel: ``file://`` folders (``file.py``) and OCI Object
Storage ``oci://bucket@namespace`` (``oci.py``, multipart in ``oci_multipart.py``).

``open_location(uri)`` turns a URI into a (bucket, key) pair; ``Bucket`` is the interface
each backend implements (see ``mdreg.storage.base``).
"""

from mdreg.storage.base import Bucket, ObjectInfo, ObjectNotFoundError, check_key
from mdreg.storage.uri import BucketURI, open_bucket, open_location, parse_uri

__all__ = [
    "Bucket",
    "BucketURI",
    "ObjectInfo",
    "ObjectNotFoundError",
    "check_key",
    "open_bucket",
    "open_location",
    "parse_uri",
]
