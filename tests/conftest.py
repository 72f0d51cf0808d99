"""Shared fixtures: small real models trained once per session, and ways to run the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

# The loopback OCI server's fixtures, for every test module that names them.
pytest_plugins = ["tests.oci_server.fixtures"]

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["COLUMNS"] = "200"  # fixed Rich width: tables don't wrap differently per terminal
os.environ.pop("MDREG_DEBUG", None)
# Never reach a real tenancy from the tests: the OCI backend finds no config unless a
# test hands it one (the loopback OCI server's fixtures do).
os.environ["OCI_CONFIG_LOCATION"] = os.path.join(os.path.dirname(__file__), "no-such-oci-config")


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """Run ``mdreg ARGS`` in this process through the real entry point and error boundary."""
    from mdreg.cli import main

    def run(*args: str | Path) -> Run:
        capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def mdreg_proc(
    *args: str | Path,
    cwd: Path | None = None,
    timeout: float = 300,
    env: dict[str, str] | None = None,
) -> Run:
    """Run ``python -m mdreg ARGS`` as a real subprocess."""
    proc = subprocess.run(
        [sys.executable, "-m", "mdreg", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="session")
def iris():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True, as_frame=True)
    return X, y


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def iris_rf(iris, models_dir: Path) -> Path:
    """A RandomForest on iris, joblib-dumped, with its sample as CSV beside it."""
    import joblib
    from sklearn.ensemble import RandomForestClassifier

    X, y = iris
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)
    path = models_dir / "rf.joblib"
    joblib.dump(model, path)
    X.head(20).to_csv(models_dir / "iris_x.csv", index=False)
    return path


@pytest.fixture(scope="session")
def iris_x_csv(iris_rf: Path) -> Path:
    return iris_rf.parent / "iris_x.csv"


@pytest.fixture
def artifact(iris_rf: Path, iris_x_csv: Path, tmp_path: Path) -> Path:
    """A freshly prepared scikit-learn artifact, for tests that check or break it."""
    from mdreg import prepare

    return prepare(iris_rf, tmp_path / "artifact", x_sample=iris_x_csv).artifact_dir
