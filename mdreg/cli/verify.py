"""``mdreg verify``: run score.py in a clean process, as the deployment server would."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from mdreg.cli import app
from mdreg.cli._output import emit_json, error, stdout


@app.command("verify")
def verify_cmd(
    artifact: Path = typer.Argument(..., help="Artifact folder."),
    data: Optional[Path] = typer.Option(None, "--data", help="Payload file: JSON as is, or CSV/Parquet/.npy turned into JSON."),
    data_json: Optional[str] = typer.Option(None, "--data-json", help="Payload as JSON text."),
    python: Optional[str] = typer.Option(None, "--python", help="Interpreter of the inference environment."),
    timeout: float = typer.Option(300.0, "--timeout", help="Seconds before score.py and its children are killed."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Import score.py, call load_model() and predict() on a sample. Exit 1 when it fails."""
    from mdreg.checks.verify import payload_from_file, verify  # noqa: PLC0415
    from mdreg.errors import UsageError  # noqa: PLC0415

    if data is not None and data_json is not None:
        raise UsageError("give --data or --data-json, not both")
    payload = payload_from_file(data) if data is not None else data_json
    result = verify(artifact, payload, python=python, timeout=timeout)
    if as_json:
        emit_json(result.to_dict())
    elif result.ok:
        import json  # noqa: PLC0415

        out = stdout()
        out.print(f"load_model: {result.load_s * 1000:.1f} ms, predict: {result.predict_s * 1000:.1f} ms",
                  highlight=False)
        out.print_json(json.dumps(result.prediction))
    else:
        if result.traceback:
            import sys  # noqa: PLC0415

            sys.stderr.write(result.traceback)
        error(f"score.py failed at {result.stage}: {result.error}")
    if not result.ok:
        raise typer.Exit(1)
