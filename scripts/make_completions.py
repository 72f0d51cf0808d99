"""Regenerate completions/mdreg.{bash,zsh,fish} from the CLI (`make completions`)."""

from pathlib import Path

from mdreg.cli.completions import SHELLS, render

OUT = Path(__file__).resolve().parent.parent / "completions"

if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    for shell in SHELLS:
        (OUT / f"mdreg.{shell}").write_text(render(shell), encoding="utf-8")
        print(OUT / f"mdreg.{shell}")
