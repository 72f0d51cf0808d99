"""Tables: plain columns when piped, Rich's boxed table on a terminal."""

from __future__ import annotations

from mdreg.cli._output import error, print_table

ROWS = [
    ["score_py", "passed", "fine"],
    ["model_scan", "failed", "refs [bold]os.system[/]\nsee mdreg scan"],
]


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
    error(
        "the model could not predict: ValueError: Trying to flatten inputs:\n  TreeSpec(tuple,\n\n    [*])"
    )
    err = capsys.readouterr().err
    assert (
        err
        == "error: the model could not predict: ValueError: Trying to flatten inputs: TreeSpec(tuple, [*])\n"
    )


def _record(long: str):
    from types import SimpleNamespace

    return SimpleNamespace(
        id="mdl-1",
        display_name="iris",
        description="",
        lifecycle_state="ACTIVE",
        time_created="2026-01-01T00:00:00Z",
        created_by="me",
        model_version_set_name="iris",
        version_label="v1",
        compartment_id=None,
        project_id=None,
        artifact_size=10,
        artifact_sha256="0" * 64,
        freeform_tags={},
        defined_metadata_list=[{"key": "Hyperparameters", "value": long}],
        custom_metadata_list=[{"key": "Notes", "value": long}],
        provenance={"git_commit": long},
    )


def test_show_prints_values_whole_when_piped(capsys, monkeypatch):
    """`mdreg show ID | grep ...` and `> file` get every value whole, never cut."""
    from mdreg.cli._catalog import render_record

    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    long = "x" * 300 + "END"
    render_record(_record(long))
    out = capsys.readouterr().out
    assert out.count(long) == 3 and "..." not in out and "…" not in out


def test_show_cuts_long_values_on_a_terminal(capsys, monkeypatch):
    from mdreg.cli._catalog import render_record

    monkeypatch.setenv("FORCE_COLOR", "1")
    render_record(_record("x" * 300 + "END"))
    out = capsys.readouterr().out
    assert "END" not in out and out.count("...") == 3
