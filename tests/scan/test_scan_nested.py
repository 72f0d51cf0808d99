"""Archives inside model files (issue 14): zips in zips, tar (plain, gz, bz2, xz), 7z,
and gzip/bz2/xz around any of them. A pickle anywhere inside is judged; what cannot be
read fully (budgets, encryption, unknown compression, corruption, 7z without py7zr) is
unknown, never safe."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import pickle
import struct
import sys
import tarfile
import zipfile
import zlib

import pytest

from mdreg.scan import Verdict, archive_budget, read_pickle_globals, scan_path
from mdreg.scan.archive_members import SEVEN_Z_MAGIC

pytestmark = pytest.mark.security

EVIL = b"cos\nsystem\n(S'echo'\ntR."  # protocol 0: os.system('echo')


def _zip(entries, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return buf.getvalue()


def _tar(entries, mode: str = "w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _patch_zip(data: bytes, *, flag: int = 0, method: int | None = None) -> bytes:
    """Set general-purpose flag bits (bit 0: encrypted) or the compression method in every
    local and central header: zipfile cannot write an encrypted member itself."""
    out = bytearray(data)
    for sig, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = out.find(sig)
        while at >= 0:
            (bits,) = struct.unpack_from("<H", out, at + flag_at)
            struct.pack_into("<H", out, at + flag_at, bits | flag)
            if method is not None:
                struct.pack_into("<H", out, at + flag_at + 2, method)
            at = out.find(sig, at + 4)
    return bytes(out)


def _empty_7z() -> bytes:
    """A valid empty 7z archive: the signature header pointing at no next header."""
    tail = struct.pack("<QQI", 0, 0, 0)
    return SEVEN_Z_MAGIC + b"\x00\x04" + struct.pack("<I", zlib.crc32(tail)) + tail


def _scan(tmp_path, name: str, data: bytes, **kwargs):
    path = tmp_path / name
    path.write_bytes(data)
    return scan_path(path, **kwargs)


def _found(report) -> list[tuple[str, str]]:
    return [(f.ref.dotted, f.ref.where) for f in report.findings if f.ref]


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_zip_in_zip_with_a_malicious_pickle(tmp_path, compression):
    inner = _zip([("inner.pkl", EVIL)], compression)
    report = _scan(tmp_path, "outer.zip", _zip([("a.zip", inner)], compression))
    assert report.verdict is Verdict.DANGEROUS
    assert _found(report) == [("os.system", "a.zip > inner.pkl")]
    assert report.reports[0].container == "zip"


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_tar_holding_a_pickle(tmp_path, mode):
    data = _tar([("model/readme.md", b"# model\n"), ("model/model.pkl", EVIL)], mode)
    report = _scan(tmp_path, "model.tar.gz", data)
    assert report.verdict is Verdict.DANGEROUS
    assert _found(report) == [("os.system", "model/model.pkl")]
    assert report.reports[0].container == "tar"


def test_tar_member_found_by_its_bytes(tmp_path, runs_shell):
    benign = [
        ("weights/a.bin", pickle.dumps({"w": [1.0]}, protocol=4)),
        ("weights/b.bin", pickle.dumps([1, "a"], protocol=5)),
    ]
    report = _scan(tmp_path, "bundle.tar", _tar(benign))
    assert report.verdict is Verdict.SAFE, report.findings
    assert report.reports[0].streams == 2
    evil = [*benign, ("weights/c.bin", pickle.dumps(runs_shell, protocol=4))]
    report = _scan(tmp_path, "evil.tar", _tar(evil))
    assert _found(report) == [("posix.system", "weights/c.bin")]


@pytest.mark.parametrize("mid_mode", ["w", "w:gz"])
def test_zip_in_tar_in_zip(tmp_path, mid_mode):
    mid = _tar([("inner.zip", _zip([("evil.pkl", EVIL)]))], mid_mode)
    report = _scan(tmp_path, "outer.zip", _zip([("mid.tar", mid)]))
    assert report.verdict is Verdict.DANGEROUS
    assert _found(report) == [("os.system", "mid.tar > inner.zip > evil.pkl")]


@pytest.mark.parametrize("wrap", [gzip.compress, bz2.compress, lzma.compress])
def test_compressed_zip_or_pickle_member(tmp_path, wrap):
    inner = wrap(_zip([("evil.pkl", EVIL)]))
    report = _scan(tmp_path, "outer.zip", _zip([("inner.zip.gz", inner), ("p.gz", wrap(EVIL))]))
    assert report.verdict is Verdict.DANGEROUS
    wheres = sorted(w for _, w in _found(report))
    assert wheres[0] == "inner.zip.gz > evil.pkl" and wheres[1].startswith("p.gz > ")
    # a whole file that is a compressed zip
    report = _scan(tmp_path, "model.zip.gz", wrap(_zip([("evil.pkl", EVIL)])))
    assert _found(report) == [("os.system", "evil.pkl")]


def _nested(levels: int) -> bytes:
    """``levels`` zips inside the outer one, the malicious pickle in the innermost."""
    data = _zip([("evil.pkl", EVIL)])
    for k in range(levels):
        data = _zip([(f"z{levels - k}.zip", data)])
    return data


def test_depth_budget(tmp_path):
    assert archive_budget.NEST_DEPTH == 4
    report = _scan(tmp_path, "ok.zip", _nested(archive_budget.NEST_DEPTH))
    assert report.verdict is Verdict.DANGEROUS
    assert _found(report) == [("os.system", "z1.zip > z2.zip > z3.zip > z4.zip > evil.pkl")]

    report = _scan(tmp_path, "deep.zip", _nested(archive_budget.NEST_DEPTH + 1))
    assert report.verdict is Verdict.UNKNOWN
    (finding,) = report.findings
    assert finding.ref is None and finding.severity is Verdict.UNKNOWN
    assert finding.reason.startswith("could not be read fully: z1.zip > z2.zip > z3.zip > z4.zip")
    assert "depth budget" in finding.reason
    assert read_pickle_globals(tmp_path / "ok.zip", max_depth=1).incomplete


def test_size_budget(tmp_path, monkeypatch):
    filler = bytes(range(256)) * 1024  # 256 KiB that does not compress away
    data = _tar([("model/weights.bin", filler), ("model/model.pkl", EVIL)], "w:gz")
    path = tmp_path / "model.tar.gz"
    path.write_bytes(data)
    assert scan_path(path).verdict is Verdict.DANGEROUS
    # the budget runs out before the pickle: unknown, not safe
    report = scan_path(path, max_bytes=64 * 1024)
    assert report.verdict is Verdict.UNKNOWN
    assert "size budget" in report.reports[0].incomplete
    # the default budget applies without max_bytes
    monkeypatch.setattr(archive_budget, "NEST_BYTES", 64 * 1024)
    assert scan_path(path).verdict is Verdict.UNKNOWN
    # a compressed zip in a zip is read into memory: never past the budget
    big = _zip([("weights.bin", filler), ("evil.pkl", EVIL)], zipfile.ZIP_STORED)
    report = _scan(tmp_path, "outer.zip", _zip([("inner.zip", big)]))
    assert report.verdict is Verdict.UNKNOWN
    assert report.reports[0].incomplete.startswith("inner.zip: more than 65536 bytes")


def test_stored_zip_in_zip_is_read_in_place(tmp_path):
    """A stored nested zip (a .pt2's torch.save members) is opened where it lies: its
    large members that are no pickle are not read, nor counted."""
    inner = _zip(
        [("w/data.pkl", pickle.dumps({"a": 1})), ("w/data/0", bytes(4 << 20))], zipfile.ZIP_STORED
    )
    path = tmp_path / "model.pt2"
    path.write_bytes(_zip([("archive/weights/w0", inner)], zipfile.ZIP_STORED))
    report = scan_path(path, max_bytes=256 * 1024)
    assert report.verdict is Verdict.SAFE, report.findings
    assert report.reports[0].streams == 1


def test_encrypted_member(tmp_path):
    inner = _zip([("inner.pkl", EVIL)])
    outer = _patch_zip(_zip([("weights.zip", inner), ("notes.txt", b"hi")]), flag=0x1)
    report = _scan(tmp_path, "outer.zip", outer)
    assert report.verdict is Verdict.UNKNOWN
    assert "encrypted" in report.reports[0].incomplete
    # nested: a zip in a zip whose member is encrypted
    report = _scan(tmp_path, "nested.zip", _zip([("a.zip", _patch_zip(inner, flag=0x1))]))
    assert report.verdict is Verdict.UNKNOWN
    assert report.reports[0].incomplete.startswith("a.zip > inner.pkl: cannot be read")
    # a member named like a pickle in the file's own zip: a loader would read it, and a
    # pickle that cannot be read is dangerous, as before
    report = _scan(tmp_path, "model.zip", _patch_zip(_zip([("model.pkl", EVIL)]), flag=0x1))
    assert report.verdict is Verdict.DANGEROUS


def test_unknown_compression_method(tmp_path):
    report = _scan(
        tmp_path, "outer.zip", _zip([("a.zip", _patch_zip(_zip([("x.pkl", EVIL)]), method=99))])
    )
    assert report.verdict is Verdict.UNKNOWN
    assert "compression" in report.reports[0].incomplete


def test_corrupt_nested_archives(tmp_path):
    report = _scan(tmp_path, "outer.zip", _zip([("a.zip", b"PK\x03\x04" + bytes(100))]))
    assert report.verdict is Verdict.UNKNOWN
    tar = _tar([("model/weights.bin", bytes(4096)), ("model/model.pkl", EVIL)])
    report = _scan(tmp_path, "outer2.zip", _zip([("cut.tar.gz", gzip.compress(tar)[:600])]))
    assert report.verdict is not Verdict.SAFE


def test_7z_without_py7zr(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "py7zr", None)  # import fails
    report = _scan(tmp_path, "model.7z", _empty_7z())
    assert report.verdict is Verdict.UNKNOWN
    assert report.reports[0].container == "7z"
    assert "py7zr" in report.reports[0].incomplete
    report = _scan(tmp_path, "outer.zip", _zip([("inner.7z", _empty_7z())]))
    assert report.verdict is Verdict.UNKNOWN
    assert report.reports[0].incomplete.startswith("inner.7z: ")
    # in a folder too
    assert scan_path(tmp_path).verdict is Verdict.UNKNOWN


def test_7z_with_py7zr(tmp_path):
    py7zr = pytest.importorskip("py7zr")
    path = tmp_path / "model.7z"
    with py7zr.SevenZipFile(path, "w") as archive:
        archive.writestr(b"# model\n", "model/readme.md")
        archive.writestr(EVIL, "model/model.pkl")
    report = scan_path(path)
    assert report.verdict is Verdict.DANGEROUS
    assert _found(report) == [("os.system", "model/model.pkl")]
    report = _scan(tmp_path, "outer.zip", _zip([("inner.7z", path.read_bytes())]))
    assert _found(report) == [("os.system", "inner.7z > model/model.pkl")]
    benign = tmp_path / "benign" / "data.7z"
    benign.parent.mkdir()
    with py7zr.SevenZipFile(benign, "w") as archive:
        archive.writestr(b"a,b\n1,2\n", "data.csv")
    assert scan_path(benign).verdict is Verdict.SAFE
    assert scan_path(benign.parent).reports == []


def test_benign_nested_archives_are_safe(tmp_path):
    outer = _zip(
        [
            ("a.zip", _zip([("notes.txt", b"hello")])),
            ("b.tar.gz", _tar([("readme.md", b"# hi\n"), ("data/x.csv", b"a,b\n1,2\n")], "w:gz")),
            ("c.tar", _tar([("weights.bin", bytes(2048))])),
            ("d.csv.gz", gzip.compress(b"a,b\n1,2\n")),
        ]
    )
    report = _scan(tmp_path, "bundle.zip", outer)
    assert report.verdict is Verdict.SAFE, report.findings
    assert report.reports[0].incomplete is None
    (tmp_path / "data.tar.xz").write_bytes(_tar([("x.csv", b"a\n1\n")], "w:xz"))
    assert (
        _scan(tmp_path, "plain.tar", _tar([("score.py", b"import os\n")])).verdict is Verdict.SAFE
    )
    folder = scan_path(tmp_path)
    assert folder.verdict is Verdict.SAFE and folder.reports == []


def test_folder_scan_opens_archives(tmp_path):
    (tmp_path / "model.pkl").write_bytes(pickle.dumps({"coef": [0.5, 1.5]}))
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra" / "data.tar").write_bytes(_tar([("helpers/util.pkl", EVIL)]))
    assert scan_path(tmp_path / "model.pkl").verdict is Verdict.SAFE
    report = scan_path(tmp_path)
    assert report.verdict is Verdict.DANGEROUS
    assert [(f.path.name, f.ref.where) for f in report.findings] == [
        ("data.tar", "helpers/util.pkl")
    ]


def test_tar_whose_first_name_is_a_pickle(tmp_path):
    """pickle.load handed a tar reads its first member's name as opcodes: those count."""
    name = "cos\nsystem\n(S'echo'\ntR"  # a NUL follows: the unpickler stops after REDUCE
    report = _scan(tmp_path, "model.tar", _tar([(name, b"x")]))
    assert report.verdict is Verdict.DANGEROUS
    assert _found(report) == [("os.system", "")]
    folder = scan_path(tmp_path)
    assert folder.verdict is Verdict.DANGEROUS
    gz = _scan(tmp_path, "model.tar.gz", _tar([(name, b"x")], "w:gz"))
    assert _found(gz) == [("os.system", "gzip stream")]


def test_torch_storages_are_not_opened(tmp_path):
    """torch never unpickles a torch zip's storages: a zip among them is not read."""
    data = _zip(
        [
            ("archive/data.pkl", pickle.dumps({"w": 1}, protocol=2)),
            ("archive/data/0", _zip([("evil.pkl", EVIL)])),
            ("archive/version", b"3\n"),
        ]
    )
    report = _scan(tmp_path, "model.pt", data, frameworks=["torch"])
    assert report.reports[0].container == "torch-zip"
    assert report.verdict is Verdict.SAFE, report.findings


def test_cli_exit_codes(cli, tmp_path):
    evil = tmp_path / "outer.zip"
    evil.write_bytes(_zip([("a.zip", _zip([("inner.pkl", EVIL)]))]))
    run = cli("scan", evil, "--json")
    assert run.code == 4
    doc = json.loads(run.out)
    assert doc["verdict"] == "dangerous"
    assert doc["files"][0]["findings"][0]["where"] == "a.zip > inner.pkl"
    table = cli("scan", evil)
    assert table.code == 4 and "dangerous" in table.out and "inner.pkl" in table.out

    deep = tmp_path / "deep.zip"
    deep.write_bytes(_nested(archive_budget.NEST_DEPTH + 1))
    run = cli("scan", deep, "--json")
    assert run.code == 4  # unknown is not safe: exit 4, as for an unknown global
    doc = json.loads(run.out)
    assert doc["verdict"] == "unknown"
    (finding,) = doc["files"][0]["findings"]
    assert finding["severity"] == "unknown" and "depth budget" in finding["reason"]
    assert doc["files"][0]["reports"][0]["incomplete"]
    sarif = json.loads(cli("scan", deep, "--format", "sarif").out)
    assert sarif["runs"][0]["results"][0]["level"] == "warning"

    safe = tmp_path / "safe.tar.gz"
    safe.write_bytes(_tar([("readme.md", b"hi")], "w:gz"))
    assert cli("scan", safe).code == 0


@pytest.mark.parametrize("name", ["model.tar.gz", "model.zip.gz"])
def test_loaders_are_not_handed_archives(tmp_path, name):
    """What a loader reads (framework detection, prepare's safety gate) is unchanged: a
    compressed archive is no pickle, and refused, whatever its members hold."""
    from mdreg.frameworks.probe import Probe

    inner = pickle.dumps({"coef": [1.0]}, protocol=4)
    data = _tar([("model.pkl", inner)]) if ".tar" in name else _zip([("model.pkl", inner)])
    path = tmp_path / name
    path.write_bytes(gzip.compress(data))
    assert scan_path(path).verdict is Verdict.SAFE  # the scan reads the members
    probe = Probe.of(path).pickle
    assert probe.container == "not-pickle" and probe.error
    assert probe.globals == [] and probe.streams == 0
