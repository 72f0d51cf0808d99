"""An artifact folder zipped straight into Object Storage (``OciBucket.put_stream`` fed by
``write_zip``): byte for byte the zip ``zip_artifact`` writes, no file written, memory
bounded by the part buffers, and a failure anywhere aborts the multipart upload."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import struct
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mdreg._files import no_progress
from mdreg.artifact.manifest import write_manifest
from mdreg.artifact.zipping import plan_zip, write_zip, zip_artifact
from mdreg.errors import ArtifactError, RemoteError
from mdreg.flows._bucket import stream_zip
from mdreg.flows.upload import upload_artifact
from mdreg.oci.errors import OciServiceError
from mdreg.oci.settings import MIB, OciOptions, using
from mdreg.storage.oci import OciBucket
from mdreg.storage.oci_stream import StreamUpload
from tests.oci_server.fixtures import NAMESPACE, settings_for

pytestmark = pytest.mark.usefixtures("clean_oci_env")

SCORE_PY = "def load_model():\n    return 1\n\n\ndef predict(data, model=None):\n    return data\n"


def _artifact(folder: Path, *, weights_mib: float = 5, pickle_mib: float = 3) -> Path:
    """score.py, runtime.yaml, a manifest, a STORED weights file and a DEFLATED pickle
    (random bytes: its deflated entry is as large), each larger than 1 MiB parts, the
    metadata added after the manifest (hashed at zip time) and a few small files."""
    art = folder / "art"
    (art / ".mdreg").mkdir(parents=True)
    (art / "score.py").write_text(SCORE_PY)
    (art / "runtime.yaml").write_text("MODEL_ARTIFACT_VERSION: '3.0'\n")
    (art / "weights.bin").write_bytes(os.urandom(int(weights_mib * MIB) + 123))
    (art / "model.pkl").write_bytes(os.urandom(int(pickle_mib * MIB) + 7))
    (art / "vocab.json").write_text(json.dumps({f"w{i}": i for i in range(20_000)}))
    write_manifest(art, "test")
    (art / ".mdreg" / "metadata.json").write_text('{"framework": "test"}')
    return art


def _bucket(server: Any, files: Any, **options: Any) -> OciBucket:
    options.setdefault("part_size", "1MiB")
    return OciBucket("artifacts", NAMESPACE, settings=settings_for(server, files, **options))


def _stored(server: Any, key: str) -> bytes:
    blob = server.store.buckets[(NAMESPACE, "artifacts")][key]
    return b"".join(Path(p).read_bytes() for p, _ in blob.segments)


@pytest.mark.parametrize("parallelism", [1, 3])
def test_the_streamed_zip_is_the_zip_byte_for_byte(
    oci_server: Any,
    oci_files: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    parallelism: int,
) -> None:
    art = _artifact(tmp_path)
    ref = zip_artifact(art, tmp_path / "ref.zip")
    bucket = _bucket(oci_server, oci_files, parallelism=parallelism)

    def no_files(*a: Any, **k: Any) -> Any:
        raise AssertionError("the streamed upload made a temp file")

    monkeypatch.setattr(tempfile, "mkdtemp", no_files)
    monkeypatch.setattr(tempfile, "mkstemp", no_files)
    monkeypatch.setattr("mdreg.artifact.zipping.zip_artifact", no_files)
    info, warnings = stream_zip(bucket, "team/art.zip", art, no_progress)
    assert _stored(oci_server, "team/art.zip") == (tmp_path / "ref.zip").read_bytes()
    assert (info.size, info.sha256) == (ref.size, ref.sha256) and warnings == ref.warnings
    assert bucket.head("team/art.zip").sha256 == ref.sha256  # remembered for the catalog
    assert oci_server.calls["create_multipart_upload"] == 1 and oci_server.store.uploads == {}
    parts = oci_server.store.buckets[(NAMESPACE, "artifacts")]["team/art.zip"].segments
    assert oci_server.calls["upload_part"] == len(parts) >= 9


def test_entries_larger_than_the_buffers_are_hashed_from_a_replay(
    oci_server: Any, oci_files: Any, tmp_path: Path
) -> None:
    """With two 1 MiB buffers, the 5 MiB stored and 3 MiB deflated entries cannot be kept
    for the sha256: both are read (and deflated) again; a small artifact is not."""
    ref = zip_artifact(_artifact(tmp_path), tmp_path / "ref.zip")
    up = _stream(oci_server, oci_files, tmp_path / "art", parallelism=1)
    assert up.replayed == 2 and up.sha256 == ref.sha256
    small = _artifact(tmp_path / "small", weights_mib=0.2, pickle_mib=0.1)
    up = _stream(oci_server, oci_files, small, parallelism=4, key="small.zip")
    assert up.replayed == 0
    assert up.sha256 == zip_artifact(small, tmp_path / "small.zip").sha256


class _Stream:
    def __init__(self, upload: StreamUpload, sha256: str) -> None:
        self.upload, self.sha256, self.replayed = upload, sha256, upload.replayed


def _stream(server: Any, files: Any, art: Path, *, key: str = "x.zip", **options: Any) -> _Stream:
    bucket = _bucket(server, files, **options)
    up = StreamUpload(bucket._target(key))  # noqa: SLF001 - the sink itself, to look inside
    write_zip(plan_zip(art), up)
    return _Stream(up, up.finish().sha256)


@pytest.mark.parametrize("parallelism", [1, 2, 4])
def test_memory_stays_within_parallel_times_part_size(
    oci_server: Any, oci_files: Any, tmp_path: Path, parallelism: int
) -> None:
    """Slow part uploads make the writer wait for buffers; it never holds more than
    ``parallelism`` of them (two when one part at a time: one may hold a header)."""
    oci_server.faults.slow("upload_part", seconds=0.05)
    art = _artifact(tmp_path, weights_mib=8, pickle_mib=1)
    s = _stream(oci_server, oci_files, art, parallelism=parallelism)
    bound = max(2, parallelism)
    assert s.upload.buffers.made <= bound and s.upload.buffers.peak_in_use <= bound
    assert s.upload.buffers.made * s.upload.part_size <= bound * MIB
    assert s.sha256 == zip_artifact(art, tmp_path / "ref.zip").sha256


def test_a_small_artifact_goes_up_in_one_put(
    oci_server: Any, oci_files: Any, tmp_path: Path
) -> None:
    """...and its buffer grows to the zip's size, not to a part's."""
    art = _artifact(tmp_path, weights_mib=0.1, pickle_mib=0.1)
    s = _stream(oci_server, oci_files, art, key="one.zip", part_size="8MiB")
    assert oci_server.calls["put_object"] == 1 and oci_server.calls["upload_part"] == 0
    assert s.sha256 == zip_artifact(art, tmp_path / "ref.zip").sha256
    assert s.upload.buffers.made == 1
    assert len(s.upload._parts[0].buf) == s.upload.size < MIB  # noqa: SLF001


def test_a_part_that_keeps_failing_aborts_the_stream(
    oci_server: Any, oci_files: Any, tmp_path: Path
) -> None:
    oci_server.faults.fail("upload_part", status=503, times=None)
    with pytest.raises(OciServiceError, match=r"uploading part \d+ of .*HTTP 503"):
        stream_zip(_bucket(oci_server, oci_files), "x.zip", _artifact(tmp_path), no_progress)
    assert oci_server.calls["abort_multipart_upload"] == 1 and oci_server.store.uploads == {}
    assert oci_server.store.buckets[(NAMESPACE, "artifacts")] == {}


def test_a_writer_that_fails_mid_stream_aborts_the_upload(
    oci_server: Any, oci_files: Any, tmp_path: Path
) -> None:
    """The weights file changes under the zip writer after some parts went up."""
    art = _artifact(tmp_path)
    plan = plan_zip(art)
    written = [0]

    def grow(n: int) -> None:
        written[0] += n
        if written[0] > 2 * MIB:
            with open(art / "weights.bin", "ab") as f:
                f.write(b"more")

    bucket = _bucket(oci_server, oci_files, parallelism=2)
    with pytest.raises(ArtifactError, match="changed while it was being zipped"):
        bucket.put_stream("x.zip", lambda sink: write_zip(plan, sink, progress=grow))
    assert oci_server.calls["upload_part"] >= 1
    assert oci_server.calls["abort_multipart_upload"] == 1 and oci_server.store.uploads == {}
    assert oci_server.store.buckets[(NAMESPACE, "artifacts")] == {}


def test_an_interrupt_mid_stream_aborts_the_upload(
    oci_server: Any, oci_files: Any, tmp_path: Path
) -> None:
    def interrupt(n: int, seen: list[int] = []) -> None:  # noqa: B006 - a counter
        seen.append(n)
        if sum(seen) > 3 * MIB:
            raise KeyboardInterrupt

    plan = plan_zip(_artifact(tmp_path))
    bucket = _bucket(oci_server, oci_files, parallelism=2)
    with pytest.raises(KeyboardInterrupt):
        bucket.put_stream("x.zip", lambda sink: write_zip(plan, sink, progress=interrupt))
    assert oci_server.calls["abort_multipart_upload"] == 1 and oci_server.store.uploads == {}


def test_a_part_damaged_in_flight_is_refused_and_sent_again(
    oci_server: Any, oci_files: Any, tmp_path: Path
) -> None:
    art = _artifact(tmp_path)
    oci_server.faults.corrupt("upload_part", part=2)
    info, _ = stream_zip(_bucket(oci_server, oci_files), "x.zip", art, no_progress)
    assert oci_server.faults.injected[("upload_part", "corrupt")] == 1
    assert 400 in oci_server.statuses("upload_part")
    assert _stored(oci_server, "x.zip") == zip_artifact(art, tmp_path / "ref.zip").path.read_bytes()
    assert info.sha256 == hashlib.sha256(_stored(oci_server, "x.zip")).hexdigest()


def test_a_part_damaged_every_time_fails_clearly(
    oci_server: Any, oci_files: Any, tmp_path: Path
) -> None:
    oci_server.faults.corrupt("upload_part", part=2, times=None)
    with pytest.raises(RemoteError) as err:
        stream_zip(_bucket(oci_server, oci_files), "x.zip", _artifact(tmp_path), no_progress)
    msg = str(err.value)
    assert "part 2 of" in msg and "received other bytes than were sent" in msg
    assert "does not match the Content-MD5 header" in msg and "5 times" in msg
    assert oci_server.statuses("upload_part").count(400) == 5
    assert oci_server.store.uploads == {}


def test_upload_of_a_folder_streams_into_oci(
    oci_server: Any, oci_files: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``mdreg upload``'s flow: the folder is never zipped to a file for an oci:// URI."""
    monkeypatch.setenv("MDREG_OCI_MIN_PART_SIZE", str(oci_server.min_part_size))  # 1 MiB parts
    art = _artifact(tmp_path)
    s = settings_for(oci_server, oci_files)
    opts = OciOptions(
        config_file=s.config_file,
        object_storage_endpoint=oci_server.url,
        part_size="1MiB",
        parallelism=2,
    )
    with using(opts):
        result = upload_artifact(art, f"oci://artifacts@{NAMESPACE}/team/")
    ref = zip_artifact(art, tmp_path / "ref.zip")
    assert (result.key, result.size, result.sha256) == ("team/art.zip", ref.size, ref.sha256)
    assert oci_server.calls["upload_part"] >= 8


def _settle(art: Path, filler: Path, where: Callable[[bytes], int], target: int) -> None:
    """Resize ``filler`` (random bytes, STORED) until ``where(zip bytes)`` is ``target``:
    the manifest lists its size, so this takes a few rounds."""
    for _ in range(4):
        write_manifest(art, "test")
        at = where(zip_artifact(art, art.parent / "probe.zip").path.read_bytes())
        if at == target:
            return
        filler.write_bytes(os.urandom(filler.stat().st_size + target - at))
    raise AssertionError(f"could not move {filler.name} to {target}")


def _header(data: bytes, name: str) -> tuple[int, int]:
    """Where ``name``'s local header starts and its data ends in the zip ``data``."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        info = z.getinfo(name)
    start = info.header_offset
    n, m = struct.unpack("<HH", data[start + 26 : start + 30])
    return start, start + 30 + n + m + info.compress_size


def _straddling_artifact(folder: Path) -> Path:
    """Many small entries, and STORED ones a part and 20 bytes long (header included), the
    first's header starting 20 bytes before the first 1 MiB boundary: with parts of
    exactly 1 MiB, each next one's header straddles the boundary a part after its
    predecessor's header ends."""
    art = _artifact(folder, weights_mib=2.5, pickle_mib=1.5)
    rnd = random.Random(19)
    (art / "small").mkdir()
    for i in range(150):
        (art / "small" / f"s{i:03}.bin").write_bytes(os.urandom(rnd.randint(0, 24_000)))
    (art / "big").mkdir()
    for i in range(8):
        (art / "big" / f"b{i}.bin").write_bytes(os.urandom(MIB + 20 - 30 - len("big/b0.bin")))
    (art / "big" / "a.bin").write_bytes(os.urandom(100_000))
    _settle(art, art / "big" / "a.bin", lambda z: _header(z, "big/b0.bin")[0], MIB - 20)
    return art


def _parts(server: Any, key: str = "x.zip") -> list[int]:
    return [size for _, size in server.store.buckets[(NAMESPACE, "artifacts")][key].segments]


@pytest.mark.parametrize("parallelism", [1, 3])
def test_a_header_across_a_boundary_grows_a_part_short_of_the_floor(
    oci_server: Any, oci_files: Any, tmp_path: Path, parallelism: int
) -> None:
    """A server that refuses a part but the last under 1 MiB (as the service does under
    10 MiB), and 1 MiB parts: a part 20 bytes short of full cannot be sealed before a
    header, so it takes the header whole; the object is the zip, byte for byte."""
    oci_server.min_part_size = MIB  # and settings_for's min_part_size
    art = _straddling_artifact(tmp_path)
    s = _stream(oci_server, oci_files, art, parallelism=parallelism)
    ref = zip_artifact(art, tmp_path / "ref.zip")
    assert _stored(oci_server, "x.zip") == ref.path.read_bytes() and s.sha256 == ref.sha256
    parts = _parts(oci_server)
    assert min(parts[:-1]) >= MIB and parts.count(MIB + 20) >= 8  # 8 headers straddled


def test_the_last_bytes_of_a_replayed_entry_wait_for_the_floor(
    oci_server: Any, oci_files: Any, tmp_path: Path
) -> None:
    """A 2.6 MiB entry, larger than the two buffers of one part at a time, ends 600 KiB
    into a part: half full, but under the floor, so that part is not sealed early (while
    the entry is replayed for its sha256) but goes on with the central directory."""
    oci_server.min_part_size = 768 * 1024
    art = _artifact(tmp_path, weights_mib=2.6, pickle_mib=0.1)
    _settle(art, art / "weights.bin", lambda z: _header(z, "weights.bin")[1], 2 * MIB + 600 * 1024)
    s = _stream(oci_server, oci_files, art, parallelism=1)
    ref = zip_artifact(art, tmp_path / "ref.zip")
    assert _stored(oci_server, "x.zip") == ref.path.read_bytes() and s.sha256 == ref.sha256
    assert s.replayed >= 1 and _parts(oci_server)[:-1] == [MIB, MIB]


def test_a_part_under_the_servers_floor_fails_the_commit_and_aborts(
    oci_server: Any, oci_files: Any, tmp_path: Path
) -> None:
    """An uploader told a lower floor than the server's (as mdreg was, in effect, before it
    knew the service's): a part sealed before a straddling header is refused at commit,
    and the upload is aborted."""
    oci_server.min_part_size = MIB
    art = _straddling_artifact(tmp_path)
    bucket = _bucket(oci_server, oci_files, environ={"MDREG_OCI_MIN_PART_SIZE": "512KiB"})
    with pytest.raises(OciServiceError, match=r"HTTP 400.*every part but the last must be"):
        stream_zip(bucket, "x.zip", art, no_progress)
    assert oci_server.calls["abort_multipart_upload"] == 1 and oci_server.store.uploads == {}
    assert oci_server.store.buckets[(NAMESPACE, "artifacts")] == {}
