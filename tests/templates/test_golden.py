"""The generated score.py, as a user opens it: one golden file per framework (and PyTorch
kind), rendered from the fixed contexts in ``tests/templates/golden.py``.

A template change shows up here as a diff to review; `make golden` rewrites the files.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.templates import golden

NAMES = sorted(golden.CONTEXTS)
#: The section to edit starts within the first lines: a user sees it without scrolling far.
EDIT_SECTION_BY_LINE = 80
HOOKS = ("load_model", "deserialize", "pre_inference", "post_inference")


def _lines(name: str) -> list[str]:
    return golden.path_of(name).read_text(encoding="utf-8").splitlines()


def _line_of(lines: list[str], pattern: str) -> int:
    found = [i for i, line in enumerate(lines, 1) if re.match(pattern, line)]
    assert len(found) == 1, (pattern, found)
    return found[0]


@pytest.mark.parametrize("name", NAMES)
def test_rendering_matches_the_golden_file(name: str) -> None:
    diff = golden.diff(name)
    if diff:
        pytest.fail(
            f"score.py rendered for {name!r} differs from its golden file:\n\n{diff}\n"
            "If the template change is meant: run `make golden`, review the diff "
            "(git diff tests/golden/score) and commit it with the change.",
            pytrace=False,
        )


def test_no_golden_file_without_a_context() -> None:
    assert {p.stem for p in golden.GOLDEN_DIR.glob("*.py")} == set(golden.CONTEXTS)


@pytest.mark.parametrize("name", NAMES)
def test_the_hooks_come_first_in_one_marked_section(name: str) -> None:
    lines = _lines(name)
    edit = _line_of(lines, r"# EDIT HERE\b")
    handling = _line_of(lines, r"# Request handling: no need to edit")
    assert edit <= EDIT_SECTION_BY_LINE, f"{name}: the section to edit starts at line {edit}"
    hooks = [_line_of(lines, rf"(def|async def) {hook}\(") for hook in HOOKS]
    assert edit < hooks[0] and hooks == sorted(hooks) and hooks[-1] < handling, (name, hooks)
    # nothing but the hooks in the section (it ends at the next banner: the safety section
    # or request handling); predict() last, after everything load_model() uses
    banners = [i for i, line in enumerate(lines, 1) if re.fullmatch(r"# ={40,}", line)]
    closing = next(i for i in banners if i > edit)  # the EDIT HERE header's own frame
    end = next(i for i in banners if i > closing)
    defs = [i for i, line in enumerate(lines, 1) if re.match(r"(async )?def ", line)]
    assert [lines[i - 1].split("(")[0].split()[-1] for i in defs if edit < i < end] == list(HOOKS)
    assert lines[defs[-1] - 1].startswith("def predict(data, model=load_model()):")
    # each hook says what it gets, for this framework
    text = "\n".join(lines)
    for hook in ("deserialize", "pre_inference", "post_inference"):
        doc = text.split(f"def {hook}(", 1)[1].split('"""')[1]
        assert "Returns" in doc and len(doc.splitlines()) >= 3, (name, hook)


@pytest.mark.parametrize("name", NAMES)
def test_golden_file_compiles(name: str) -> None:
    path = golden.path_of(name)
    compile(path.read_text(encoding="utf-8"), str(path), "exec")


def test_golden_files_pass_ruff_f_and_e9() -> None:
    """No unused imports, no undefined names, no syntax errors: tests/golden/score/ruff.toml
    holds the project's settings to those rules."""
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.is_file():
        pytest.skip("ruff is not installed beside this interpreter (pip install -e '.[test]')")
    files = [str(golden.path_of(name)) for name in NAMES]
    run = subprocess.run(
        [str(ruff), "check", "--no-cache", "--output-format", "concise", *files],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("name", NAMES)
def test_literals_are_written_one_way(name: str) -> None:
    """Every literal the template writes goes through the `py` filter: no JSON spellings,
    no pprint's single-quoted strings in the constants."""
    lines = _lines(name)
    constants = lines[: _line_of(lines, r"# EDIT HERE\b")]
    for line in constants:
        if re.match(r"[A-Z_]+ = ", line):
            assert not re.search(r"\b(null|true|false)\b|json\.loads\(", line), line
            assert not re.match(r"[A-Z_]+ = .*'", line), line
