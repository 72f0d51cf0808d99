"""The one check that needs the network: does the inference conda pack exist?

It asks Object Storage with mdreg's OCI settings (``mdreg.oci.settings``: the auth mode,
profile and endpoint overrides in force), once, with short timeouts.
"""

from __future__ import annotations

import re
from dataclasses import replace

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
    from mdreg.oci.clients import OciClients
    from mdreg.oci.settings import resolve

    try:
        settings = replace(
            resolve(), max_attempts=1, connect_timeout_seconds=5.0, read_timeout_seconds=15.0
        )
        client = OciClients(settings).object_storage
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
