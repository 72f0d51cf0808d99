"""Hyperparameters made JSON-safe for the catalog."""

from __future__ import annotations

import json
import math
from typing import Any


def json_safe(value: Any, depth: int = 0) -> Any:
    """Primitives as they are, containers recursively, anything else by its repr
    (an estimator inside a Pipeline, a callable, a numpy scalar)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth < 4 and isinstance(value, (list, tuple)):
        return [json_safe(v, depth + 1) for v in value]
    if depth < 4 and isinstance(value, dict):
        return {str(k): json_safe(v, depth + 1) for k, v in value.items()}
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return json_safe(item(), depth + 1)
        except (TypeError, ValueError):
            pass
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def dumps(params: dict[str, Any]) -> str:
    return json.dumps(json_safe(params), sort_keys=True)
