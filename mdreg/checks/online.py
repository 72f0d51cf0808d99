"""The one check that needs the network: does the inference conda pack exist?"""

from __future__ import annotations

import os
import re

from mdreg.checks.base import Outcome, failed, passed, skipped

_URI = re.compile(r"oci://(?P<bucket>[^/@]+)@(?P<namespace>[^/@]+)/(?P<name>.+)")


def conda_pack_exists(uri: str) -> Outcome:
    m = _URI.fullmatch(uri)
    if not m:
        return failed(f"INFERENCE_ENV_PATH {uri!r} is not an oci://bucket@namespace/path URI")
    try:
        import oci
    except ImportError:
        return skipped("the check needs the oci package: pip install 'mdreg[oci]'")
    try:
        config = oci.config.from_file(
            os.environ.get("OCI_CONFIG_LOCATION", oci.config.DEFAULT_LOCATION),
            os.environ.get("OCI_CONFIG_PROFILE", oci.config.DEFAULT_PROFILE),
        )
        client = oci.object_storage.ObjectStorageClient(config, timeout=(5, 15))
    except Exception as exc:  # noqa: BLE001 - no usable credentials: the check cannot run
        return skipped(f"no usable OCI credentials ({type(exc).__name__}: {exc})")
    try:
        client.head_object(m["namespace"], m["bucket"], m["name"])
    except oci.exceptions.ServiceError as exc:
        if exc.status == 404:
            return failed(f"conda pack {uri} does not exist: check the slug or path")
        return skipped(f"Object Storage answered {exc.status} {exc.code}: cannot tell")
    except Exception as exc:  # noqa: BLE001 - network down: unknown, not failed
        return skipped(f"Object Storage could not be reached ({type(exc).__name__})")
    return passed()
