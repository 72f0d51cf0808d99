"""Jinja2 templates for score.py, shipped inside the package.

A third-party plugin names its own package in ``Framework.template_package``; its
``templates/`` folder is searched first, then mdreg's, so its templates can extend
``_score_base.py.jinja2`` like the built-in ones do.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def _environment(package: str | None) -> Any:
    import jinja2  # noqa: PLC0415 - only prepare renders templates

    loaders = [jinja2.PackageLoader(package, "templates")] if package else []
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader([*loaders, jinja2.PackageLoader("mdreg", "templates")]),
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,  # a missing variable is a bug, not an empty string
        autoescape=False,  # noqa: S701 - it writes Python source, not HTML
    )


def render(template: str, package: str | None = None, **context: Any) -> str:
    return _environment(package).get_template(template).render(**context)
