"""``mdreg serve``: run the artifact behind HTTP the way the model deployment does."""

from __future__ import annotations

import json
import sys
from enum import Enum
from typing import Annotated

import typer

from mdreg.cli._app import app
from mdreg.cli._output import note


class Device(str, Enum):  # mdreg.server.settings.DEVICES (not imported here: start-up)
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


@app.command("serve")
def serve_cmd(
    ctx: typer.Context,
    artifact: Annotated[
        str, typer.Argument(help="Artifact folder or zip, a bucket URI of a zip, or a model id.")
    ],
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", "-p", help="Port to listen on (0: any free port).")
    ] = 8080,
    workers: Annotated[
        int,
        typer.Option("--workers", "-w", help="Worker processes, each loading the model once."),
    ] = 1,
    device: Annotated[
        Device,
        typer.Option(
            "--device",
            help="auto: what score.py picks; cpu: GPUs hidden; cuda: GPUs required, the "
            "workers spread over them as on a GPU deployment.",
        ),
    ] = Device.auto,
    timeout: Annotated[
        float,
        typer.Option("--timeout", help="Seconds predict may take before a 500 (the service: 60)."),
    ] = 60.0,
    json_logs: Annotated[
        bool, typer.Option("--json-logs", help="Access log as one JSON object per line.")
    ] = False,
    trust: Annotated[
        bool,
        typer.Option("--trust", help="Load a zip or model whose pickles the scan does not clear."),
    ] = False,
) -> None:
    """Serve POST /predict and GET /health until Ctrl-C or SIGTERM (needs mdreg[serve]).

    The service's contract: JSON bodies reach predict decoded, others as bytes; 411
    without Content-Length, 413 above 10 MB, 500 when predict raises or times out, 503
    while the model loads. One access-log line per request on stderr.
    """
    from mdreg.flows.serve import serve_artifact
    from mdreg.server.settings import ServeOptions

    options = ServeOptions(
        host=host,
        port=port,
        workers=workers,
        device=device.value,
        timeout_s=timeout,
        json_logs=json_logs,
        debug=bool(ctx.find_root().params.get("debug")),
    )

    def ready(url: str) -> None:
        if json_logs:  # a log collector reads every line as JSON
            print(json.dumps({"event": "serving", "url": url, "workers": workers}), file=sys.stderr)
            return
        plural = "s" if workers > 1 else ""
        note(f"serving {artifact} at {url} ({workers} worker{plural}); Ctrl-C stops")
        note(f"  POST {url}/predict   GET {url}/health (200 once the model is loaded)")

    serve_artifact(artifact, options, ready, trust=trust, on_load=note)
    if json_logs:
        print(json.dumps({"event": "stopped"}), file=sys.stderr)
    else:
        note("stopped")
