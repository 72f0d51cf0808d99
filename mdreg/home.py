"""Where mdreg keeps its local state: ``$MDREG_HOME``, by default ``~/.mdreg`` (the local
catalog, ``config.toml``), and byte limits read from the environment."""

from __future__ import annotations

import os
from pathlib import Path

from mdreg.errors import InputError

ENV_HOME = "MDREG_HOME"
ENV_LOCAL_MAX_ARTIFACT_BYTES = "MDREG_LOCAL_MAX_ARTIFACT_BYTES"


def mdreg_home() -> Path:
    value = os.environ.get(ENV_HOME)
    return Path(value).expanduser() if value else Path.home() / ".mdreg"


def env_bytes(name: str, default: int | None) -> int | None:
    """An integer byte count from the environment (``0`` or ``none``: no limit)."""
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("0", "none", "unlimited"):
        return None
    try:
        n = int(value)
    except ValueError:
        raise InputError(f"{name}={value!r}: give a number of bytes, or 'none'") from None
    if n < 0:
        raise InputError(f"{name}={value!r}: give a number of bytes, or 'none'")
    return n
