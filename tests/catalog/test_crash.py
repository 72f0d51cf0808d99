"""`mdreg save` killed with SIGKILL at random points: the catalog stays consistent.

Each trial starts a real `python -m mdreg save` and kills it: at a random time within
a save's duration, or the moment a temp file appears in the blob store, or the moment
its blob lands (the window between the blob's rename and the row's commit). After
every kill the model is either listed and loadable or absent; after `mdreg gc` no
orphan blob and no temp file remains.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from mdreg.catalog.local import LocalCatalog
from mdreg.flows.load import load_artifact
from tests.conftest import mdreg_proc

TRIALS = 24


def _save(art: Path, label: str) -> subprocess.Popen[bytes]:
    # --no-verify: the kill points are meant for the catalog's steps, not score.py's run
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mdreg",
            "save",
            str(art),
            "--quiet",
            "--no-verify",
            "--version-set",
            "crash",
            "--version-label",
            label,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _files(folder: Path) -> set[str]:
    return {p.name for p in folder.rglob("*")} if folder.exists() else set()


def _appeared(folder: Path, before: set[str], suffix: str) -> bool:
    return any(name.endswith(suffix) for name in _files(folder) - before)


def _kill_when(
    proc: subprocess.Popen[bytes], ready: Callable[[], bool], deadline: float, delay: float = 0.0
) -> None:
    """SIGKILL ``proc`` ``delay`` seconds after ``ready()`` turns true (polled every 0.5 ms)."""
    while proc.poll() is None and time.monotonic() < deadline:
        if ready():
            time.sleep(delay)
            break
        time.sleep(0.0005)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.mark.slow
def test_sigkill_during_save_leaves_a_consistent_catalog(
    art: Path, mdreg_home: Path, tmp_path: Path
) -> None:
    # an 8 MB file the manifest does not list: zipping and storing take a while, so the
    # random kill points fall into every step, not only into start-up
    (art / "features.dat").write_bytes(os.urandom(8 << 20))
    rng = random.Random(5)
    t0 = time.monotonic()
    (art / "notes.txt").write_text("reference")
    ref = mdreg_proc(
        "save",
        art,
        "--quiet",
        "--no-verify",
        "--version-set",
        "crash",
        "--version-label",
        "reference",
        env={"MDREG_HOME": str(mdreg_home)},
    )
    assert ref.code == 0, ref.err
    duration = time.monotonic() - t0

    blobs, tmp = mdreg_home / "blobs" / "sha256", mdreg_home / "blobs" / "tmp"
    outcomes = {"killed": 0, "saved": 0, "absent": 0}
    killed_by_mode = [0, 0, 0]
    for trial in range(TRIALS):
        (art / "notes.txt").write_text(f"trial {trial}")  # a new artifact: a new blob each time
        label = f"t{trial}"
        before_blobs, before_tmp = _files(blobs), _files(tmp)
        proc = _save(art, label)
        mode = trial % 3
        deadline = time.monotonic() + 4 * duration + 5
        if mode == 0:  # anywhere: start-up, introspection, zip, store, commit
            time.sleep(rng.uniform(0.05, 0.9 * duration))
            _kill_when(proc, lambda: True, deadline)
        elif mode == 1:  # as soon as its staging folder or blob temp file appears
            _kill_when(proc, partial(_appeared, tmp, before_tmp, ""), deadline)
        else:  # right after the blob's rename, or a little later: before or after the commit
            delay = rng.choice([0.0, 0.0, rng.uniform(0.0, 0.05)])
            _kill_when(proc, partial(_appeared, blobs, before_blobs, ".zip"), deadline, delay)
        outcomes["killed"] += proc.returncode == -signal.SIGKILL
        killed_by_mode[mode] += proc.returncode == -signal.SIGKILL

        with LocalCatalog() as cat:
            report = cat.fsck()
            assert report.integrity == "ok" and report.missing_artifacts == [], (trial, report)
            found = [r for r in cat.list(version_set="crash") if r.version_label == label]
            if found:
                outcomes["saved"] += 1
                result = load_artifact(found[0].id, tmp_path / "loaded" / label, catalog=cat)
                assert (result.artifact_dir / "notes.txt").read_text() == f"trial {trial}"
            else:
                outcomes["absent"] += 1

    assert outcomes["killed"] >= 20, outcomes
    gc = mdreg_proc("gc", "--json", env={"MDREG_HOME": str(mdreg_home)})
    assert gc.code == 0, gc.err
    removed = json.loads(gc.out)
    with LocalCatalog() as cat:
        report = cat.fsck()
        assert report.ok and report.orphan_blobs == [], report
        assert _files(tmp) == set()  # every stale temp file and staging folder is gone
        records = cat.list()
        assert len(records) == 1 + outcomes["saved"]
        for record in records:
            load_artifact(record.id, tmp_path / "final" / record.id, catalog=cat)
    print(
        f"\n{TRIALS} trials ({duration:.2f} s a save): {outcomes}, killed by mode {killed_by_mode}, "
        f"gc removed {len(removed['removed_blobs'])} blobs, {len(removed['removed_temps'])} temps"
    )
