"""``file://`` buckets: the shared suite, plus what only a folder can show."""

from __future__ import annotations

from pathlib import Path

import pytest

from mdreg.errors import InputError, UsageError
from mdreg.storage import open_bucket, open_location, parse_uri
from mdreg.storage.file import FileBucket
from tests.storage.suite import BucketSuite


class TestFileBucket(BucketSuite):
    @pytest.fixture
    def bucket(self, tmp_path: Path) -> FileBucket:
        return FileBucket(tmp_path / "bucket")


def test_objects_are_plain_files_in_the_folder(tmp_path: Path) -> None:
    bucket = FileBucket(tmp_path / "b")
    (tmp_path / "src").write_bytes(b"zip bytes")
    bucket.put("models/m.zip", tmp_path / "src")
    assert (tmp_path / "b/models/m.zip").read_bytes() == b"zip bytes"
    assert bucket.uri_for("models/m.zip") == (tmp_path / "b/models/m.zip").as_uri()


def test_temp_files_of_a_put_in_progress_are_not_listed(tmp_path: Path) -> None:
    bucket = FileBucket(tmp_path / "b")
    (tmp_path / "b").mkdir()
    (tmp_path / "b/.m.zip.123-abc.partial").write_bytes(b"half")
    assert list(bucket.list()) == []


def test_a_failed_put_leaves_no_object_and_no_temp(tmp_path: Path) -> None:
    bucket = FileBucket(tmp_path / "b")
    (tmp_path / "src").write_bytes(b"x" * 100)
    (tmp_path / "b").mkdir()
    (tmp_path / "b/m.zip").mkdir()  # a folder where the object should go
    with pytest.raises(InputError, match="a file and a folder would share a name"):
        bucket.put("m.zip", tmp_path / "src")
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["m.zip"]


def test_put_from_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        FileBucket(tmp_path / "b").put("m.zip", tmp_path / "nope")


def test_a_relative_root_is_refused() -> None:
    with pytest.raises(InputError, match="absolute"):
        FileBucket("relative/dir")


# -- URIs -------------------------------------------------------------------------------


def test_file_uri_of_a_zip_is_folder_plus_key(tmp_path: Path) -> None:
    uri = (tmp_path / "b" / "m.zip").as_uri()
    parsed = parse_uri(uri)
    assert (parsed.scheme, parsed.bucket, parsed.path) == ("file", str(tmp_path / "b"), "m.zip")
    bucket, key = open_location(uri)
    assert isinstance(bucket, FileBucket) and bucket.root == tmp_path / "b" and key == "m.zip"


def test_file_uri_of_a_folder_takes_the_default_name(tmp_path: Path) -> None:
    bucket, key = open_location((tmp_path / "b").as_uri() + "/", default_name="art.zip")
    assert bucket.root == tmp_path / "b" and key == "art.zip"
    with pytest.raises(InputError, match=r"give the URI of a .zip object"):
        open_location((tmp_path / "b").as_uri())


def test_oci_uri_parses_and_needs_credentials() -> None:
    parsed = parse_uri("oci://models@tenancyns/team/rf.zip")
    assert (parsed.scheme, parsed.bucket, parsed.namespace, parsed.path) == (
        "oci",
        "models",
        "tenancyns",
        "team/rf.zip",
    )
    assert str(parsed) == "oci://models@tenancyns/team/rf.zip"
    assert parse_uri("oci://models@ns/prefix/").key("a.zip") == "prefix/a.zip"
    with pytest.raises(UsageError, match="no OCI config file at"):
        open_bucket("oci://models@tenancyns/team/")


@pytest.mark.parametrize(
    "uri, why",
    [
        ("s3://bucket/key.zip", "unsupported scheme"),
        ("/plain/path.zip", "not a bucket URI"),
        ("file://host/path.zip", "local absolute path"),
        ("file:///a/../b.zip", "'..'"),
        ("oci://bucket/prefix", "oci://bucket@namespace"),
        ("oci://@ns/prefix", "oci://bucket@namespace"),
    ],
)
def test_bad_uris_say_what_is_expected(uri: str, why: str) -> None:
    with pytest.raises(InputError, match="^.*" + __import__("re").escape(why)):
        parse_uri(uri)


def test_file_uri_with_escapes(tmp_path: Path) -> None:
    folder = tmp_path / "with space"
    bucket, key = open_location(folder.as_uri() + "/x.zip")
    assert bucket.root == folder and key == "x.zip"
