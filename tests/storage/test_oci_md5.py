"""``Content-MD5`` on every body sent to Object Storage, checked by the service (the test
server, as the service: 400 on a mismatch), and responses that leave out what an
emulator leaves out: tolerated, said at debug level, never called corruption; what the
API requires (a part's ETag) is an error naming it."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from mdreg.errors import RemoteError
from mdreg.oci.retry import Corrupted
from mdreg.oci.settings import MIB
from mdreg.storage.oci import OciBucket
from mdreg.storage.oci_parts import SourceChanged
from tests.conftest import mdreg_proc
from tests.oci_server.fixtures import NAMESPACE, cli_env, settings_for

pytestmark = pytest.mark.usefixtures("clean_oci_env")

MD5_OPS = ("put_object", "upload_part")


def _bucket(server: Any, files: Any, **options: Any) -> OciBucket:
    options.setdefault("part_size", "1MiB")
    return OciBucket("artifacts", NAMESPACE, settings=settings_for(server, files, **options))


def _file(path: Path, size: int) -> tuple[Path, bytes]:
    data = os.urandom(size)
    path.write_bytes(data)
    return path, data


def _stored(server: Any, key: str) -> bytes:
    blob = server.store.buckets[(NAMESPACE, "artifacts")][key]
    return b"".join(Path(p).read_bytes() for p, _ in blob.segments)


def test_the_server_checks_content_md5_as_the_service(oci_server: Any, oci_files: Any) -> None:
    import oci

    client = _bucket(oci_server, oci_files).client
    wrong = "1B2M2Y8AsgTpgAmY7PhCfg=="  # the MD5 of no bytes
    with pytest.raises(oci.exceptions.ServiceError) as err:
        client.put_object(NAMESPACE, "artifacts", "x", b"hello", content_md5=wrong)
    e = err.value
    assert e.status == 400 and e.code == "InvalidParameter"
    assert e.message == (
        "The computed MD5 of the request body (XUFAKrxLKna5cZ2REBfFkg==) does not match "
        f"the Content-MD5 header ({wrong})"
    )
    assert oci_server.store.buckets[(NAMESPACE, "artifacts")] == {}


@pytest.mark.parametrize("size", [300_000, 3 * MIB + 5])
def test_a_body_damaged_in_flight_is_refused_then_sent_again(
    oci_server: Any, oci_files: Any, tmp_path: Path, size: int
) -> None:
    """One put, or part 2 of a multipart upload, arrives damaged: the service refuses it
    (it came with Content-MD5) and mdreg sends it again; the object is right."""
    src, data = _file(tmp_path / "x.zip", size)
    op = "put_object" if size < MIB else "upload_part"
    oci_server.faults.corrupt(op, part=None if op == "put_object" else 2)
    info = _bucket(oci_server, oci_files).put("x.zip", src)
    assert oci_server.faults.injected[(op, "corrupt")] == 1 and 400 in oci_server.statuses(op)
    assert _stored(oci_server, "x.zip") == data
    assert info.sha256 == hashlib.sha256(data).hexdigest()


def test_a_file_that_changes_while_uploaded_fails_at_once(
    oci_server: Any, oci_files: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service refuses part 1's MD5, and the file's bytes no longer hash as they did:
    the source changed, which no retry fixes."""
    src, _ = _file(tmp_path / "x.zip", 3 * MIB)
    monkeypatch.setattr("mdreg.storage.oci_multipart.slice_md5", lambda *a: b"\0" * 16)
    oci_server.faults.corrupt("upload_part", part=1)
    with pytest.raises(SourceChanged, match=r"part 1 of .* changed while it was being uploaded"):
        _bucket(oci_server, oci_files, parallelism=1).put("x.zip", src)
    assert oci_server.statuses("upload_part").count(400) == 1
    assert oci_server.calls["abort_multipart_upload"] == 1 and oci_server.store.uploads == {}


@pytest.mark.parametrize("size", [300_000, 3 * MIB + 5])
def test_an_emulator_without_md5_headers_is_not_corruption(
    oci_server: Any, oci_files: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture, size: int
) -> None:
    """No opc-content-md5 on puts and parts, no opc-multipart-md5 on the commit: the
    upload succeeds, and the debug log says what was not compared."""
    for op in MD5_OPS:
        oci_server.faults.omit_headers(op, ["opc-content-md5"])
    oci_server.faults.omit_headers("commit_multipart_upload", ["opc-multipart-md5"])
    src, data = _file(tmp_path / "x.zip", size)
    with caplog.at_level(logging.DEBUG, logger="mdreg"):
        info = _bucket(oci_server, oci_files).put("x.zip", src)
    assert info.sha256 == hashlib.sha256(data).hexdigest() and _stored(oci_server, "x.zip") == data
    assert oci_server.calls["put_object"] + oci_server.calls["upload_part"] == (
        1 if size < MIB else 4
    )  # nothing retried
    text = caplog.text
    assert "the response has no opc-content-md5 header" in text
    assert "which the service checks itself" in text
    if size > MIB:
        assert "no opc-multipart-md5 header: not compared with" in text


def test_a_service_md5_that_differs_is_sent_again(
    oci_server: Any, oci_files: Any, tmp_path: Path
) -> None:
    """A service that did not check Content-MD5 but reports another MD5 (say, a proxy
    in between): the put is sent again."""
    oci_server.faults.set_headers("put_object", {"opc-content-md5": "AAAAAAAAAAAAAAAAAAAAAA=="})
    bucket = _bucket(oci_server, oci_files)
    src, data = _file(tmp_path / "x.zip", 1000)
    bucket.put("x.zip", src)
    assert oci_server.statuses("put_object") == [200, 200] and _stored(oci_server, "x.zip") == data


def test_corrupted_is_what_a_differing_md5_raises() -> None:
    from mdreg.oci.responses import check_content_md5

    with pytest.raises(Corrupted, match="computed MD5 b, a was sent"):
        check_content_md5({"opc-content-md5": "b"}, "a", "x")
    check_content_md5({"opc-content-md5": "a"}, "a", "x")
    check_content_md5({}, "a", "x")


def test_a_part_without_an_etag_cannot_be_committed(
    oci_server: Any, oci_files: Any, tmp_path: Path
) -> None:
    oci_server.faults.omit_headers("upload_part", ["etag"])
    src, _ = _file(tmp_path / "x.zip", 3 * MIB)
    with pytest.raises(RemoteError, match=r"no ETag header, which committing the upload needs"):
        _bucket(oci_server, oci_files).put("x.zip", src)
    assert oci_server.calls["abort_multipart_upload"] == 1 and oci_server.store.uploads == {}


def test_a_put_without_an_etag_is_stored_but_its_sha256_not_remembered(
    oci_server: Any, oci_files: Any, tmp_path: Path
) -> None:
    oci_server.faults.omit_headers("put_object", ["etag"])
    src, data = _file(tmp_path / "x.zip", 1000)
    bucket = _bucket(oci_server, oci_files)
    info = bucket.put("x.zip", src)
    assert info.etag is None and info.sha256 == hashlib.sha256(data).hexdigest()
    head = bucket.head("x.zip")
    assert head is not None and head.size == 1000 and head.sha256 is None


def test_get_and_head_without_content_length(
    oci_server: Any, oci_files: Any, tmp_path: Path
) -> None:
    """An emulator that sends no Content-Length: a GET reply is read to the end of the
    connection; a HEAD reply's size is taken from ListObjects."""
    src, data = _file(tmp_path / "x.zip", 2 * MIB + 3)
    bucket = _bucket(oci_server, oci_files)
    bucket.put("x.zip", src)
    oci_server.faults.omit_headers("get_object", ["content-length"])
    oci_server.faults.omit_headers("head_object", ["content-length"])
    info = bucket.get("x.zip", tmp_path / "back.zip")
    assert (tmp_path / "back.zip").read_bytes() == data and info.size == len(data)
    assert bucket.head("x.zip").size == len(data)
    assert oci_server.calls["list_objects"] == 1


def test_debug_output_says_what_the_emulator_left_out(
    oci_server: Any, oci_files: Any, tmp_path: Path
) -> None:
    """``mdreg --debug upload`` to an emulator that sends no opc-content-md5: it works, and
    the debug lines on stderr say so; without --debug, stderr has none of it."""
    import zipfile

    oci_server.faults.omit_headers("put_object", ["opc-content-md5"])
    src = tmp_path / "x.zip"
    with zipfile.ZipFile(src, "w") as zf:
        zf.writestr("score.py", "")
    env = cli_env(oci_server, oci_files, tmp_path / "mdreg-home")
    uri = f"oci://artifacts@{NAMESPACE}/x.zip"
    r = mdreg_proc("--debug", "upload", src, uri, env=env, timeout=120)
    assert r.code == 0, r.err
    assert "debug: mdreg.oci:" in r.err and "no opc-content-md5 header" in r.err
    r = mdreg_proc("upload", src, uri, env=env, timeout=120)
    assert r.code == 0 and "debug" not in r.err


def test_the_conda_pack_check_uses_the_endpoint_override(
    oci_server: Any, oci_files: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mdreg.checks.online import conda_pack_exists

    for name, value in cli_env(oci_server, oci_files, tmp_path / "home").items():
        monkeypatch.setenv(name, value)
    _bucket(oci_server, oci_files).put("packs/p1", _file(tmp_path / "p", 10)[0])
    assert conda_pack_exists(f"oci://artifacts@{NAMESPACE}/packs/p1").status == "passed"
    missing = conda_pack_exists(f"oci://artifacts@{NAMESPACE}/packs/p2")
    assert missing.status == "failed" and "does not exist" in missing.message
    assert oci_server.calls["head_object"] == 2
