"""Jinja2 templates for score.py, shipped inside the package."""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2  # noqa: PLC0415 - only prepare renders templates

    return jinja2.Environment(
        loader=jinja2.PackageLoader("mdreg", "templates"),
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,  # a missing variable is a bug, not an empty string
        autoescape=False,
    )


def render(template: str, **context: Any) -> str:
    return _environment().get_template(template).render(**context)
