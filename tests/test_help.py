"""--help says what a newcomer needs: the exit codes, and the choices of --framework and
--use-case-type, without importing a framework plugin to say it."""

from __future__ import annotations

import json
import subprocess
import sys

from mdreg.artifact.metadata import USE_CASE_TYPES
from mdreg.cli._help import framework_names
from mdreg.frameworks.registry import Registry


def _help(*args: str) -> str:
    run = subprocess.run(
        [sys.executable, "-m", "mdreg", *args, "--help"], capture_output=True, text=True, check=True
    )
    return " ".join(run.stdout.split())  # unwrapped


def test_root_help_ends_with_the_exit_codes():
    text = _help()
    assert "Exit codes:" in text
    for code, meaning in [
        ("0", "ok"),
        ("1", "checks failed"),
        ("2", "usage"),
        ("3", "bad input"),
        ("4", "refused as unsafe"),
        ("5", "remote or service error"),
        ("130, 143", "interrupted"),
    ]:
        assert f"{code} {meaning}" in text


def test_prepare_help_lists_the_frameworks_and_use_case_types():
    text = _help("prepare")
    names = framework_names()
    assert set(names) == set(Registry.from_entry_points().plugins)  # what --framework takes
    assert f"Choices: {', '.join(names)}." in text
    assert f"Choices: {', '.join(USE_CASE_TYPES)}." in text


def test_prepare_help_imports_no_plugin():
    code = """
import json, sys
from mdreg.cli import main
try:
    main(["prepare", "--help"])
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.startswith("mdreg.frameworks."))))
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "Choices: " in run.stdout
    assert json.loads(run.stdout.splitlines()[-1]) == ["mdreg.frameworks._entry_points"]
