"""Fixtures for the catalog tests: a private $MDREG_HOME for every test, a real
scikit-learn artifact prepared once per session, and tiny hand-made artifact zips."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from mdreg.artifact.zipping import zip_artifact

SCORE_PY = "def load_model():\n    return 1\n\n\ndef predict(data, model=None):\n    return data\n"
RUNTIME_YAML = "MODEL_ARTIFACT_VERSION: '3.0'\n"


@pytest.fixture(autouse=True)
def mdreg_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own $MDREG_HOME: the real home is never touched."""
    home = tmp_path / "mdreg-home"
    monkeypatch.setenv("MDREG_HOME", str(home))
    monkeypatch.delenv("MDREG_CATALOG", raising=False)
    monkeypatch.delenv("MDREG_LOCAL_MAX_ARTIFACT_BYTES", raising=False)
    return home


@pytest.fixture(scope="session")
def prepared(iris_rf: Path, iris_x_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scikit-learn artifact made by ``mdreg.prepare`` once; copy it before changing it."""
    from mdreg import prepare

    return prepare(
        iris_rf, tmp_path_factory.mktemp("prepared") / "rf-artifact", x_sample=iris_x_csv
    ).artifact_dir


@pytest.fixture
def art(prepared: Path, tmp_path: Path) -> Path:
    """A private copy of the prepared artifact."""
    return Path(shutil.copytree(prepared, tmp_path / "rf-artifact"))


@pytest.fixture
def make_zip(tmp_path: Path) -> Callable[..., Path]:
    """``make_zip(payload=b"...")``: a tiny artifact zip; each call a distinct one."""
    counter = itertools.count()

    def make(payload: bytes | None = None) -> Path:
        n = next(counter)
        root = tmp_path / f"tiny-{n}"
        root.mkdir()
        (root / "score.py").write_text(SCORE_PY)
        (root / "runtime.yaml").write_text(RUNTIME_YAML)
        (root / "data.bin").write_bytes(payload if payload is not None else f"model {n}".encode())
        return zip_artifact(root, tmp_path / f"tiny-{n}.zip").path

    return make
