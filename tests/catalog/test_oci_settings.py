"""Where the OCI settings come from, and what each auth mode says when it cannot work."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mdreg.catalog import open_catalog
from mdreg.catalog.local import LocalCatalog
from mdreg.errors import InputError, RemoteError, UsageError
from mdreg.oci.auth import credentials
from mdreg.oci.settings import MIB, OciOptions, parse_size, resolve, using

pytestmark = pytest.mark.usefixtures("clean_oci_env")


def test_flags_beat_the_environment_which_beats_the_config_file() -> None:
    config = {
        "oci": {
            "auth": "security_token",
            "profile": "FILE",
            "compartment_id": "c-file",
            "project_id": "p-file",
            "part_size": "64MiB",
            "parallelism": 3,
            "endpoints": {"data_science": "https://ds.file", "object_storage": "https://os.file"},
        }
    }
    env = {
        "OCI_CONFIG_PROFILE": "ENV",
        "NB_SESSION_COMPARTMENT_OCID": "c-notebook",
        "PROJECT_OCID": "p-notebook",
        "MDREG_OCI_OBJECT_STORAGE_ENDPOINT": "https://os.env/",
    }
    s = resolve(OciOptions(profile="FLAG"), environ=env, config=config)
    assert (s.auth, s.profile, s.compartment_id, s.project_id) == (
        "security_token",
        "FLAG",
        "c-notebook",
        "p-notebook",
    )
    assert (s.part_size, s.parallelism) == (64 * MIB, 3)
    assert dict(s.endpoints) == {
        "data_science": "https://ds.file",
        "object_storage": "https://os.env",
    }
    s = resolve(OciOptions(), environ={"MDREG_OCI_COMPARTMENT_ID": "c-mdreg", **env}, config=config)
    assert (s.profile, s.compartment_id) == ("ENV", "c-mdreg")  # mdreg's own variable first
    s = resolve(OciOptions(), environ={"JOB_RUN_COMPARTMENT_OCID": "c-job"}, config={})
    assert (s.auth, s.profile, s.compartment_id, s.part_size) == (
        "api_key",
        "DEFAULT",
        "c-job",
        128 * MIB,
    )


def test_ads_variables_are_read() -> None:
    s = resolve(
        OciOptions(),
        environ={
            "OCI_IAM_TYPE": "Resource_Principal",
            "OCI_CONFIG_LOCATION": "/x/config",
            "OCI_RESOURCE_REGION": "eu-frankfurt-1",
        },
        config={},
    )
    assert (s.auth, s.config_file, s.region) == (
        "resource_principal",
        "/x/config",
        "eu-frankfurt-1",
    )


@pytest.mark.parametrize(
    "config, message",
    [
        ({"oci": {"profil": "X"}}, r"unknown key\(s\) in \[oci\]: profil"),
        (
            {"oci": {"auth": "password"}},
            "unknown OCI auth 'password': choose one of api_key, security_token",
        ),
        (
            {"oci": {"part_size": "8MiB"}},
            r"^part_size 8 MiB is below Object Storage's minimum part size "
            r"\(min_part_size = 10 MiB\): choose 10 MiB to 50 GiB$",
        ),
        (
            {"oci": {"part_size": "1KB", "min_part_size": 0}},
            "part_size 1000 bytes: choose 1 MiB to 50 GiB",
        ),
        ({"oci": {"part_size": "lots"}}, "write a number of bytes, or e.g. 8MiB"),
        ({"oci": {"parallelism": 0}}, "parallelism 0: choose 1 to 64"),
        ({"oci": {"endpoints": {"data_science": "ds.example.com"}}}, "must start with https://"),
        ({"oci": {"endpoints": {"dns": "https://x"}}}, r"\[oci.endpoints\] takes data_science"),
    ],
)
def test_bad_settings_say_what_is_wrong(config: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        resolve(OciOptions(), environ={}, config=config)


def test_sizes() -> None:
    assert (
        parse_size("8MiB") == 8 * MIB
        and parse_size("128MB") == 128_000_000
        and parse_size(" 2 GiB ") == 2 << 30
    )
    assert parse_size(1234) == 1234 and parse_size("1.5MiB") == 3 * MIB // 2


def test_the_config_file_picks_the_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MDREG_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    assert isinstance(open_catalog(), LocalCatalog)
    (tmp_path / "home" / "config.toml").write_text('catalog = "local"\n[oci]\nprofile = "P"\n')
    assert isinstance(open_catalog(), LocalCatalog)
    assert resolve(OciOptions(), environ={}).profile == "P"  # the same file's [oci] table
    (tmp_path / "home" / "config.toml").write_text('catalog = "s3"\n')
    with pytest.raises(UsageError, match="unknown catalog 's3'"):
        open_catalog()
    monkeypatch.setenv("MDREG_CATALOG", "local")
    assert isinstance(open_catalog(), LocalCatalog)  # the environment beats the file
    (tmp_path / "home" / "config.toml").write_text("catalog = [\n")
    monkeypatch.delenv("MDREG_CATALOG")
    with pytest.raises(UsageError, match=r"config.toml is not valid TOML"):
        open_catalog()


def test_using_sets_the_flags_for_the_block() -> None:
    with using(OciOptions(profile="INSIDE")):
        assert resolve(environ={}, config={}).profile == "INSIDE"
    assert resolve(environ={}, config={}).profile == "DEFAULT"


# -- auth failures, before any request --------------------------------------------------------


def test_no_config_file(tmp_path: Path) -> None:
    s = resolve(OciOptions(config_file=str(tmp_path / "nope")), environ={}, config={})
    with pytest.raises(
        UsageError,
        match=r"no OCI config file at .*nope: the OCI backend needs "
        r"credentials; create it \(`oci setup config`\)",
    ):
        credentials(s)


def test_no_such_profile(oci_files) -> None:
    s = resolve(
        OciOptions(config_file=str(oci_files.config), profile="PROD"), environ={}, config={}
    )
    with pytest.raises(
        UsageError, match=r"no profile 'PROD' in .*config: choose one with --profile"
    ):
        credentials(s)


def test_a_missing_key_file(oci_files, tmp_path: Path) -> None:
    text = oci_files.config.read_text().replace(str(oci_files.key), str(tmp_path / "gone.pem"))
    (tmp_path / "config").write_text(text)
    s = resolve(OciOptions(config_file=str(tmp_path / "config")), environ={}, config={})
    with pytest.raises((InputError, UsageError), match=r"gone.pem"):
        credentials(s)


def test_an_expired_session_token(oci_files, oci_server) -> None:
    oci_files.token.write_text(
        oci_server.identity.issue_token(oci_files.private_key.public_key(), "u", ttl=-60)
    )
    s = resolve(
        OciOptions(config_file=str(oci_files.config), auth="security_token", profile="SESSION"),
        environ={},
        config={},
    )
    with pytest.raises(
        UsageError, match=r"the session token expired at .*: run `oci session refresh`"
    ):
        credentials(s)


def test_security_token_needs_a_token_file(oci_files) -> None:
    s = resolve(
        OciOptions(config_file=str(oci_files.config), auth="security_token"), environ={}, config={}
    )
    with pytest.raises(UsageError, match=r"\[DEFAULT\] lacks security_token_file"):
        credentials(s)


def test_resource_principal_outside_oci() -> None:
    s = resolve(OciOptions(auth="resource_principal"), environ={}, config={})
    with pytest.raises(UsageError, match="works inside OCI jobs, notebooks and functions"):
        credentials(s)


def test_instance_principal_outside_oci(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("OCI_METADATA_BASE_URL", f"http://127.0.0.1:{port}/opc/v2")
    s = resolve(
        OciOptions(auth="instance_principal"),
        environ={"MDREG_OCI_RETRY_BASE_SECONDS": "0.05"},
        config={},
    )
    start = time.monotonic()
    with pytest.raises(RemoteError, match="instance metadata service did not answer"):
        credentials(s)
    assert time.monotonic() - start < 10  # mdreg's retries, not the SDK's 90 s of them
