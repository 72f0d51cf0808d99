"""The shipped completion scripts match the CLI: a new command or option makes this fail
until `make completions` is run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mdreg.cli.completions import SHELLS, command_tree, render

COMPLETIONS = Path(__file__).resolve().parent.parent / "completions"


@pytest.mark.parametrize("shell", SHELLS)
def test_completions_are_fresh(shell):
    shipped = (COMPLETIONS / f"mdreg.{shell}").read_text(encoding="utf-8")
    assert shipped == render(shell), "completions are stale: run `make completions`"


def test_tree_has_every_command():
    tree = command_tree()
    assert {"prepare", "introspect", "verify", "zip", "frameworks"} <= set(tree)
    assert "--x-sample" in tree["prepare"] and "--json" in tree["introspect"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_script_completes_commands_and_options():
    script = COMPLETIONS / "mdreg.bash"
    probe = f"""source {script}
COMP_WORDS=(mdreg prep); COMP_CWORD=1; _mdreg; echo "${{COMPREPLY[@]}}"
COMP_WORDS=(mdreg prepare --x-s); COMP_CWORD=2; _mdreg; echo "${{COMPREPLY[@]}}"
"""
    out = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["prepare", "--x-sample"]
