"""``mdreg predict``: send data to a served model and print its answer."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from mdreg.cli._app import app
from mdreg.cli._options import AuthOpt, ConfigFileOpt, DsEndpointOpt, ProfileOpt
from mdreg.cli._output import emit_json, note, stdout_is_terminal


class PayloadFormat(str, Enum):  # mdreg.payload.FORMATS (not imported here: start-up)
    json = "json"
    npy = "npy"
    safetensors = "safetensors"
    arrow = "arrow"
    parquet = "parquet"


@app.command("predict")
def predict_cmd(
    target: Annotated[
        str,
        typer.Argument(
            help="URL of a running `mdreg serve`, an OCI model deployment's predict URL, "
            "or a model deployment's OCID (its URL looked up, the request signed)."
        ),
    ],
    data: Annotated[
        str,
        typer.Option(
            "--data",
            "-d",
            help="Data file (JSON sent as it is; CSV, Parquet, .npy encoded as --payload), "
            "or - for JSON on stdin.",
        ),
    ],
    payload: Annotated[
        PayloadFormat, typer.Option("--payload", help="Request body format.")
    ] = PayloadFormat.json,
    sign: Annotated[
        bool | None,
        typer.Option(
            "--sign/--no-sign",
            help="OCI request signing [default: on for OCI service URLs, off otherwise].",
            show_default=False,
        ),
    ] = None,
    retries: Annotated[
        int, typer.Option("--retries", min=0, help="Retries of a 429 or 503, with backoff.")
    ] = 4,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for each answer.")
    ] = 65.0,
    auth: AuthOpt = None,
    profile: ProfileOpt = None,
    config_file: ConfigFileOpt = None,
    ds_endpoint: DsEndpointOpt = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print one JSON document: the answer, status, attempts, ms."),
    ] = False,
) -> None:
    """POST data to /predict and print the answer (retrying 429 and 503 as the service asks).

    Exit 5 when the server answers an error or cannot be reached; the message is the
    server's own one-line reason.
    """
    import json

    from mdreg.cli._catalog import oci_context
    from mdreg.flows.predict import predict

    source: Path | str = sys.stdin.read() if data == "-" else Path(data)

    def retrying(attempt: int, delay: float, reason: str) -> None:
        note(f"attempt {attempt}: {reason}; retrying in {delay:.1f} s")

    with oci_context(auth=auth, profile=profile, config_file=config_file, ds_endpoint=ds_endpoint):
        answer = predict(
            target,
            source,
            payload_format=payload.value,
            sign=sign,
            retries=retries,
            timeout=timeout,
            on_retry=retrying,
        )
    if as_json:
        emit_json(answer.to_dict())
    elif stdout_is_terminal():
        typer.echo(json.dumps(answer.body, indent=2))
    else:
        typer.echo(json.dumps(answer.body))
