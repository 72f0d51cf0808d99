"""The bad-input corpus: a sandbox per test, and the two ways to run the CLI on it.

Every test runs inside ``sandbox``: the working directory, $TMPDIR, $HOME and
$MDREG_HOME all point into the test's tmp folder, and at the end the sandbox checks
that nothing appeared beside that folder, that no temp file was left behind, and that
the canary file (every payload writes it) does not exist.

``sandbox.run`` runs mdreg in this process through the real entry point, capturing
file descriptors 1 and 2 (so native libraries writing to stderr are seen);
``sandbox.proc`` runs ``python -m mdreg`` as a real subprocess.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Run

EXIT = {"ok": 0, "failed": 1, "usage": 2, "input": 3, "unsafe": 4}


@dataclass
class Sandbox:
    root: Path  # the test's tmp folder
    work: Path  # the working directory
    canary: Path  # exists only if a payload ran
    home: Path  # $HOME
    mdreg_home: Path  # $MDREG_HOME
    tmp: Path  # $TMPDIR
    capfd: pytest.CaptureFixture[str]

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "HOME": str(self.home),
            "MDREG_HOME": str(self.mdreg_home),
            "TMPDIR": str(self.tmp),
            "COLUMNS": "200",
            "MDREG_DEBUG": "",
        }

    def run(self, *args: str | Path) -> Run:
        """``mdreg ARGS`` in this process (fd-level capture)."""
        from mdreg.cli import main

        self.capfd.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = self.capfd.readouterr()
        return Run(code, out, err)

    def proc(self, *args: str | Path, timeout: float = 120) -> Run:
        """``python -m mdreg ARGS`` as a subprocess, in the sandbox's environment."""
        p = subprocess.run(
            [sys.executable, "-m", "mdreg", *map(str, args)],
            cwd=self.work,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env(),
            check=False,
        )
        return Run(p.returncode, p.stdout, p.stderr)

    def file(self, name: str, data: bytes | str) -> Path:
        path = self.root / "in" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            path.write_bytes(data)
        return path


@pytest.fixture
def sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> Sandbox:
    beside = set(os.listdir(tmp_path.parent))
    box = Sandbox(
        tmp_path,
        tmp_path / "work",
        tmp_path / "canary",
        tmp_path / "home",
        tmp_path / "mdreg-home",
        tmp_path / "tmp",
        capfd,
    )
    for d in (box.work, box.home, box.tmp):
        d.mkdir()
    monkeypatch.chdir(box.work)
    monkeypatch.setenv("HOME", str(box.home))
    monkeypatch.setenv("MDREG_HOME", str(box.mdreg_home))
    monkeypatch.setenv("TMPDIR", str(box.tmp))
    monkeypatch.delenv("MDREG_DEBUG", raising=False)
    monkeypatch.delenv("MDREG_CATALOG", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(box.tmp))
    yield box
    assert not box.canary.exists(), "a payload ran"
    assert set(os.listdir(tmp_path.parent)) == beside, (
        "something was written beside the test folder"
    )
    left = sorted(p.name for p in box.tmp.iterdir())
    assert left == [], f"temporary files left behind: {left}"
    work_hidden = sorted(p.name for p in box.work.iterdir() if p.name.startswith("."))
    assert work_hidden == [], f"half-written folders left behind: {work_hidden}"


def one_error(r: Run, *, code: int, says: str | None = None) -> str:
    """The documented failure: exit ``code``, one ``error:`` line on stderr, no traceback."""
    assert r.code == code, f"exit {r.code}, expected {code}\nstdout: {r.out}\nstderr: {r.err}"
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), (
        f"stderr is not one error line:\n{r.err}"
    )
    assert "Traceback" not in r.out + r.err
    if says is not None:
        assert says in lines[0], lines[0]
    return lines[0]


def reported(r: Run, *, code: int) -> None:
    """A command that reports what it found (scan, introspect, verify): the exit code and
    no Python traceback of mdreg's own."""
    assert r.code == code, f"exit {r.code}, expected {code}\nstdout: {r.out}\nstderr: {r.err}"
    assert "Traceback" not in r.out + r.err, r.err
    assert "internal error" not in r.err, r.err


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small scikit-learn model (joblib), made once, reused by every case."""
    import joblib
    from sklearn.linear_model import LogisticRegression

    path = tmp_path_factory.mktemp("security-model") / "tiny.joblib"
    model = LogisticRegression().fit([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]], [0, 1, 1, 0])
    joblib.dump(model, path)
    return path


@pytest.fixture(scope="session")
def tiny_artifact(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An artifact prepared once from ``tiny_model``, with a sample; copy it to change it."""
    from mdreg import prepare

    root = tmp_path_factory.mktemp("security-artifact")
    sample = root / "x.json"
    sample.write_text("[[0.0, 1.0], [1.0, 1.0]]")
    return prepare(tiny_model, root / "artifact", x_sample=sample).artifact_dir


@pytest.fixture
def artifact_copy(tiny_artifact: Path, sandbox: Sandbox) -> Path:
    return Path(shutil.copytree(tiny_artifact, sandbox.root / "in" / "artifact"))
