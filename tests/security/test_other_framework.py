"""``--framework other`` packages the user's file as is, with a score.py template: it once
did so without scanning. Every file prepare ships is scanned now, whatever the framework,
and a container mdreg cannot read fully is refused unless ``--trust``."""

from __future__ import annotations

import io
import tarfile
import zipfile

import pytest

from tests.security.conftest import EXIT, Sandbox, one_error

pytestmark = pytest.mark.security


def _payload(sandbox: Sandbox) -> bytes:
    return f"cos\nsystem\n(S'touch {sandbox.canary}'\ntR.".encode()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


SEVEN_ZIP_MAGIC = b"7z\xbc\xaf\x27\x1c"


@pytest.mark.parametrize("shape", ["zip-in-zip", "tar-in-zip", "zip-in-tar"])
def test_other_framework_refuses_a_nested_payload(sandbox: Sandbox, shape: str) -> None:
    evil = {"weights/model.pkl": _payload(sandbox)}
    data = {
        "zip-in-zip": lambda: _zip({"inner.zip": _zip(evil), "README": b"hi"}),
        "tar-in-zip": lambda: _zip({"inner.tar.gz": _tar(evil)}),
        "zip-in-tar": lambda: _tar({"inner.zip": _zip(evil)}),
    }[shape]()
    model = sandbox.file("model.zip" if shape != "zip-in-tar" else "model.tar.gz", data)
    out = sandbox.work / "art"
    one_error(
        sandbox.run("prepare", model, "-o", out, "--framework", "other"),
        code=EXIT["unsafe"],
        says="os.system",
    )
    assert not out.exists()


def test_other_framework_refuses_what_it_cannot_read_fully(sandbox: Sandbox) -> None:
    # a 7z archive (no py7zr here, or a corrupt one): its content is unknown, not safe
    model = sandbox.file("model.7z", SEVEN_ZIP_MAGIC + b"\x00\x04" + b"\x00" * 64)
    out = sandbox.work / "art"
    one_error(
        sandbox.run("prepare", model, "-o", out, "--framework", "other"),
        code=EXIT["unsafe"],
        says="could not be read fully",
    )
    assert not out.exists()
    r = sandbox.run("prepare", model, "-o", out, "--framework", "other", "--trust")
    assert r.code == EXIT["ok"], r.err
    assert (out / "model.7z").exists() or any(out.iterdir())


def test_other_framework_still_packages_a_benign_archive(sandbox: Sandbox) -> None:
    model = sandbox.file("model.zip", _zip({"inner.tar.gz": _tar({"w.bin": b"\x01" * 64})}))
    r = sandbox.run("prepare", model, "-o", sandbox.work / "art", "--framework", "other")
    assert r.code == EXIT["ok"], r.err
