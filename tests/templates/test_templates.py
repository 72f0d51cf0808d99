"""The score.py templates as text: what holds for all of them."""

from __future__ import annotations

import re
from pathlib import Path

import mdreg.templates


def test_no_template_redefines_a_function_of_the_base():
    """score.py is one flat module: a framework template's ``def _rows`` would silently
    replace the base's (or the reverse), whichever Jinja2 puts last."""
    folder = Path(mdreg.templates.__file__).parent
    defined = {
        p.name: re.findall(r"^def (\w+)", p.read_text(), re.MULTILINE)
        for p in folder.glob("*.jinja2")
    }
    base = set(defined.pop("_score_base.py.jinja2"))
    assert len(defined) >= 8
    for name, functions in defined.items():
        assert not base & set(functions), name
        assert len(functions) == len(set(functions)), name
