"""``mdreg verify``: run score.py in a clean process, as the deployment server would."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from mdreg.cli._app import app
from mdreg.cli._output import emit_json, error, stdout


class PayloadFormat(str, Enum):  # mdreg.payload.FORMATS (not imported here: start-up)
    json = "json"
    npy = "npy"
    safetensors = "safetensors"
    arrow = "arrow"
    parquet = "parquet"


class ResponseFormat(str, Enum):  # mdreg.payload.RESPONSE_FORMATS
    json = "json"
    npy = "npy"


@app.command("verify")
def verify_cmd(
    artifact: Annotated[Path, typer.Argument(help="Artifact folder or zip.")],
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Payload file: JSON, CSV, Parquet or .npy, sent as --payload "
            "(JSON files as they are).",
        ),
    ] = None,
    data_json: Annotated[
        str | None, typer.Option("--data-json", help="Payload as JSON text.")
    ] = None,
    payload: Annotated[
        PayloadFormat,
        typer.Option("--payload", help="Send the sample encoded as this request body format."),
    ] = PayloadFormat.json,
    response: Annotated[
        ResponseFormat | None,
        typer.Option(
            "--response", help="Ask score.py for this answer format (npy: arrays as base64 .npy)."
        ),
    ] = None,
    python: Annotated[
        str | None, typer.Option("--python", help="Interpreter of the inference environment.")
    ] = None,
    timeout: Annotated[
        float,
        typer.Option("--timeout", help="Seconds before score.py and its children are killed."),
    ] = 300.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Import score.py, call load_model() and predict() on a sample. Exit 1 when it fails."""
    from mdreg.checks.verify import verify
    from mdreg.errors import UsageError

    if data is not None and data_json is not None:
        raise UsageError("give --data or --data-json, not both")
    result = verify(
        artifact,
        data if data is not None else data_json,
        payload_format=payload.value,
        response=response.value if response else None,
        python=python,
        timeout=timeout,
    )
    sent = f"payload: {result.payload_format}, {result.payload_bytes:,} bytes"
    if as_json:
        emit_json(result.to_dict())
    elif result.ok:
        import json

        out = stdout()
        assert (
            result.load_s is not None and result.predict_s is not None
        )  # a passing run timed both
        out.print(
            f"{sent}; load_model: {result.load_s * 1000:.1f} ms, "
            f"predict: {result.predict_s * 1000:.1f} ms",
            highlight=False,
        )
        out.print_json(json.dumps(result.prediction))
    else:
        if result.traceback:
            import sys

            sys.stderr.write(result.traceback)
        error(f"score.py failed at {result.stage} ({sent}): {result.error}")
    if not result.ok:
        raise typer.Exit(1)
