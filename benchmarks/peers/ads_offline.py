"""Patches that let oracle-ads run its local jobs (prepare, introspect, zip) on a machine
whose network reaches PyPI only. Imported first by ads_job.py, in the ADS venv only:
mdreg's code is never patched, and nothing here is installed into the venv.

Each patch replaces one network read with the answer the service would give, so ADS
does all of its own local work and skips only the round trip: its timings here are a
lower bound of what a user with network access sees.

1. ``ads.model.runtime.utils._get_index_json_through_bucket``: prepare resolves the
   conda pack slug by reading ``oci://service-conda-packs@id19sfcrra6z/service_pack/index.json``
   from Object Storage (fsspec/ocifs). Replaced by a one-entry index naming the pack
   mdreg uses by default for scikit-learn (generalml_p311_cpu_x86_64_v1, Python 3.11).
2. ``requests.request`` (for the introspection validator,
   ``ads/model/model_artifact_boilerplate/artifact_introspection_test/model_artifact_validate.py``):
   its ``runtime_path_exist`` check GETs the same index.json through a public
   pre-authenticated URL. That one URL gets the same one-entry index (so the check passes,
   as it would online); any other URL raises ConnectionError, so nothing can hang on the
   network unnoticed. The validator is ``importlib.reload``-ed by ADS on every introspect,
   which rebinds its module-level ``requests`` name, so the function is patched on the
   ``requests`` module itself.

Not a patch: ADS builds OCI SDK clients (and an API-key signer) when a model object is
created, even for local work, and fails without ``~/.oci/config``. peers.py writes a
dummy config and key under the benchmark cache and points ``OCI_CONFIG_LOCATION`` at it
(the variable ADS documents); no request is ever signed with it.
"""

from __future__ import annotations

import requests
from ads.model.runtime import utils as _runtime_utils

SERVICE_PACK = {
    "slug": "generalml_p311_cpu_x86_64_v1",
    "pack_path": "oci://service-conda-packs@id19sfcrra6z/service_pack/cpu/"
    "General_Machine_Learning_for_CPUs_on_Python_3.11/1.0/generalml_p311_cpu_x86_64_v1",
    "python": "3.11",
}
INDEX_SUFFIX = "/service_pack/index.json"

PATCHES = []  # what was patched, for the record


def _index_json_through_bucket(namespace, bucketname, auth=None):
    return [dict(SERVICE_PACK)]


class _IndexResponse:
    ok = True
    status_code = 200

    def json(self):
        return {"service_packs": [dict(SERVICE_PACK)]}


_real_request = requests.request


def _request(method, url, *args, **kwargs):
    if str(url).endswith(INDEX_SUFFIX):
        return _IndexResponse()
    raise requests.ConnectionError(f"benchmark is offline: {method} {url}")


def apply() -> None:
    if PATCHES:
        return
    _runtime_utils._get_index_json_through_bucket = _index_json_through_bucket
    PATCHES.append("ads.model.runtime.utils._get_index_json_through_bucket")
    requests.request = _request
    PATCHES.append("requests.request (index.json URL answered, any other URL refused)")


apply()
