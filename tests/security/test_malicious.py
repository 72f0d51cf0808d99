"""Malicious pickles of every kind: scan, prepare, load and introspect refuse them, name the
global, and never run them. A positive control proves each payload is live."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mdreg.artifact.manifest import write_manifest
from tests.security.conftest import EXIT, Sandbox, one_error, reported
from tests.security.payloads import PAYLOADS, Payload

pytestmark = pytest.mark.security

#: payloads that no loader can run as they are (they test the scanner, not a live attack)
INERT = {"extension-code", "control-chars-in-name"}


@pytest.mark.parametrize("payload", PAYLOADS, ids=[p.name for p in PAYLOADS])
def test_malicious_pickle_is_refused_everywhere(
    sandbox: Sandbox, payload: Payload, tiny_artifact: Path
) -> None:
    model = sandbox.file(f"model{payload.suffix}", payload.build(sandbox.canary))

    # scan: exit 4, the global named with its byte offset
    r = sandbox.run("scan", model, "--json")
    reported(r, code=EXIT["unsafe"])
    doc = json.loads(r.out)
    assert doc["verdict"] in ("dangerous", "unknown")
    assert any(payload.shows in (f["global"] or f["reason"]) for f in doc["files"][0]["findings"])

    # prepare: exit 4, one line naming the global, nothing written
    out = sandbox.work / "art"
    args = ["prepare", model, "-o", out] + (
        ["--framework", payload.framework] if payload.framework else []
    )
    line = one_error(sandbox.run(*args), code=EXIT["unsafe"], says="--trust")
    assert payload.shows in line, line
    assert not out.exists()

    # the same pickle swapped into a prepared artifact, manifest rewritten to match
    art = Path(shutil.copytree(tiny_artifact, sandbox.root / "in" / "evil-artifact"))
    (art / "model.joblib").write_bytes(model.read_bytes())
    write_manifest(art, "attacker")
    r = sandbox.run("introspect", art, "--json")
    reported(r, code=EXIT["failed"])
    checks = {c["key"]: c for c in json.loads(r.out)["checks"]}
    assert checks["model_scan"]["status"] == "failed"

    zipped = sandbox.root / "in" / "evil.zip"
    assert sandbox.run("zip", art, "-o", zipped).code == 0
    loaded = sandbox.work / "loaded"
    line = one_error(sandbox.run("load", zipped, "-o", loaded), code=EXIT["unsafe"], says="--trust")
    assert "model.joblib" in line
    assert not loaded.exists()


def test_refusal_through_subprocesses(sandbox: Sandbox, tiny_artifact: Path) -> None:
    """python -m mdreg: scan, prepare and load on the joblib file whose payload sits
    after a numpy array."""
    payload = next(p for p in PAYLOADS if p.name == "joblib-after-array")
    model = sandbox.file("model.joblib", payload.build(sandbox.canary))
    r = sandbox.proc("scan", model, "--format", "sarif")
    reported(r, code=EXIT["unsafe"])
    assert json.loads(r.out)["runs"][0]["results"][0]["level"] == "error"
    one_error(
        sandbox.proc("prepare", model, "-o", sandbox.work / "art"),
        code=EXIT["unsafe"],
        says="posix.system",
    )
    art = Path(shutil.copytree(tiny_artifact, sandbox.root / "in" / "art"))
    (art / "model.joblib").write_bytes(model.read_bytes())
    write_manifest(art, "attacker")
    one_error(
        sandbox.proc("load", art, "-o", sandbox.work / "loaded"),
        code=EXIT["unsafe"],
        says="model.joblib: posix.system",
    )
    assert not (sandbox.work / "loaded").exists()


_CONTROL = """
import io, pickle, sys, zipfile
from pathlib import Path

def load(path):
    data = Path(path).read_bytes()
    if data[:2] == b"PK":  # torch.load(weights_only=False) unpickles data.pkl
        with zipfile.ZipFile(path) as zf:
            return pickle.loads(zf.read(next(n for n in zf.namelist() if n.endswith("data.pkl"))))
    if path.endswith(".joblib"):
        import joblib
        return joblib.load(path)
    f = io.BytesIO(data)
    while f.tell() < len(data):  # every stream, as torch's legacy loader reads several
        pickle.load(f)

for path in sys.argv[1:]:
    try:
        load(path)
    except Exception:
        pass
"""


def test_positive_control_every_payload_is_live(tmp_path: Path) -> None:
    """Outside mdreg, the real loaders run each payload: the canary checks above are not
    vacuous. (Runs them on purpose, in a subprocess; they only create files in tmp_path.)"""
    live = [p for p in PAYLOADS if p.name not in INERT]
    files, canaries = [], []
    for p in live:
        canary = tmp_path / f"canary-{p.name}"
        path = tmp_path / f"{p.name}{p.suffix}"
        path.write_bytes(p.build(canary))
        files.append(str(path))
        canaries.append(canary)
    subprocess.run(
        [sys.executable, "-c", _CONTROL, *files],
        cwd=tmp_path,
        check=True,
        timeout=120,
        capture_output=True,
    )
    deadline = time.monotonic() + 10  # Popen's touch runs on its own
    while time.monotonic() < deadline and not all(c.exists() for c in canaries):
        time.sleep(0.05)
    assert [c.name for c in canaries if not c.exists()] == []
