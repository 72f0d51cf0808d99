"""mdreg zip from the command line: reproducible, honours .model-ignore, refuses escaping links."""

from __future__ import annotations

import json
import os
import shutil
import zipfile

from mdreg.checks.introspect import introspect


def test_zip_is_reproducible_and_introspects(artifact, cli, tmp_path):
    a = cli("zip", artifact, "-o", tmp_path / "a.zip", "--json")
    assert a.code == 0, a.err
    copy = tmp_path / "copy"
    shutil.copytree(artifact, copy)
    for p in copy.rglob("*"):
        os.utime(p, (1_000_000_000, 1_000_000_000))
    b = cli("zip", copy, "-o", tmp_path / "b.zip", "--json")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    assert json.loads(a.out)["sha256"] == json.loads(b.out)["sha256"]
    assert introspect(tmp_path / "a.zip").ok


def test_zip_leaves_out_ignored_files_and_lists_them(artifact, cli, tmp_path):
    (artifact / ".env").write_text("SECRET=1")
    (artifact / "__pycache__").mkdir()
    (artifact / "__pycache__" / "score.cpython-311.pyc").write_bytes(b"x")
    run = cli("zip", artifact, "-o", tmp_path / "a.zip", "--verbose")
    assert run.code == 0
    names = zipfile.ZipFile(tmp_path / "a.zip").namelist()
    assert ".env" not in names and not any("__pycache__" in n for n in names)
    assert "score.py" in names and "model.joblib" in names
    assert "left out: .env" in run.err


def test_zip_refuses_link_out_of_the_artifact(artifact, cli, tmp_path):
    (tmp_path / "secret.txt").write_text("do not ship")
    os.symlink(tmp_path / "secret.txt", artifact / "data.txt")
    run = cli("zip", artifact, "-o", tmp_path / "a.zip")
    assert run.code == 3 and "data.txt" in run.err
    assert not (tmp_path / "a.zip").exists()
