"""Zipping artifacts reproducibly and in constant memory; unzipping hostile zips safely."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import pickle
import shutil
import stat
import struct
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import pytest

from mdreg.artifact.ignore import DEFAULT_MODEL_IGNORE, IgnoreRules
from mdreg.artifact.shipped import ALWAYS_KEEP, compression_for, iter_artifact_files
from mdreg.artifact.unzipping import ExtractLimits, artifact_root_in_zip, safe_extract
from mdreg.artifact.zipping import zip_artifact
from mdreg.errors import ArtifactError, DestinationExistsError, InputError

PK = b"PK\x03\x04"


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


@pytest.fixture
def art(tmp_path: Path) -> Path:
    """An artifact folder with a model of each storage kind and some clutter."""
    root = tmp_path / "art"
    write(
        root / "score.py",
        "def load_model():\n    return 1\n\n\ndef predict(data, model=None):\n    return data\n",
    )
    write(root / "runtime.yaml", "MODEL_ARTIFACT_VERSION: '3.0'\n")
    write(root / "input_schema.json", json.dumps({"schema": [], "version": "1.1"}))
    write(root / ".model-ignore", DEFAULT_MODEL_IGNORE + "*.csv\n!keep.csv\n")
    write(root / "model.txt", "tree\nsplit_feature=0 1 2\n" * 20_000)  # LightGBM-like text
    write(root / "weights.pt", PK + os.urandom(50_000))  # torch zip container
    write(root / "model.joblib", gzip.compress(pickle.dumps(list(range(10_000)))))
    write(root / "data/keep.csv", "a,b\n1,2\n")
    write(root / "data/drop.csv", "a,b\n3,4\n")
    write(root / "variables/variables.data-00000-of-00001", b"\x00\x01" * (1 << 20))
    write(root / ".env", "SECRET=1\n")
    write(root / "__pycache__/score.cpython-311.pyc", b"\x00pyc")
    write(root / "logs/train.log", "epoch 1\n")
    write(root / "test_json_output.json", "{}")
    return root


def names(zip_path: Path) -> list[str]:
    with zipfile.ZipFile(zip_path) as zf:
        return zf.namelist()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial" in p.name)


# --- which files --------------------------------------------------------------------------


def test_zip_holds_what_the_rules_keep(art: Path, tmp_path: Path) -> None:
    result = zip_artifact(art, tmp_path / "a.zip")
    expected = [
        ".model-ignore",
        "data/keep.csv",
        "input_schema.json",
        "model.joblib",
        "model.txt",
        "runtime.yaml",
        "score.py",
        "variables/variables.data-00000-of-00001",
        "weights.pt",
    ]
    assert names(tmp_path / "a.zip") == expected
    assert result.files == expected
    assert result.skipped == [
        ".env",
        "__pycache__/",
        "data/drop.csv",
        "logs/",
        "test_json_output.json",
    ]


def test_score_runtime_and_manifest_files_are_kept_whatever_the_patterns(
    art: Path, tmp_path: Path
) -> None:
    write(art / ".model-ignore", "*.py\n*.yaml\n*.log\n*.json\n")
    manifest = {
        "version": 1,
        "generated_by": "test",
        "generated_at": "now",
        "files": {"logs/train.log": {"sha256": "x", "size": 8}},
    }
    write(art / "model_artifact_manifest.json", json.dumps(manifest))
    zip_artifact(art, tmp_path / "a.zip")
    got = names(tmp_path / "a.zip")
    for kept in (*ALWAYS_KEEP, "logs/train.log", "model_artifact_manifest.json"):
        assert kept in got
    assert "input_schema.json" not in got


def test_test_json_output_never_ships_even_when_asked_for(art: Path, tmp_path: Path) -> None:
    write(art / ".model-ignore", "!test_json_output.json\n")
    write(art / "sub/test_json_output.json", "{}")
    manifest = {"version": 1, "files": {"test_json_output.json": {"sha256": "x", "size": 2}}}
    write(art / "model_artifact_manifest.json", json.dumps(manifest))
    got = names(zip_artifact(art, tmp_path / "a.zip").path)
    assert not [n for n in got if n.endswith("test_json_output.json")]


def test_ignored_folder_is_pruned_but_kept_file_inside_survives(tmp_path: Path) -> None:
    root = tmp_path / "art"
    write(root / "build/keep.bin", b"k")
    write(root / "build/other.bin", b"o")
    rules = IgnoreRules(["build/"])
    included, skipped = iter_artifact_files(root, rules, {"build/keep.bin"})
    assert included == ["build/keep.bin"]
    assert skipped == ["build/other.bin"]
    included, skipped = iter_artifact_files(root, rules, set())
    assert (included, skipped) == ([], ["build/"])


def test_malformed_manifest_is_an_artifact_error(art: Path, tmp_path: Path) -> None:
    write(art / "model_artifact_manifest.json", "{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        zip_artifact(art, tmp_path / "a.zip")
    assert not (tmp_path / "a.zip").exists()


# --- links and special files ----------------------------------------------------------------


def test_symlink_out_of_the_artifact_is_refused(art: Path, tmp_path: Path) -> None:
    secret = write(tmp_path / "outside.txt", "secret")
    (art / "model2.bin").symlink_to(secret)
    with pytest.raises(ArtifactError, match=r"model2\.bin is a symlink to .*outside the artifact"):
        zip_artifact(art, tmp_path / "a.zip")
    assert not (tmp_path / "a.zip").exists()
    assert leftovers(tmp_path) == []


def test_symlink_through_a_relative_path_out_is_refused(art: Path, tmp_path: Path) -> None:
    write(tmp_path / "outside.txt", "secret")
    (art / "data" / "link.txt").symlink_to(Path("..") / ".." / "outside.txt")
    with pytest.raises(ArtifactError, match=r"data/link\.txt is a symlink"):
        zip_artifact(art, tmp_path / "a.zip")


def test_ignored_symlink_out_is_skipped_not_followed(art: Path, tmp_path: Path) -> None:
    venv = tmp_path / "real-venv"
    write(venv / "bin/python", "#!")
    (art / ".venv").symlink_to(venv, target_is_directory=True)
    result = zip_artifact(art, tmp_path / "a.zip")
    assert ".venv/" in result.skipped
    assert not [n for n in result.files if n.startswith(".venv")]


def test_symlink_inside_is_stored_as_the_file_content(art: Path, tmp_path: Path) -> None:
    (art / "alias.txt").symlink_to("model.txt")
    zip_artifact(art, tmp_path / "a.zip")
    with zipfile.ZipFile(tmp_path / "a.zip") as zf:
        assert zf.read("alias.txt") == (art / "model.txt").read_bytes()
        assert stat.S_ISREG(zf.getinfo("alias.txt").external_attr >> 16)


def test_symlink_to_an_ignored_file_is_refused(art: Path, tmp_path: Path) -> None:
    (art / "config.txt").symlink_to(".env")
    with pytest.raises(ArtifactError, match=r"config\.txt is a symlink to \.env, which"):
        zip_artifact(art, tmp_path / "a.zip")


def test_broken_symlink_and_folder_symlink_are_refused(art: Path, tmp_path: Path) -> None:
    (art / "gone.bin").symlink_to(art / "nowhere.bin")
    with pytest.raises(ArtifactError, match=r"gone\.bin is a broken symlink"):
        zip_artifact(art, tmp_path / "a.zip")
    (art / "gone.bin").unlink()
    (art / "vars").symlink_to("variables", target_is_directory=True)
    with pytest.raises(ArtifactError, match="vars is a symlink to a folder"):
        zip_artifact(art, tmp_path / "a.zip")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_is_refused_before_anything_is_written(art: Path, tmp_path: Path) -> None:
    os.mkfifo(art / "pipe.bin")
    with pytest.raises(ArtifactError, match=r"pipe\.bin is not a regular file"):
        zip_artifact(art, tmp_path / "a.zip")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art"]


# --- reproducible bytes ------------------------------------------------------------------


def test_same_folder_gives_byte_identical_zips_also_from_a_copy(art: Path, tmp_path: Path) -> None:
    first = zip_artifact(art, tmp_path / "1.zip")
    second = zip_artifact(art, tmp_path / "2.zip")
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(art, copy)
    for i, path in enumerate(sorted(copy.rglob("*"))):
        os.utime(path, (1_000_000_000 + i * 7777, 1_500_000_000 + i * 9999))
        if path.is_file():
            path.chmod(0o600 if i % 2 else 0o755)
    third = zip_artifact(copy, tmp_path / "3.zip")
    data = (tmp_path / "1.zip").read_bytes()
    assert (tmp_path / "2.zip").read_bytes() == data
    assert (tmp_path / "3.zip").read_bytes() == data
    assert first.sha256 == second.sha256 == third.sha256


def test_entries_have_fixed_metadata_and_classic_headers(art: Path, tmp_path: Path) -> None:
    zip_artifact(art, tmp_path / "a.zip")
    with zipfile.ZipFile(tmp_path / "a.zip") as zf:
        assert zf.comment == b""
        infos = zf.infolist()
        assert [i.filename for i in infos] == sorted(i.filename for i in infos)
        for info in infos:
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.external_attr == (stat.S_IFREG | 0o644) << 16
            assert info.create_system == 3
            assert info.extra == b""
            # no data descriptor: streaming readers (Java's ZipInputStream) refuse
            # STORED entries that carry one
            assert not info.flag_bits & 0x08
        assert zf.testzip() is None


@pytest.mark.skipif(shutil.which("unzip") is None, reason="needs Info-ZIP unzip")
def test_info_zip_accepts_the_zip(art: Path, tmp_path: Path) -> None:
    zip_artifact(art, tmp_path / "a.zip")
    proc = subprocess.run(
        ["unzip", "-t", str(tmp_path / "a.zip")], check=False, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_result_hash_and_size_are_the_zip_files(art: Path, tmp_path: Path) -> None:
    result = zip_artifact(art, tmp_path / "a.zip")
    data = (tmp_path / "a.zip").read_bytes()
    assert result.path == tmp_path / "a.zip"
    assert result.size == len(data)
    assert result.sha256 == hashlib.sha256(data).hexdigest()


def test_progress_counts_every_input_byte(art: Path, tmp_path: Path) -> None:
    seen: list[int] = []
    result = zip_artifact(art, tmp_path / "a.zip", progress=seen.append)
    assert sum(seen) == sum((art / rel).stat().st_size for rel in result.files)
    assert max(seen) <= 1 << 20


# --- stored or deflated -------------------------------------------------------------------


def test_compressed_content_is_stored_and_text_deflated(art: Path, tmp_path: Path) -> None:
    write(art / "model.npy", b"\x93NUMPY\x01\x00" + bytes(4096))
    write(art / "model.keras", PK + bytes(4096))
    write(art / "model.ubj", b"{" + bytes(4096))
    zip_artifact(art, tmp_path / "a.zip")
    with zipfile.ZipFile(tmp_path / "a.zip") as zf:
        kind = {i.filename: i.compress_type for i in zf.infolist()}
        stored = [
            "weights.pt",
            "model.joblib",
            "model.npy",
            "model.keras",
            "model.ubj",
            "variables/variables.data-00000-of-00001",
        ]
        for name in stored:
            assert kind[name] == zipfile.ZIP_STORED, name
        for name in ["score.py", "runtime.yaml", "input_schema.json", "model.txt", "data/keep.csv"]:
            assert kind[name] == zipfile.ZIP_DEFLATED, name
        text = zf.getinfo("model.txt")
        assert text.compress_size * 10 < text.file_size


@pytest.mark.parametrize(
    ("name", "head", "size", "expected"),
    [
        ("empty.py", b"", 0, zipfile.ZIP_STORED),
        ("model.pkl", b"\x80\x04\x95", 10_000, zipfile.ZIP_DEFLATED),
        ("model.pkl", b"\x1f\x8b\x08\x00", 10_000, zipfile.ZIP_STORED),  # gzip joblib
        ("model.joblib", b"\x78\x9c\xed", 10_000, zipfile.ZIP_STORED),  # zlib joblib
        ("model.joblib", b"BZh91AY", 10_000, zipfile.ZIP_STORED),
        ("model.joblib", b"\xfd7zXZ\x00\x00", 10_000, zipfile.ZIP_STORED),
        ("model.h5", b"\x89HDF\r\n\x1a\n", 10_000, zipfile.ZIP_STORED),
        ("model.h5", b"anything", 10_000, zipfile.ZIP_STORED),
        ("model.safetensors", b"\x10\x00\x00\x00", 10_000, zipfile.ZIP_STORED),
        ("model.pt2", PK, 10_000, zipfile.ZIP_STORED),
        ("notes.json", PK, 10_000, zipfile.ZIP_STORED),  # content beats a misleading name
        ("model.json", b'{"learner"', 10_000, zipfile.ZIP_DEFLATED),
        ("README.md", b"# x", 10, zipfile.ZIP_DEFLATED),
        ("blob", b"\x00\x01\x02", 2 << 20, zipfile.ZIP_STORED),
        ("blob", b"\x00\x01\x02", 1000, zipfile.ZIP_DEFLATED),
        ("part-00000", b'{"class":"x"}', 2 << 20, zipfile.ZIP_DEFLATED),
    ],
)
def test_compression_rule(name: str, head: bytes, size: int, expected: int) -> None:
    assert compression_for(name, head, size) == expected


# --- destination and failures -------------------------------------------------------------


def test_dest_inside_the_artifact_is_refused(art: Path) -> None:
    before = sorted(p.name for p in art.iterdir())
    with pytest.raises(ArtifactError, match="inside the artifact folder"):
        zip_artifact(art, art / "out.zip")
    with pytest.raises(ArtifactError, match="inside the artifact folder"):
        zip_artifact(art, art / "data" / "out.zip")
    assert sorted(p.name for p in art.iterdir()) == before


def test_bad_arguments_are_input_errors(art: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a folder"):
        zip_artifact(tmp_path / "missing", tmp_path / "a.zip")
    with pytest.raises(InputError, match="does not exist"):
        zip_artifact(art, tmp_path / "no" / "a.zip")
    with pytest.raises(InputError, match="is a folder"):
        zip_artifact(art, tmp_path)


def test_existing_zip_is_replaced(art: Path, tmp_path: Path) -> None:
    write(tmp_path / "a.zip", "old")
    result = zip_artifact(art, tmp_path / "a.zip")
    assert hashlib.sha256((tmp_path / "a.zip").read_bytes()).hexdigest() == result.sha256


def test_interrupted_zip_leaves_no_file_behind(art: Path, tmp_path: Path) -> None:
    def interrupt(_: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        zip_artifact(art, tmp_path / "a.zip", progress=interrupt)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art"]


def test_file_vanishing_mid_zip_fails_cleanly(art: Path, tmp_path: Path) -> None:
    # "model.txt" sorts after "data/keep.csv": delete it once zipping has begun
    victim = art / "model.txt"

    def remove_victim(_: int) -> None:
        if victim.exists():
            victim.unlink()

    with pytest.raises(ArtifactError, match=r"model\.txt"):
        zip_artifact(art, tmp_path / "a.zip", progress=remove_victim)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art"]


def test_file_growing_mid_zip_fails_cleanly(art: Path, tmp_path: Path) -> None:
    victim = art / "model.txt"

    def grow(_: int) -> None:  # grows under whichever read happens to be running
        with victim.open("ab") as f:
            f.write(b"more")

    with pytest.raises(ArtifactError, match="changed while it was being zipped"):
        zip_artifact(art, tmp_path / "a.zip", progress=grow)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art"]


# --- constant memory, ZIP64 -----------------------------------------------------------------

MEASURE = """
import resource, sys, time
from pathlib import Path
from mdreg.artifact.zipping import zip_artifact
start = time.perf_counter()
result = zip_artifact(Path(sys.argv[1]), Path(sys.argv[2]))
seconds = time.perf_counter() - start
# VmHWM is this process's own peak: ru_maxrss would also count the (large) pytest
# process this one was forked from, which Linux carries across exec.
try:
    with open("/proc/self/status") as f:
        peak_mb = next(int(l.split()[1]) for l in f if l.startswith("VmHWM")) / 2**10
except OSError:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_mb = peak / 2**20 if sys.platform == "darwin" else peak / 2**10
print(peak_mb, result.size, seconds)
"""


def zip_in_subprocess(root: Path, dest: Path) -> tuple[float, int, float]:
    proc = subprocess.run(
        [sys.executable, "-c", MEASURE, str(root), str(dest)],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    peak_mb, size, seconds = proc.stdout.split()
    return float(peak_mb), int(size), float(seconds)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="needs resource.getrusage")
def test_large_model_zips_in_constant_memory(tmp_path: Path) -> None:
    root = tmp_path / "big"
    write(root / "score.py", "def load_model(): pass\n")
    write(root / "runtime.yaml", "A: 1\n")
    with (root / "model.bin").open("wb") as f:
        f.truncate(1500 * 2**20)  # sparse: costs no disk until zipped
    peak_mb, size, _ = zip_in_subprocess(root, tmp_path / "big.zip")
    assert peak_mb < 150
    assert size > 1500 * 2**20
    with zipfile.ZipFile(tmp_path / "big.zip") as zf:
        assert zf.getinfo("model.bin").file_size == 1500 * 2**20


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("MDREG_HUGE_TESTS") != "1", reason="writes 4.1 GiB; set MDREG_HUGE_TESTS=1"
)
def test_zip64_for_a_file_over_4_gib(tmp_path: Path) -> None:
    root = tmp_path / "huge"
    write(root / "score.py", "def load_model(): pass\n")
    write(root / "runtime.yaml", "A: 1\n")
    size = 4 * 2**30 + 100 * 2**20
    with (root / "model.bin").open("wb") as f:
        f.truncate(size)
        f.seek(size - 4)
        f.write(b"tail")
    peak_mb, _, _ = zip_in_subprocess(root, tmp_path / "huge.zip")
    assert peak_mb < 150
    with zipfile.ZipFile(tmp_path / "huge.zip") as zf:
        info = zf.getinfo("model.bin")
        assert info.file_size == size
        with zf.open(info) as f:
            f.seek(size - 4)
            assert f.read() == b"tail"
    out = safe_extract(tmp_path / "huge.zip", tmp_path / "out")
    assert (out / "model.bin").stat().st_size == size


# --- safe_extract ------------------------------------------------------------------------


def make_zip(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns on the duplicate names we want
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in entries:
                zf.writestr(name, data)
    return path


def symlink_entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def test_good_zip_round_trips_byte_identically(art: Path, tmp_path: Path) -> None:
    result = zip_artifact(art, tmp_path / "a.zip")
    out = safe_extract(tmp_path / "a.zip", tmp_path / "out")
    assert out == tmp_path / "out"
    got = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert got == result.files
    for rel in got:
        assert (out / rel).read_bytes() == (art / rel).read_bytes()


def test_prepared_artifact_round_trips(artifact: Path, tmp_path: Path) -> None:
    result = zip_artifact(artifact, tmp_path / "a.zip")
    assert set(ALWAYS_KEEP) <= set(result.files)
    out = safe_extract(tmp_path / "a.zip", tmp_path / "out")
    for rel in result.files:
        if rel != "model_artifact_manifest.json":  # the zip's own: see test_ads_zip.py
            assert (out / rel).read_bytes() == (artifact / rel).read_bytes()
    folder = json.loads((artifact / "model_artifact_manifest.json").read_text())
    zipped = json.loads((out / "model_artifact_manifest.json").read_text())
    assert {k: v for k, v in zipped["files"].items() if "listed_at" not in v} == folder["files"]


@pytest.mark.security
@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([("score.py", b"x"), ("../evil.py", b"x")], "climbs out"),
        ([("score.py", b"x"), ("a/../../evil.py", b"x")], "climbs out"),
        ([("/etc/evil", b"x")], "absolute path"),
        ([("C:/evil.py", b"x")], "drive letter"),
        ([("..\\evil.py", b"x")], "backslash"),
        ([("a//b.py", b"x")], "empty path component"),
        ([("score.py", b"x"), (symlink_entry("link"), b"/etc/passwd")], "is a symlink"),
        ([("score.py", b"x"), ("score.py", b"y")], "appears twice"),
        ([("a", b"x"), ("a/b", b"y")], "both a file and a folder"),
    ],
)
def test_hostile_entries_are_refused_and_nothing_is_left(
    tmp_path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]], message: str
) -> None:
    zip_path = make_zip(tmp_path / "bad.zip", entries)
    with pytest.raises(ArtifactError, match=message):
        safe_extract(zip_path, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.zip"]


def zeros_zip(path: Path, size: int) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("score.py", "x")
        with zf.open("zeros.bin", "w") as f:
            chunk = bytes(1 << 20)
            for _ in range(size >> 20):
                f.write(chunk)
    return path


@pytest.mark.security
def test_zip_bomb_is_refused_by_ratio(tmp_path: Path) -> None:
    bomb = zeros_zip(tmp_path / "bomb.zip", 200 * 2**20)
    assert bomb.stat().st_size < 1 * 2**20
    with pytest.raises(ArtifactError, match=r"zeros\.bin' expands \d+ times.*zip bomb"):
        safe_extract(bomb, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.zip"]


@pytest.mark.security
def test_total_size_cap_is_checked_before_writing(tmp_path: Path) -> None:
    bomb = zeros_zip(tmp_path / "bomb.zip", 20 * 2**20)
    limits = ExtractLimits(max_total_bytes=10 * 2**20, max_ratio=1e9)
    with pytest.raises(ArtifactError, match="over the limit of 10485760"):
        safe_extract(bomb, tmp_path / "out", limits)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.zip"]


@pytest.mark.security
def test_file_count_cap(tmp_path: Path) -> None:
    zip_path = make_zip(tmp_path / "many.zip", [(f"f{i}", b"x") for i in range(11)])
    with pytest.raises(ArtifactError, match="11 entries, over the limit of 10"):
        safe_extract(zip_path, tmp_path / "out", ExtractLimits(max_files=10))


def patch_declared_size(zip_path: Path, name: str, declared: int) -> None:
    """Rewrite the uncompressed size of ``name`` in its local and central headers."""
    with zipfile.ZipFile(zip_path) as zf:
        info = zf.getinfo(name)
    data = bytearray(zip_path.read_bytes())
    struct.pack_into("<I", data, info.header_offset + 22, declared)
    central = data.index(b"PK\x01\x02")
    while True:  # walk the central directory to the entry
        name_len = struct.unpack_from("<H", data, central + 28)[0]
        if data[central + 46 : central + 46 + name_len].decode() == name:
            struct.pack_into("<I", data, central + 24, declared)
            break
        extra_len, comment_len = struct.unpack_from("<HH", data, central + 30)
        central += 46 + name_len + extra_len + comment_len
    zip_path.write_bytes(bytes(data))


@pytest.mark.security
@pytest.mark.parametrize("declared", [1000, 10 * 2**20])
def test_lying_header_is_caught_while_streaming(tmp_path: Path, declared: int) -> None:
    zip_path = zeros_zip(tmp_path / "liar.zip", 5 * 2**20)
    patch_declared_size(zip_path, "zeros.bin", declared)
    with zipfile.ZipFile(zip_path) as zf:
        assert zf.getinfo("zeros.bin").file_size == declared
    with pytest.raises(ArtifactError, match=r"zeros\.bin"):
        safe_extract(zip_path, tmp_path / "out", ExtractLimits(max_ratio=1e9))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["liar.zip"]


@pytest.mark.security
def test_encrypted_entry_is_refused(tmp_path: Path) -> None:
    zip_path = make_zip(tmp_path / "enc.zip", [("score.py", b"x")])
    data = bytearray(zip_path.read_bytes())
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<H", data, central + 8, struct.unpack_from("<H", data, central + 8)[0] | 1)
    zip_path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="encrypted"):
        safe_extract(zip_path, tmp_path / "out")


def test_not_a_zip_is_an_artifact_error(tmp_path: Path) -> None:
    write(tmp_path / "x.zip", "not a zip at all")
    with pytest.raises(ArtifactError, match="not a readable zip"):
        safe_extract(tmp_path / "x.zip", tmp_path / "out")
    with pytest.raises(InputError, match="no such file"):
        safe_extract(tmp_path / "missing.zip", tmp_path / "out")


def test_one_folder_deep_zip_is_flattened(tmp_path: Path) -> None:
    zip_path = make_zip(
        tmp_path / "deep.zip",
        [
            ("model/", b""),
            ("model/score.py", b"s"),
            ("model/runtime.yaml", b"r"),
            ("model/sub/m.txt", b"m"),
        ],
    )
    out = safe_extract(zip_path, tmp_path / "out")
    assert out == tmp_path / "out"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "runtime.yaml",
        "score.py",
        "sub",
        "sub/m.txt",
    ]


def test_one_folder_deep_beside_other_entries_returns_the_folder(tmp_path: Path) -> None:
    zip_path = make_zip(
        tmp_path / "mac.zip",
        [
            ("model/score.py", b"s"),
            ("model/runtime.yaml", b"r"),
            ("__MACOSX/model/._score.py", b"x"),
        ],
    )
    out = safe_extract(zip_path, tmp_path / "out")
    assert out == tmp_path / "out" / "model"
    assert (out / "score.py").read_bytes() == b"s"


def test_destination_must_be_new_or_empty(tmp_path: Path) -> None:
    zip_path = make_zip(tmp_path / "a.zip", [("score.py", b"s")])
    write(tmp_path / "full" / "x", "x")
    with pytest.raises(DestinationExistsError, match="not empty"):
        safe_extract(zip_path, tmp_path / "full")
    (tmp_path / "empty").mkdir()
    assert (safe_extract(zip_path, tmp_path / "empty") / "score.py").read_bytes() == b"s"


@pytest.mark.parametrize(
    ("names", "root"),
    [
        ([], ""),
        (["score.py", "runtime.yaml"], ""),
        (["./score.py"], ""),
        (["a/", "a/score.py", "a/x.bin"], "a/"),
        (["a/runtime.yaml"], "a/"),
        (["score.py", "b/runtime.yaml"], ""),
        (["a/b/score.py"], ""),
        (["model.bin"], ""),
    ],
)
def test_artifact_root_in_zip(names: list[str], root: str) -> None:
    assert artifact_root_in_zip(names) == root


def test_artifact_root_in_zip_refuses_two_candidates() -> None:
    with pytest.raises(ArtifactError, match="several folders"):
        artifact_root_in_zip(["a/score.py", "b/runtime.yaml"])
