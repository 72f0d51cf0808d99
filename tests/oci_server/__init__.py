"""A loopback stand-in for the OCI Data Science and Object Storage services, for tests and
benchmarks: the unmodified ``oci`` SDK talks to it through ``service_endpoint``.

    with OciTestServer() as server:
        files = server.user_files(tmp_path / ".oci")      # config + key the server knows
        server.add_bucket("artifacts")
        server.faults.fail_parts(0.2)                      # 20% of part uploads fail once
        ...

See ``server.py`` (what it serves and checks), ``ds_api.py``, ``os_api.py``,
``identity.py`` (signatures, tokens, principals) and ``faults.py``.
Run one in its own process: ``python -m tests.oci_server --help``.
"""

from tests.oci_server.identity import REGION, TENANCY, USER, Identity
from tests.oci_server.server import OciTestServer

__all__ = ["REGION", "TENANCY", "USER", "Identity", "OciTestServer"]
