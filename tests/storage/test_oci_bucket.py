"""``oci://`` buckets against the OCI test server: the shared suite with each auth mode,
then what only Object Storage shows: multipart uploads that survive failing parts, aborts,
resumed downloads, signatures the service refuses."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from mdreg.errors import EXIT_REMOTE, RemoteError, UsageError
from mdreg.oci.errors import OciServiceError
from mdreg.oci.settings import MIB, OciOptions, using
from mdreg.storage import open_location
from mdreg.storage.oci import OciBucket
from mdreg.storage.oci_multipart import multipart_md5, plan_parts
from tests.oci_server.fixtures import NAMESPACE, principal_env, settings_for
from tests.oci_server.identity import USER
from tests.storage.suite import BucketSuite

pytestmark = pytest.mark.usefixtures("clean_oci_env")


def _bucket(server: Any, files: Any, auth: str = "api_key", **options: Any) -> OciBucket:
    return OciBucket("artifacts", NAMESPACE, settings=settings_for(server, files, auth, **options))


def _file(path: Path, size: int) -> tuple[Path, bytes]:
    data = os.urandom(size)
    path.write_bytes(data)
    return path, data


class TestOciBucket(BucketSuite):
    """api_key and security_token auth; 1 MiB parts, so the suite's 2-3 MiB objects go up in parts and the
    small ones in one put_object."""

    @pytest.fixture
    def bucket(self, oci_server, oci_settings):  # type: ignore[no-untyped-def]
        from dataclasses import replace

        b = OciBucket("artifacts", NAMESPACE, settings=replace(oci_settings, part_size=MIB))
        yield b
        b.close()


@pytest.mark.parametrize(
    "auth", ["api_key", "security_token", "resource_principal", "instance_principal"]
)
def test_each_auth_mode_round_trips_as_its_principal(
    oci_server, oci_files, oci_dir, monkeypatch, tmp_path: Path, auth: str
) -> None:
    """Resource principals through the RP v2.2 environment contract (token and key given to
    the process); instance principals through the metadata service (OCI_METADATA_BASE_URL)
    and the federation endpoint, both served by the test server."""
    for name, value in principal_env(auth, oci_server, oci_files, oci_dir).items():
        monkeypatch.setenv(name, value)
    bucket = OciBucket(
        "artifacts", NAMESPACE, settings=settings_for(oci_server, oci_files, auth, part_size="1MiB")
    )
    src, data = _file(tmp_path / "x.zip", 2 * MIB + 5)
    assert bucket.put("who.zip", src).sha256 == hashlib.sha256(data).hexdigest()
    assert bucket.get("who.zip", tmp_path / "out").size == len(data)
    assert (tmp_path / "out").read_bytes() == data
    assert [o.key for o in bucket.list()] == ["who.zip"] and bucket.head("who.zip").size == len(
        data
    )
    bucket.delete("who.zip")
    assert bucket.head("who.zip") is None
    expected = {
        "api_key": ("user", USER),
        "security_token": ("session", USER),
        "resource_principal": ("resource", "ocid1.datasciencejobrun.oc1.iad.testrun"),
        "instance_principal": ("instance", "ocid1.instance.oc1.iad.testinstance"),
    }[auth]
    assert set(oci_server.principals) == {expected}
    if auth == "instance_principal":  # certificate from the metadata service, token from auth
        assert oci_server.calls["federation"] == 1 and oci_server.calls["imds_identity"] >= 2


def test_multipart_survives_failing_parts(oci_server, oci_files, tmp_path: Path) -> None:
    src, data = _file(tmp_path / "big.zip", 12 * MIB + 3)
    oci_server.faults.fail_parts(0.4, kinds=("status", "reset"), seed=3)
    seen: list[int] = []
    info = _bucket(oci_server, oci_files, part_size="1MiB", parallelism=4).put(
        "m/big.zip", src, progress=seen.append
    )
    injected = oci_server.faults.injected
    assert injected[("upload_part", "503")] >= 1 and injected[("upload_part", "reset")] >= 1
    assert sum(seen) == len(data)  # retried parts are not counted twice
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert oci_server.calls["upload_part"] == 13 + sum(injected.values())
    out = tmp_path / "out.zip"
    _bucket(oci_server, oci_files).get("m/big.zip", out)
    assert out.read_bytes() == data
    assert oci_server.store.uploads == {}


def test_the_committed_object_has_the_parts_md5(oci_server, oci_files, tmp_path: Path) -> None:
    src, data = _file(tmp_path / "x.zip", 3 * MIB)
    _bucket(oci_server, oci_files, part_size="1MiB").put("x.zip", src)
    blob = oci_server.store.buckets[(NAMESPACE, "artifacts")]["x.zip"]
    md5s = [hashlib.md5(data[i : i + MIB]).digest() for i in range(0, len(data), MIB)]  # noqa: S324
    assert blob.multipart_md5 == multipart_md5(md5s) and blob.multipart_md5.endswith("-3")


def test_a_part_that_keeps_failing_aborts_the_upload(oci_server, oci_files, tmp_path: Path) -> None:
    src, _ = _file(tmp_path / "x.zip", 3 * MIB)
    oci_server.faults.fail("upload_part", status=503, times=None)
    with pytest.raises(OciServiceError) as err:
        _bucket(oci_server, oci_files, part_size="1MiB").put("x.zip", src)
    e = err.value
    assert e.exit_code == EXIT_REMOTE and e.status == 503 and e.code == "ServiceUnavailable"
    assert e.opc_request_id and e.opc_request_id in str(e) and "uploading part" in str(e)
    assert oci_server.calls["abort_multipart_upload"] == 1 and oci_server.store.uploads == {}
    assert oci_server.store.buckets[(NAMESPACE, "artifacts")] == {}


def test_an_interrupted_upload_is_aborted(oci_server, oci_files, tmp_path: Path) -> None:
    src, _ = _file(tmp_path / "x.zip", 6 * MIB)

    def interrupt(n: int, seen: list[int] = []) -> None:  # noqa: B006 - a counter
        seen.append(n)
        if sum(seen) > 2 * MIB:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _bucket(oci_server, oci_files, part_size="1MiB", parallelism=2).put(
            "x.zip", src, progress=interrupt
        )
    assert oci_server.calls["abort_multipart_upload"] == 1 and oci_server.store.uploads == {}
    assert oci_server.store.buckets[(NAMESPACE, "artifacts")] == {}


def test_single_puts_retry_throttling_and_resets(oci_server, oci_files, tmp_path: Path) -> None:
    src, data = _file(tmp_path / "x.zip", 300_000)
    oci_server.faults.fail("put_object", status=429, times=1, retry_after=0)
    oci_server.faults.reset("put_object", times=1, after_bytes=100_000)
    info = _bucket(oci_server, oci_files).put("x.zip", src)
    assert oci_server.statuses("put_object") == [429, 0, 200]
    assert info.sha256 == hashlib.sha256(data).hexdigest()


def test_a_cut_download_resumes_where_it_stopped(oci_server, oci_files, tmp_path: Path) -> None:
    src, data = _file(tmp_path / "x.zip", 3 * MIB + 1)
    bucket = _bucket(oci_server, oci_files)
    bucket.put("x.zip", src)
    oci_server.faults.truncate("get_object", after_bytes=MIB + 7, times=2)
    seen: list[int] = []
    info = bucket.get("x.zip", tmp_path / "out", progress=seen.append)
    assert (tmp_path / "out").read_bytes() == data and info.sha256 == hashlib.sha256(
        data
    ).hexdigest()
    assert sum(seen) == len(data)
    assert oci_server.calls["get_object"] == 3  # the first, then two resumed ranges


def test_a_download_that_keeps_failing_leaves_nothing(
    oci_server, oci_files, tmp_path: Path
) -> None:
    src, _ = _file(tmp_path / "x.zip", 2 * MIB)
    bucket = _bucket(oci_server, oci_files)
    bucket.put("x.zip", src)
    oci_server.faults.truncate("get_object", after_bytes=1000, times=None)
    (tmp_path / "out").mkdir()
    with pytest.raises(RemoteError, match="failed after"):
        bucket.get("x.zip", tmp_path / "out" / "x.zip")
    assert list((tmp_path / "out").iterdir()) == []


def test_uris_open_oci_buckets_with_the_settings_in_force(oci_server, oci_files) -> None:
    s = settings_for(oci_server, oci_files)
    opts = OciOptions(
        config_file=s.config_file,
        data_science_endpoint=s.endpoints["data_science"],
        object_storage_endpoint=s.endpoints["object_storage"],
    )
    with using(opts):
        bucket, key = open_location(f"oci://artifacts@{NAMESPACE}/team/", default_name="rf.zip")
    assert isinstance(bucket, OciBucket) and key == "team/rf.zip"
    assert bucket.uri_for(key) == f"oci://artifacts@{NAMESPACE}/team/rf.zip"
    assert bucket.settings.endpoints["object_storage"] == oci_server.url


def test_a_missing_bucket_is_a_remote_error_with_the_service_code(
    oci_server, oci_files, tmp_path: Path
) -> None:
    bucket = OciBucket("nope", NAMESPACE, settings=settings_for(oci_server, oci_files))
    with pytest.raises(OciServiceError, match=r"HTTP 404 BucketNotFound.*opc-request-id"):
        bucket.put("x.zip", _file(tmp_path / "x", 5)[0])


def test_a_key_the_service_does_not_know_is_refused(
    oci_server, tmp_path: Path, oci_identity
) -> None:
    from tests.oci_server.identity import write_user_files

    stranger = write_user_files(oci_identity, tmp_path / "stranger")
    oci_identity._api_keys.pop(stranger.key_id)  # noqa: SLF001 - the key was never uploaded to IAM
    bucket = OciBucket("artifacts", NAMESPACE, settings=settings_for(oci_server, stranger))
    with pytest.raises(OciServiceError) as err:
        list(bucket.list())
    assert err.value.status == 401 and err.value.code == "NotAuthenticated"
    assert "check the key, profile" in str(err.value)


def test_the_server_checks_signatures_and_body_hashes(oci_server, oci_files) -> None:
    """The SDK's own signer with the test key: the request passes; the same request with
    its body changed after signing, or signed by another key, gets 401."""
    import json

    import oci
    from oci._vendor import requests

    from tests.oci_server.identity import new_key, pem_private

    url = f"{oci_server.url}/n/{NAMESPACE}/b/artifacts/u"
    tenancy, fingerprint = oci_server.identity.tenancy, oci_files.key_id.rsplit("/", 1)[-1]
    good = oci.signer.Signer(tenancy, USER, fingerprint, str(oci_files.key))

    def send(signer: Any, body: dict[str, Any], tamper: bool = False) -> Any:
        req = requests.Request(
            "POST", url, data=json.dumps(body), headers={"content-type": "application/json"}
        ).prepare()
        signer(req)
        if tamper:
            req.body = json.dumps({**body, "object": "other.zip"})
        return requests.Session().send(req)

    assert send(good, {"object": "a.zip"}).status_code == 200
    r = send(good, {"object": "a.zip"}, tamper=True)
    assert (
        r.status_code == 401
        and r.json()["code"] == "NotAuthenticated"
        and r.headers["opc-request-id"]
    )
    other = new_key()
    (oci_files.key.parent / "other.pem").write_bytes(pem_private(other))
    wrong = oci.signer.Signer(tenancy, USER, fingerprint, str(oci_files.key.parent / "other.pem"))
    assert send(wrong, {"object": "a.zip"}).status_code == 401
    assert requests.get(url).status_code == 401  # unsigned


def test_plan_parts_respects_the_part_limit() -> None:
    assert plan_parts(10, MIB) == [(1, 0, 10)]
    assert [p[2] for p in plan_parts(3 * MIB + 1, MIB)] == [MIB, MIB, MIB, 1]
    parts = plan_parts(20_000 * MIB, MIB)
    assert len(parts) == 10_000 and parts[-1][1] + parts[-1][2] == 20_000 * MIB


def test_no_oci_settings_no_bucket(oci_server, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OCI_CONFIG_LOCATION", str(tmp_path / "missing-config"))
    with pytest.raises(UsageError, match=r"no OCI config file at .*missing-config"):
        open_location(f"oci://artifacts@{NAMESPACE}/x.zip")
