"""Model and version-set ids, and which backend an id belongs to.

Local ids are ``mdl-`` (models) or ``mvs-`` (version sets) followed by a ULID: 26
Crockford base32 characters, time-ordered. OCI ids are OCIDs (``ocid1.``...), so the
two can never be confused and ``show ID`` knows which catalog to ask.
"""

from __future__ import annotations

import os
import re
import time

from mdreg.errors import InputError

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
MODEL_PREFIX = "mdl-"
VERSION_SET_PREFIX = "mvs-"
OCID_PREFIX = "ocid1."
LOCAL_ID = re.compile(r"^(mdl|mvs)-[0-9A-HJKMNP-TV-Z]{26}$")


def ulid() -> str:
    """48 bits of milliseconds since the epoch and 80 random bits, as 26 characters."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_model_id() -> str:
    return MODEL_PREFIX + ulid()


def new_version_set_id() -> str:
    return VERSION_SET_PREFIX + ulid()


def is_local_id(text: str) -> bool:
    return bool(LOCAL_ID.match(text))


def is_ocid(text: str) -> bool:
    return text.startswith(OCID_PREFIX)


def looks_like_id(text: str) -> bool:
    return is_local_id(text) or is_ocid(text)


def backend_for_id(model_id: str) -> str:
    """``"local"`` or ``"oci"``: the catalog that issued ``model_id``; InputError otherwise."""
    if is_ocid(model_id):
        return "oci"
    if is_local_id(model_id):
        return "local"
    raise InputError(
        f"{model_id!r} is not a model id: local ids look like mdl-01J..., "
        "OCI ids like ocid1.datasciencemodel..."
    )
