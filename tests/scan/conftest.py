"""Fixtures for the pickle scanner: small real models, and malicious payloads
that would touch a canary file if anything ever ran them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def xy():
    from sklearn.datasets import make_classification

    return make_classification(n_samples=120, n_features=5, random_state=0)


@pytest.fixture(scope="session")
def sklearn_models(xy):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = xy
    return {
        "random_forest": RandomForestClassifier(n_estimators=4, random_state=0).fit(X, y),
        "logistic": LogisticRegression().fit(X, y),
        "pipeline": Pipeline([("scale", StandardScaler()), ("lr", LogisticRegression())]).fit(X, y),
    }


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    """A file that exists only if a payload ran; every malicious test checks it."""
    path = tmp_path / "canary"
    yield path
    assert not path.exists(), "a payload ran during the scan"


class RunsShell:
    """Unpickling this runs ``touch <canary>`` through os.system (REDUCE)."""

    def __init__(self, canary: Path) -> None:
        self.canary = canary

    def __reduce__(self):
        return (os.system, (f"touch {self.canary}",))


class RunsPopen:
    def __init__(self, canary: Path) -> None:
        self.canary = canary

    def __reduce__(self):
        return (subprocess.Popen, (["touch", str(self.canary)],))


class RunsEval:
    def __init__(self, canary: Path) -> None:
        self.canary = canary

    def __reduce__(self):
        return (eval, (f"open({str(self.canary)!r}, 'w')",))


@pytest.fixture
def runs_shell(canary: Path) -> RunsShell:
    return RunsShell(canary)


@pytest.fixture
def runs_popen(canary: Path) -> RunsPopen:
    return RunsPopen(canary)


@pytest.fixture
def runs_eval(canary: Path) -> RunsEval:
    return RunsEval(canary)
