"""Broken artifact folders: files that are not UTF-8, a 100 MB schema, score.py files that
never return. introspect and verify report the failure (exit 1) and never crash; verify
kills a runaway score.py and every process it started."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.security.conftest import EXIT, Sandbox, one_error, reported

pytestmark = pytest.mark.security

LATIN1 = "MODEL_ARTIFACT_VERSION: '3.0'\n# caf\xe9 cr\xe8me\n".encode("latin-1")


def _checks(r) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    return {c["key"]: c for c in json.loads(r.out)["checks"]}


def test_runtime_yaml_not_utf8(sandbox: Sandbox, artifact_copy: Path) -> None:
    (artifact_copy / "runtime.yaml").write_bytes(
        LATIN1 + (artifact_copy / "runtime.yaml").read_bytes()
    )
    r = sandbox.run("introspect", artifact_copy, "--json")
    reported(r, code=EXIT["failed"])
    failed = {k: c["message"] for k, c in _checks(r).items() if c["status"] == "failed"}
    assert any("not UTF-8" in m for m in failed.values()), failed
    # zip and load carry the bytes as they are; load does not parse runtime.yaml
    zipped = sandbox.root / "in" / "a.zip"
    assert sandbox.run("zip", artifact_copy, "-o", zipped).code == 0


def test_score_py_not_utf8(sandbox: Sandbox, artifact_copy: Path) -> None:
    (artifact_copy / "score.py").write_bytes(b"# \xff\xfe\ndef load_model():\n    return 1\n")
    r = sandbox.run("introspect", artifact_copy, "--json")
    reported(r, code=EXIT["failed"])
    assert "not UTF-8" in _checks(r)["score_syntax"]["message"]


def test_model_ignore_not_utf8(sandbox: Sandbox, artifact_copy: Path) -> None:
    (artifact_copy / ".model-ignore").write_bytes(b"*.log\n\xff\xfe.env\n")
    one_error(
        sandbox.run("zip", artifact_copy, "-o", sandbox.root / "in" / "a.zip"),
        code=EXIT["input"],
        says=".model-ignore",
    )
    assert not (sandbox.root / "in" / "a.zip").exists()


def test_metadata_not_json(sandbox: Sandbox, artifact_copy: Path) -> None:
    """Garbage in .mdreg/metadata.json (mdreg's file, which the manifest does not cover):
    introspect neither crashes nor overwrites it, and load scans against every allow-list."""
    (artifact_copy / ".mdreg" / "metadata.json").write_bytes(b"\xff{not json")
    reported(sandbox.run("introspect", artifact_copy), code=EXIT["ok"])
    assert (artifact_copy / ".mdreg" / "metadata.json").read_bytes() == b"\xff{not json"
    r = sandbox.run("load", artifact_copy, "-o", sandbox.work / "out", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["scan_verdict"] == "safe"


def _big_schema(path: Path, size: int) -> None:
    """A valid-looking 1.1 schema of ``size`` bytes, written in big blocks."""
    column = json.dumps(
        {
            "dtype": "float64",
            "feature_type": "Continuous",
            "name": "c",
            "domain": {"values": "", "stats": {}, "constraints": []},
            "required": True,
            "description": "c",
            "order": 0,
        }
    )
    block = ", ".join([column] * 2000)
    with open(path, "w", encoding="utf-8") as f:
        f.write('{"version": "1.1", "schema": [')
        written = 0
        while written < size:
            f.write(block if written == 0 else ", " + block)
            written += len(block) + 2
        f.write("]}")


def test_100mb_schema(sandbox: Sandbox, artifact_copy: Path) -> None:
    """introspect reads no schema bigger than it can use: a clear failure, quickly, in a
    real subprocess (peak memory stays small)."""
    _big_schema(artifact_copy / "input_schema.json", 100 << 20)
    assert (artifact_copy / "input_schema.json").stat().st_size >= 100 << 20
    start = time.monotonic()
    r = sandbox.proc("introspect", artifact_copy, "--json")
    elapsed = time.monotonic() - start
    reported(r, code=EXIT["failed"])
    message = _checks(r)["input_schema"]["message"]
    assert "not read" in message and "bytes" in message
    assert elapsed < 60, f"introspect took {elapsed:.1f} s on a 100 MB schema"
    os.remove(artifact_copy / "input_schema.json")  # 100 MB less for the tmp folder to hold


def _pid_alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_score_py_that_never_returns(sandbox: Sandbox, artifact_copy: Path) -> None:
    (artifact_copy / "score.py").write_text("while True:\n    pass\n")
    start = time.monotonic()
    r = sandbox.run("verify", artifact_copy, "--timeout", "1.5")
    assert time.monotonic() - start < 30
    one_error(r, code=EXIT["failed"], says="timeout")


CHILD_SCORE = """\
import os, subprocess, sys, time

def load_model():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with open({pidfile!r}, "w") as f:
        f.write(str(child.pid))
    return 1

def predict(data, model=load_model()):
    while True:
        time.sleep(1)
"""


def test_score_py_whose_child_sleeps_forever(sandbox: Sandbox, artifact_copy: Path) -> None:
    """verify --timeout kills score.py and the child it started (the whole process group),
    through ``python -m mdreg``: reported as the timeout stage, soon after the timeout, and
    the child is gone (polled for, not waited a fixed time for)."""
    pidfile = sandbox.root / "child.pid"
    (artifact_copy / "score.py").write_text(CHILD_SCORE.format(pidfile=str(pidfile)))
    start = time.monotonic()
    r = sandbox.proc("verify", artifact_copy, "--timeout", "3", "--data-json", "[[0, 1]]")
    assert time.monotonic() - start < 30
    line = one_error(r, code=EXIT["failed"], says="killed")
    assert "score.py failed at timeout" in line, line
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _pid_alive(pid), f"score.py's child {pid} survived the timeout"
