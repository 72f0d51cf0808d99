"""Tables: plain columns when piped, Rich's boxed table on a terminal."""

from __future__ import annotations

from mdreg.cli._output import error, print_table

ROWS = [["score_py", "passed", "fine"], ["model_scan", "failed", "refs [bold]os.system[/]\nsee mdreg scan"]]


def test_piped_output_is_plain_aligned_columns(capsys, monkeypatch):
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    print_table(["key", "result", "message"], ROWS, title="art", styles={"failed": "red"})
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "art",
        "key         result  message",
        "score_py    passed  fine",
        "model_scan  failed  refs [bold]os.system[/] see mdreg scan",
    ]


def test_terminal_output_is_rich_table_with_cells_escaped(capsys, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    print_table(["key", "result", "message"], ROWS, styles={"failed": "red"})
    out = capsys.readouterr().out
    assert "┃" in out and "score_py" in out
    assert "[bold]os.system[/]" in out  # shown as written, not taken for markup


def test_an_error_is_one_line_whatever_the_exception_text(capsys):
    """Framework exceptions carry line breaks (torch's tree specs): the user gets one line."""
    error("the model could not predict: ValueError: Trying to flatten inputs:\n  TreeSpec(tuple,\n\n    [*])")
    err = capsys.readouterr().err
    assert err == "error: the model could not predict: ValueError: Trying to flatten inputs: TreeSpec(tuple, [*])\n"
