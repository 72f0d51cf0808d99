"""Hostile zips given to load and introspect: entries that climb out, absolute paths,
symlinks, duplicates, a zip bomb, sizes that lie, a tampered manifest. Each is refused
before anything is written outside the sandbox, with one line and exit 3."""

from __future__ import annotations

import stat
import struct
import zipfile
from pathlib import Path

import pytest

from tests.security.conftest import EXIT, Sandbox, one_error

pytestmark = pytest.mark.security

SCORE_PY = "def load_model():\n    return 1\n\n\ndef predict(data, model=None):\n    return data\n"
RUNTIME_YAML = "MODEL_ARTIFACT_VERSION: '3.0'\n"
BOMB_MB = 4  # zeros deflate ~1000:1; anything over 1 MiB and 200:1 is refused


def _write(path: Path, entries: list[tuple[str, bytes, int | None]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data, mode in [
            ("score.py", SCORE_PY.encode(), None),
            ("runtime.yaml", RUNTIME_YAML.encode(), None),
            *entries,
        ]:
            if mode is None:
                zf.writestr(name, data)
            else:
                info = zipfile.ZipInfo(name)
                info.create_system = 3
                info.external_attr = mode << 16
                zf.writestr(info, data)
    return path


def _bomb(path: Path) -> Path:
    _write(path, [])
    with (
        zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED, compresslevel=9) as zf,
        zf.open("weights.bin", "w") as f,
    ):
        block = bytes(1 << 20)
        for _ in range(BOMB_MB):
            f.write(block)
    return path


def _lying_size(path: Path) -> Path:
    """An entry whose central directory declares fewer bytes than it holds."""
    _write(path, [("data.bin", b"A" * 5000, None)])
    raw = bytearray(path.read_bytes())
    at = raw.find(b"PK\x01\x02")
    while raw[at + 46 : at + 46 + struct.unpack_from("<H", raw, at + 28)[0]] != b"data.bin":
        at = raw.find(b"PK\x01\x02", at + 4)
    struct.pack_into("<I", raw, at + 24, 100)  # its uncompressed size
    path.write_bytes(bytes(raw))
    return path


HOSTILE = {
    "dot-dot": (lambda p: _write(p, [("../escaped.txt", b"x", None)]), "climbs out"),
    "nested-dot-dot": (
        lambda p: _write(p, [("a/b/../../../escaped.txt", b"x", None)]),
        "climbs out",
    ),
    "absolute": (lambda p: _write(p, [("/tmp/mdreg-escaped.txt", b"x", None)]), "absolute path"),
    "symlink": (
        lambda p: _write(p, [("model.joblib", b"/etc/passwd", stat.S_IFLNK | 0o777)]),
        "symlink",
    ),
    "duplicate": (lambda p: _write(p, [("a.txt", b"1", None), ("a.txt", b"2", None)]), "twice"),
    "zip-bomb": (_bomb, "zip bomb"),
    "lying-size": (_lying_size, "data.bin"),
    "backslash": (lambda p: _write(p, [("..\\escaped.txt", b"x", None)]), "backslash"),
}


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_zip(sandbox: Sandbox, kind: str) -> None:
    build, says = HOSTILE[kind]
    (sandbox.root / "in").mkdir()
    zipped = build(sandbox.root / "in" / f"{kind}.zip")
    dest = sandbox.work / "loaded"
    one_error(sandbox.run("load", zipped, "-o", dest), code=EXIT["input"], says=says)
    assert not dest.exists()
    one_error(sandbox.run("introspect", zipped), code=EXIT["input"], says=says)
    assert not Path("/tmp/mdreg-escaped.txt").exists()
    assert not (sandbox.root.parent / "escaped.txt").exists()


def test_hostile_zip_through_subprocesses(sandbox: Sandbox) -> None:
    (sandbox.root / "in").mkdir()
    zipped = _write(sandbox.root / "in" / "trav.zip", [("../escaped.txt", b"x", None)])
    one_error(
        sandbox.proc("load", zipped, "-o", sandbox.work / "out"),
        code=EXIT["input"],
        says="climbs out",
    )
    one_error(sandbox.proc("introspect", zipped), code=EXIT["input"], says="climbs out")
    assert not (sandbox.root.parent / "escaped.txt").exists()


def test_tampered_artifact_is_refused_by_load(sandbox: Sandbox, artifact_copy: Path) -> None:
    """A file changed after prepare (manifest not rewritten): load refuses it."""
    zipped = sandbox.root / "in" / "art.zip"
    assert sandbox.run("zip", artifact_copy, "-o", zipped).code == 0
    with zipfile.ZipFile(zipped) as zf:
        entries = [(i, zf.read(i)) for i in zf.infolist()]
    tampered = sandbox.root / "in" / "tampered.zip"
    with zipfile.ZipFile(tampered, "w") as zf:
        for info, data in entries:
            zf.writestr(info, data + b"\n# changed" if info.filename == "score.py" else data)
    one_error(
        sandbox.run("load", tampered, "-o", sandbox.work / "out"),
        code=EXIT["input"],
        says="does not match its manifest",
    )
    assert not (sandbox.work / "out").exists()
