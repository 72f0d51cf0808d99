"""Pytest fixtures for tests that talk to the OCI test server. Import the ones a module
uses (``from tests.oci_server.fixtures import oci_server, ...``).

    oci_server     a started OciTestServer (buckets "artifacts" and "staging"), its commits
                   refusing a part but the last under MIN_PART_SIZE (settings_for's and
                   cli_env's min_part_size: the server's)
    oci_files      an OCI config file for a user the server knows (DEFAULT: api_key,
                   SESSION: security_token), with its key and session token
    oci_auth       api_key, then security_token (parametrized)
    principal_auth resource_principal, then instance_principal, their environment in place
    oci_settings   OciSettings pointing at the server for ``oci_auth``
    clean_oci_env  autouse in OCI modules: no OCI_*/MDREG_OCI_*/notebook variables leak in
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mdreg.oci.settings import OciOptions, OciSettings, resolve
from tests.oci_server.identity import REGION, USER, ApiKeyFiles, Identity, new_key, pem_private
from tests.oci_server.server import OciTestServer

AUTH_MODES = ("api_key", "security_token", "resource_principal", "instance_principal")
FILE_AUTH_MODES = AUTH_MODES[:2]  # the shared suites run with these (the principals: round trips)
PRINCIPAL_MODES = AUTH_MODES[2:]
COMPARTMENT = "ocid1.compartment.oc1..c"  # the compartment the shared suite names
PROJECT = "ocid1.datascienceproject.oc1..default"
NAMESPACE = "testns"
USER_ID = USER
FAST = {"MDREG_OCI_POLL_SECONDS": "0.01", "MDREG_OCI_RETRY_BASE_SECONDS": "0.01"}
MIN_PART_SIZE = 512 * 1024  # the service's is 10 MiB; tests upload in parts of 1 MiB
_LEAKY = ("OCI_", "MDREG_OCI_", "NB_SESSION_", "JOB_RUN_", "PIPELINE_RUN_", "PROJECT_")


@pytest.fixture(scope="session")
def oci_identity() -> Identity:
    identity = Identity()
    identity.new_instance()
    return identity


@pytest.fixture(scope="session")
def oci_user_key() -> Any:
    return new_key()


@pytest.fixture
def clean_oci_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith(_LEAKY) or name in ("MDREG_CATALOG", "MDREG_CONFIG"):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def oci_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for the server and the user's OCI files, outside the test's tmp_path (the
    shared suites check what their tmp_path holds)."""
    return tmp_path_factory.mktemp("oci")


@pytest.fixture
def oci_server(oci_identity: Identity, oci_dir: Path) -> Iterator[OciTestServer]:
    server = OciTestServer(
        oci_dir / "server",
        identity=oci_identity,
        namespace=NAMESPACE,
        work_request_polls=3,
        min_part_size=MIN_PART_SIZE,
    )
    server.add_bucket("artifacts")
    server.add_bucket("staging")
    with server:
        yield server


@pytest.fixture
def oci_files(oci_server: OciTestServer, oci_user_key: Any, oci_dir: Path) -> ApiKeyFiles:
    return oci_server.user_files(oci_dir / ".oci", oci_user_key)


def principal_env(
    mode: str, server: OciTestServer, files: ApiKeyFiles, folder: Path
) -> dict[str, str]:
    """The environment OCI sets up for a resource principal (RP v2.2: token and key given
    to the process) or that points instance principals at the server's metadata routes."""
    if mode == "resource_principal":
        key_path = folder / "rp_key.pem"
        key_path.write_bytes(pem_private(files.private_key))
        token = server.identity.resource_principal_token(
            files.private_key.public_key(), "ocid1.datasciencejobrun.oc1.iad.testrun", COMPARTMENT
        )
        return {
            "OCI_RESOURCE_PRINCIPAL_VERSION": "2.2",
            "OCI_RESOURCE_PRINCIPAL_RPST": token,
            "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM": str(key_path),
            "OCI_RESOURCE_PRINCIPAL_REGION": REGION,
        }
    if mode == "instance_principal":
        return {"OCI_METADATA_BASE_URL": f"{server.url}/opc/v2"}
    return {}


def min_part_env(server: OciTestServer) -> dict[str, str]:
    """The server's smallest part as mdreg's setting (so parts of 1 MiB may be chosen)."""
    return {"MDREG_OCI_MIN_PART_SIZE": str(server.min_part_size)}


def settings_for(
    server: OciTestServer,
    files: ApiKeyFiles,
    auth: str = "api_key",
    environ: dict[str, str] | None = None,
    **options: Any,
) -> OciSettings:
    """Settings that point every service at ``server``; ``options`` are OciOptions fields."""
    env = {
        **FAST,
        "MDREG_OCI_COMPARTMENT_ID": COMPARTMENT,
        "MDREG_OCI_PROJECT_ID": PROJECT,
        "MDREG_OCI_AUTH_ENDPOINT": server.url,
        **min_part_env(server),
        **(environ or {}),
    }
    opts = OciOptions(
        auth=auth,
        config_file=str(files.config),
        profile="SESSION" if auth == "security_token" else None,
        data_science_endpoint=server.url,
        object_storage_endpoint=server.url,
        **options,
    )
    return resolve(opts, environ=env, config={})


@pytest.fixture(params=FILE_AUTH_MODES)
def oci_auth(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    oci_server: OciTestServer,
    oci_files: ApiKeyFiles,
    oci_dir: Path,
) -> str:
    for name, value in principal_env(request.param, oci_server, oci_files, oci_dir).items():
        monkeypatch.setenv(name, value)
    return request.param


@pytest.fixture(params=PRINCIPAL_MODES)
def principal_auth(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    oci_server: OciTestServer,
    oci_files: ApiKeyFiles,
    oci_dir: Path,
) -> str:
    for name, value in principal_env(request.param, oci_server, oci_files, oci_dir).items():
        monkeypatch.setenv(name, value)
    return request.param


@pytest.fixture
def oci_settings(oci_server: OciTestServer, oci_files: ApiKeyFiles, oci_auth: str) -> OciSettings:
    return settings_for(oci_server, oci_files, oci_auth)


def cli_env(server: OciTestServer, files: ApiKeyFiles, home: Path, **extra: str) -> dict[str, str]:
    """The environment of an ``mdreg`` subprocess that uses the server as its OCI."""
    return {
        "MDREG_HOME": str(home),
        "OCI_CONFIG_LOCATION": str(files.config),
        "MDREG_OCI_DATA_SCIENCE_ENDPOINT": server.url,
        "MDREG_OCI_OBJECT_STORAGE_ENDPOINT": server.url,
        "MDREG_OCI_COMPARTMENT_ID": COMPARTMENT,
        "PROJECT_OCID": PROJECT,
        **FAST,
        **min_part_env(server),
        **extra,
    }
