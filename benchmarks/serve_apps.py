"""ASGI apps for the serve-servers section of benchmarks/serve_bench.py: the HTTP front
alone, under each server.

    trivial         reads the body, answers a fixed {"prediction": [0]}: what any server
                    costs before a model runs
    mdreg_app()     mdreg's own App (mdreg/server/app.py) with its worker pool, for a
                    server other than uvicorn (granian --factory); $SERVE_BENCH_ARTIFACT
                    names the artifact folder, $SERVE_BENCH_WORKERS the worker count
"""

from __future__ import annotations

import os

ANSWER = b'{"prediction":[0]}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(ANSWER))]


async def trivial(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": ANSWER})


def mdreg_app():
    from mdreg.server.app import App
    from mdreg.server.settings import ServeOptions

    def fatal(message: str) -> None:
        raise SystemExit(f"the worker could not load the model: {message}")

    workers = int(os.environ.get("SERVE_BENCH_WORKERS", "1"))
    return App(os.environ["SERVE_BENCH_ARTIFACT"], ServeOptions(workers=workers), fatal)
