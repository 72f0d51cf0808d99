"""``mdreg scan`` and ``mdreg prepare`` give one verdict on a stream: what scan calls
anything but safe, prepare refuses with exit 4 (and says why in one line); what scan calls
safe, prepare never refuses as unsafe. Malformed streams are the case that drifted: each
of these cannot be parsed, so it is dangerous to both."""

from __future__ import annotations

import io
import json
import pickle
import struct
import zipfile

import pytest

from tests.security.conftest import EXIT, Sandbox, one_error, reported

pytestmark = pytest.mark.security

GOOD = pickle.dumps({"weights": [1.0, 2.0]}, protocol=4)


def _torch_zip(data_pkl: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("model/data.pkl", data_pkl)
        zf.writestr("model/version", "3\n")
        zf.writestr("model/byteorder", "little")
    return buf.getvalue()


MALFORMED = {
    "cut-mid-opcode": GOOD[:-3],
    "no-stop": GOOD[:-1],
    "invalid-opcode": b"\x80\x04\xff.",
    "stack-underflow": b"\x80\x04R.",
    "missing-memo-key": b"\x80\x04h\x07.",
    "odd-setitems": b"\x80\x04}(K\x01u.",
    "negative-long4": b"\x80\x04\x8b\xff\xff\xff\xff.",
    "negative-binstring": b"\x80\x02T\xff\xff\xff\xff.",
    "stack-global-of-ints": b"\x80\x04K\x01K\x02\x93.",
    "trailing-garbage": GOOD + b"\x00garbage",
    "frame-straddle": b"\x80\x05\x95"
    + struct.pack("<Q", 2)
    + b"B\x07\x01\x00\x00"
    + b"P" * 263
    + b".",
    "frame-in-protocol-2": b"\x80\x02\x95" + struct.pack("<Q", 2) + b"N.",
    "frame-in-frame": b"\x80\x04\x95"
    + struct.pack("<Q", 12)
    + b"\x95"
    + struct.pack("<Q", 2)
    + b"N.",
    "frame-past-stop": b"\x80\x04\x95" + struct.pack("<Q", 5) + b"N.NNN",
}
ZIPPED = {f"torch-zip-{k}": _torch_zip(v) for k, v in MALFORMED.items() if k != "trailing-garbage"}


@pytest.mark.parametrize(
    ("kind", "data"), [*MALFORMED.items(), *ZIPPED.items()], ids=[*MALFORMED, *ZIPPED]
)
def test_malformed_stream_dangerous_to_scan_and_refused_by_prepare(
    sandbox: Sandbox, kind: str, data: bytes
) -> None:
    model = sandbox.file("model.pt" if kind.startswith("torch-zip") else "model.pkl", data)
    scan = sandbox.run("scan", model, "--json")
    reported(scan, code=EXIT["unsafe"])
    assert json.loads(scan.out)["verdict"] == "dangerous"
    one_error(sandbox.run("prepare", model, "-o", sandbox.work / "art"), code=EXIT["unsafe"])
    assert not (sandbox.work / "art").exists()


def test_a_safe_stream_is_safe_to_both(sandbox: Sandbox) -> None:
    model = sandbox.file("model.pkl", GOOD)
    scan = sandbox.run("scan", model, "--json")
    reported(scan, code=EXIT["ok"])
    assert json.loads(scan.out)["verdict"] == "safe"
    # prepare goes past the gate (the generic plugin then loads it)
    r = sandbox.run("prepare", model, "-o", sandbox.work / "art", "--framework", "generic")
    assert r.code != EXIT["unsafe"], r.err
