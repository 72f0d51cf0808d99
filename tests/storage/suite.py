"""The bucket test suite every backend passes.

A backend adopts it in a few lines::

    class TestMyBucket(BucketSuite):
        @pytest.fixture
        def bucket(self, tmp_path):
            return MyBucket(...)          # an empty bucket (or an empty prefix of one)
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from mdreg.errors import InputError
from mdreg.storage.base import Bucket, ObjectInfo, ObjectNotFoundError


def _file(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


class BucketSuite:
    @pytest.fixture
    def bucket(self) -> Bucket:
        raise NotImplementedError("a backend's test class overrides the bucket fixture")

    def test_put_then_get_gives_the_same_bytes(self, bucket: Bucket, tmp_path: Path) -> None:
        data = os.urandom(3 * 2**20 + 17)  # several chunks and a tail
        src = _file(tmp_path / "src.zip", data)
        put = bucket.put("models/a.zip", src)
        assert put.key == "models/a.zip"
        assert put.size == len(data)
        assert put.sha256 == hashlib.sha256(data).hexdigest()
        got = bucket.get("models/a.zip", tmp_path / "out.zip")
        assert (tmp_path / "out.zip").read_bytes() == data
        assert got.sha256 == put.sha256 and got.size == len(data)

    def test_progress_is_fed_every_byte_both_ways(self, bucket: Bucket, tmp_path: Path) -> None:
        data = os.urandom(2 * 2**20 + 5)
        src = _file(tmp_path / "src.zip", data)
        up: list[int] = []
        down: list[int] = []
        bucket.put("p.zip", src, progress=up.append)
        bucket.get("p.zip", tmp_path / "out.zip", progress=down.append)
        assert sum(up) == len(data) and sum(down) == len(data)
        assert len(up) > 1  # streamed in chunks, not in one read

    def test_an_empty_object(self, bucket: Bucket, tmp_path: Path) -> None:
        bucket.put("empty.zip", _file(tmp_path / "e", b""))
        assert bucket.head("empty.zip").size == 0
        bucket.get("empty.zip", tmp_path / "out")
        assert (tmp_path / "out").read_bytes() == b""

    def test_put_replaces_an_object(self, bucket: Bucket, tmp_path: Path) -> None:
        bucket.put("k.zip", _file(tmp_path / "1", b"first"))
        bucket.put("k.zip", _file(tmp_path / "2", b"second!"))
        assert bucket.head("k.zip").size == 7
        bucket.get("k.zip", tmp_path / "out")
        assert (tmp_path / "out").read_bytes() == b"second!"

    def test_get_replaces_an_existing_local_file(self, bucket: Bucket, tmp_path: Path) -> None:
        bucket.put("k.zip", _file(tmp_path / "1", b"new"))
        out = _file(tmp_path / "out", b"old content, longer")
        bucket.get("k.zip", out)
        assert out.read_bytes() == b"new"

    def test_head(self, bucket: Bucket, tmp_path: Path) -> None:
        assert bucket.head("nothing.zip") is None
        bucket.put("dir/x.zip", _file(tmp_path / "x", b"12345"))
        info = bucket.head("dir/x.zip")
        assert isinstance(info, ObjectInfo)
        assert (info.key, info.size) == ("dir/x.zip", 5)
        assert bucket.head("dir") is None  # a prefix is not an object

    def test_get_a_missing_object(self, bucket: Bucket, tmp_path: Path) -> None:
        out = _file(tmp_path / "out", b"keep me")
        with pytest.raises(ObjectNotFoundError, match="no such object"):
            bucket.get("missing.zip", out)
        assert out.read_bytes() == b"keep me"
        assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temp file left

    def test_delete(self, bucket: Bucket, tmp_path: Path) -> None:
        bucket.put("a/b.zip", _file(tmp_path / "x", b"x"))
        bucket.delete("a/b.zip")
        assert bucket.head("a/b.zip") is None
        assert list(bucket.list()) == []
        with pytest.raises(ObjectNotFoundError):
            bucket.delete("a/b.zip")

    def test_list_by_prefix_sorted(self, bucket: Bucket, tmp_path: Path) -> None:
        src = _file(tmp_path / "x", b"abc")
        for key in ("m/2.zip", "m/1.zip", "n/1.zip", "m/sub/3.zip", "mx.zip"):
            bucket.put(key, src)
        assert [o.key for o in bucket.list()] == [
            "m/1.zip",
            "m/2.zip",
            "m/sub/3.zip",
            "mx.zip",
            "n/1.zip",
        ]
        assert [o.key for o in bucket.list("m/")] == ["m/1.zip", "m/2.zip", "m/sub/3.zip"]
        assert [o.key for o in bucket.list("m")] == ["m/1.zip", "m/2.zip", "m/sub/3.zip", "mx.zip"]
        assert all(o.size == 3 for o in bucket.list())
        assert list(bucket.list("zzz")) == []

    @pytest.mark.parametrize(
        "key",
        [
            "",
            "/abs.zip",
            "../up.zip",
            "a/../b.zip",
            "a//b.zip",
            "./a.zip",
            "a\\b.zip",
            "nul\x00.zip",
        ],
    )
    def test_bad_keys_are_refused(self, bucket: Bucket, tmp_path: Path, key: str) -> None:
        src = _file(tmp_path / "x", b"x")
        with pytest.raises(InputError, match="object key"):
            bucket.put(key, src)
        with pytest.raises(InputError, match="object key"):
            bucket.get(key, tmp_path / "out")
        assert list(bucket.list()) == []

    def test_uri_for_names_the_object(self, bucket: Bucket) -> None:
        uri = bucket.uri_for("a/b.zip")
        assert uri.startswith(bucket.scheme + "://") and uri.endswith("/a/b.zip")
