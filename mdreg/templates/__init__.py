"""Jinja2 templates for score.py, shipped inside the package.

A third-party plugin names its own package in ``Framework.template_package``; its
``templates/`` folder is searched first, then mdreg's, so its templates can extend
``_score_base.py.jinja2`` like the built-in ones do.

Every Python value a template writes into score.py goes through one filter, ``py``
(:func:`py_literal`), so all of score.py's literals read alike: strings in double quotes,
``None``/``True``/``False``, short containers on one line and longer ones one item per
line. A plugin that hands over a literal already written as text (``repr``, ``pprint``)
has it read back first: ``{{ text | literal_eval | py }}`` (``from_json`` for JSON).
"""

from __future__ import annotations

import ast
import json
import math
from functools import cache
from typing import Any

#: Longest one-line rendering of a container; longer ones get one item per line.
ONE_LINE = 88
_INDENT = "    "


@cache
def _environment(package: str | None) -> Any:
    import jinja2  # only prepare renders templates

    loaders = [jinja2.PackageLoader(package, "templates")] if package else []
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([*loaders, jinja2.PackageLoader("mdreg", "templates")]),
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,  # a missing variable is a bug, not an empty string
        autoescape=False,  # noqa: S701 - it writes Python source, not HTML
    )
    env.filters["py"] = py_literal
    env.filters["literal_eval"] = ast.literal_eval  # a literal a plugin wrote as text
    env.filters["from_json"] = json.loads  # a value a plugin wrote as JSON
    return env


def render(template: str, package: str | None = None, **context: Any) -> str:
    return _environment(package).get_template(template).render(**context)


def py_literal(value: Any, indent: int = 0) -> str:
    """``value`` as Python source that evaluates to it: str, int, float, bool, None, and
    lists, tuples, dicts, sets and frozensets of them (sets sorted, so the text does not
    depend on hash order). ``indent``: the column the literal's first line starts at,
    for the lines after it."""
    one = _one_line(value)
    if len(one) + indent <= ONE_LINE or not isinstance(
        value, (list, tuple, dict, set, frozenset, str)
    ):
        return one
    pad, inner = _INDENT * (indent // len(_INDENT)), _INDENT * (indent // len(_INDENT) + 1)
    if isinstance(value, str):  # a long text of several lines: one string per line
        lines = value.splitlines(keepends=True)
        if len(lines) < 2:
            return one
        return "(\n" + "".join(f"{inner}{_str(line)}\n" for line in lines) + pad + ")"
    nested = len(inner)
    if isinstance(value, dict):
        items = [f"{_one_line(k)}: {py_literal(v, nested)}" for k, v in value.items()]
        open_, close = "{", "}"
    else:
        elements = sorted(value, key=_one_line) if isinstance(value, (set, frozenset)) else value
        items = [py_literal(v, nested) for v in elements]
        brackets = {list: "[]", tuple: "()"}.get(type(value), "{}")
        open_, close = brackets[0], brackets[1]
        if isinstance(value, frozenset):
            open_, close = "frozenset({", "})"
    return open_ + "\n" + "".join(f"{inner}{item},\n" for item in items) + pad + close


def _one_line(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, str):
        return _str(value)
    if isinstance(value, int):
        return repr(int(value))
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else f'float("{value}")'
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_one_line(k)}: {_one_line(v)}" for k, v in value.items()) + "}"
    if isinstance(value, tuple):
        inside = ", ".join(map(_one_line, value))
        return f"({inside},)" if len(value) == 1 else f"({inside})"
    if isinstance(value, list):
        return "[" + ", ".join(map(_one_line, value)) + "]"
    if isinstance(value, (set, frozenset)):
        inside = ", ".join(sorted(map(_one_line, value)))
        text = "{" + inside + "}" if value else "set()"
        return f"frozenset({text if value else ''})" if isinstance(value, frozenset) else text
    raise TypeError(f"score.py templates write Python literals only, not {type(value).__name__}")


def _str(text: str) -> str:
    """A string literal in double quotes, escaping only what must be escaped."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif char.isprintable():
            out.append(char)
        else:
            out.append(repr(char)[1:-1])  # \n, \t, \x00, \u2028...
    return '"' + "".join(out) + '"'
