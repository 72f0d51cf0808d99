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


def test_zip_refuses_a_folder_that_is_not_an_artifact(cli, tmp_path):
    """An empty folder, or one without score.py / runtime.yaml, is bad input (exit 3),
    named in one line; no zip and no temp file is written."""
    empty = tmp_path / "empty"
    empty.mkdir()
    run = cli("zip", empty, "-o", tmp_path / "a.zip")
    assert run.code == 3
    assert run.err == (
        f"error: {empty} is not a model artifact: it is empty (write one with "
        "`mdreg prepare MODEL`, or add the missing files)\n"
    )
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "readme.txt").write_text("hello")
    run = cli("zip", notes, "-o", tmp_path / "a.zip")
    assert run.code == 3 and "it has no score.py and no runtime.yaml" in run.err
    (notes / "score.py").write_text("def load_model():\n    return 1\n")
    run = cli("zip", notes, "-o", tmp_path / "a.zip")
    assert run.code == 3 and "it has no runtime.yaml (" in run.err and run.err.count("\n") == 1
    run = cli("upload", notes, (tmp_path / "bucket").as_uri() + "/")
    assert run.code == 3 and "it has no runtime.yaml" in run.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "notes"]


def test_zip_of_the_folder_above_an_artifact_is_refused(artifact, cli, tmp_path):
    outer = tmp_path / "outer"
    outer.mkdir()
    shutil.move(artifact, outer / "artifact")
    run = cli("zip", outer, "-o", tmp_path / "a.zip")
    assert run.code == 3 and "no score.py and no runtime.yaml" in run.err
    assert not (tmp_path / "a.zip").exists()
