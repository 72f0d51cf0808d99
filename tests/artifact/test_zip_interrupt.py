"""A zip killed midway leaves nothing behind, or nothing ``mdreg gc`` cannot tell apart.

SIGTERM unwinds like Ctrl-C: the temp zip is removed and mdreg exits 143 with one error
line. SIGKILL cannot be caught, so the temp file's name carries the writer's pid:
``mdreg gc FOLDER`` removes it once that process is gone, and never a live writer's.
Real subprocesses, killed while they write a zip of random (slow to deflate) data.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")

CHUNK = 8 << 20
CHUNKS = 16  # 128 MiB of random text-named data: deflated, so the zip takes seconds


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("big") / "art"
    root.mkdir()
    (root / "score.py").write_text("def load_model():\n    return 1\n")
    (root / "runtime.yaml").write_text("MODEL_ARTIFACT_VERSION: '3.0'\n")
    block = os.urandom(CHUNK)  # repeated far beyond deflate's window: still incompressible
    with (root / "weights.txt").open("wb") as f:
        for _ in range(CHUNKS):
            f.write(block)
    return root


def _partials(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.endswith(".partial"))


def _zip_then_kill(art: Path, out: Path, sig: int, home: Path) -> subprocess.CompletedProcess[str]:
    """Start ``mdreg zip``, wait until its temp zip has bytes in it, send ``sig``."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mdreg", "zip", str(art), "-o", str(out / "a.zip"), "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MDREG_HOME": str(home)},
    )
    deadline = time.monotonic() + 60
    try:
        while True:
            started = [p for p in _partials(out) if p.stat().st_size > 0]
            if started:
                break
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the zip never started"
            time.sleep(0.005)
        assert started[0].name.startswith(f".a.zip.{proc.pid}-")  # the writer's pid
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def test_sigterm_mid_zip_removes_the_temp_file(big: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    done = _zip_then_kill(big, out, signal.SIGTERM, tmp_path / "home")
    assert done.returncode == 143, done.stderr
    assert done.stderr == "error: terminated\n" and done.stdout == ""
    assert list(out.iterdir()) == []  # neither a zip nor a temp file


def test_gc_removes_a_killed_zips_temp_file_and_keeps_a_live_ones(
    big: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    home = tmp_path / "home"
    done = _zip_then_kill(big, out, signal.SIGKILL, home)
    assert done.returncode == -signal.SIGKILL
    (dead,) = _partials(out)
    live = out / f".b.zip.{os.getpid()}-0123456789ab.partial"  # this process: a zip in progress
    live.write_bytes(b"half")
    unrelated = out / ".notes.partial"
    unrelated.write_text("not mdreg's")

    def gc(*args: str) -> dict:
        proc = subprocess.run(
            [sys.executable, "-m", "mdreg", "gc", *args, "--json"],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "MDREG_HOME": str(home)},
        )
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    assert gc(str(out), "--dry-run")["removed_leftovers"] == [str(dead)]
    assert dead.exists()
    assert gc(str(out))["removed_leftovers"] == [str(dead)]
    assert sorted(p.name for p in out.iterdir()) == sorted([live.name, unrelated.name])
    assert gc()["removed_leftovers"] == []  # without folders, only the catalog's own temp files


def test_gc_refuses_a_folder_that_is_not_one(
    tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MDREG_HOME", str(tmp_path / "home"))
    r = cli("gc", tmp_path / "nope")
    assert r.code == 3 and r.err == f"error: not a folder: {tmp_path / 'nope'}\n"


def test_an_interrupt_as_zipfile_opens_an_entry_stays_the_interrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """zipfile marks an entry open, then builds its writer: an interrupt landing between
    the two (as in `mdreg zip` killed the moment its first header is written) once left
    the ZipFile refusing to close, and its ValueError replaced the interrupt. The line is
    hit deterministically, by a trace function raising there."""
    import gc
    import inspect
    import zipfile

    from mdreg.artifact.zipping import zip_artifact

    art = tmp_path / "art"
    art.mkdir()
    (art / "score.py").write_text("def load_model():\n    return 1\n")
    (art / "runtime.yaml").write_text("MODEL_ARTIFACT_VERSION: '3.0'\n")
    code = zipfile.ZipFile._open_to_write.__code__
    lines, first = inspect.getsourcelines(code)
    handover = first + next(i for i, line in enumerate(lines) if "return _ZipWriteFile" in line)

    def trace(frame, event, arg):  # noqa: ANN001, ANN202 - sys.settrace's signature
        if frame.f_code is not code:
            return None

        def local(frame, event, arg):  # noqa: ANN001, ANN202
            if event == "line" and frame.f_lineno == handover:
                raise KeyboardInterrupt
            return local

        return local

    unraisable: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    sys.settrace(trace)
    try:
        with pytest.raises(KeyboardInterrupt):
            zip_artifact(art, tmp_path / "a.zip")
    finally:
        sys.settrace(None)
    gc.collect()
    assert unraisable == []  # nor an error from a finalizer
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art"]  # no zip, no temp file
