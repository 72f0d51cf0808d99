from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _mdreg_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own $MDREG_HOME: the real home is never touched."""
    home = tmp_path / "mdreg-home"
    monkeypatch.setenv("MDREG_HOME", str(home))
    return home
