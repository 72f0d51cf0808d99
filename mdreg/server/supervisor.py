"""``run``: the server process of ``mdreg serve``.

uvicorn (chosen by measurement: benchmarks/serve_bench.py) serves the ASGI app in this
process and owns the connections and the signals: SIGINT/SIGTERM stop it taking
connections, let in-flight requests finish (up to a predict timeout), then run the
app's shutdown, which stops the workers. The model runs in worker processes
(pool.py), so a worker that dies or hangs never takes a connection with it. A worker
that cannot load the model stops the server: ``run`` raises ArtifactError with its
one-line reason rather than answer 503 forever.
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path

from mdreg.errors import ArtifactError, FrameworkNotInstalledError, InputError, UsageError
from mdreg.server.settings import DEVICES, ServeOptions

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run(artifact_dir: Path, options: ServeOptions, on_ready: Callable[[str], None]) -> None:
    """Serve ``artifact_dir`` until SIGINT/SIGTERM. ``on_ready(url)`` is called once the
    socket is bound, before the workers load the model (/health says when they have)."""
    _check(options)
    try:
        import uvicorn
    except ImportError:
        raise FrameworkNotInstalledError("mdreg serve", "uvicorn", "serve") from None
    from mdreg.server.app import App

    if options.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # the workers inherit it; torch and TF honour it
    if options.debug:
        os.environ["MDREG_SERVE_DEBUG"] = "1"
    failures: list[str] = []
    server: uvicorn.Server | None = None

    def fatal(message: str) -> None:
        failures.append(message)
        if server is not None:
            server.should_exit = True

    app = App(str(artifact_dir.resolve()), options, fatal)
    config = uvicorn.Config(
        app,
        lifespan="on",
        access_log=False,  # ours has the size and the time (access_log.py)
        log_level="debug" if options.debug else "warning",
        server_header=False,
        timeout_graceful_shutdown=int(options.timeout_s) + 5,
    )
    server = uvicorn.Server(config)
    sock = _bind(options.host, options.port)
    host, port = sock.getsockname()[:2]
    on_ready(f"http://{_url_host(host)}:{port}")
    # uvicorn re-raises the signal that stopped it once it has shut down; for a server,
    # being stopped is the normal end, so it lands here instead of in the caller's handler.
    stopping = {sig: signal.signal(sig, lambda *_: None) for sig in _STOP_SIGNALS}
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        for sig, handler in stopping.items():
            signal.signal(sig, handler)
    if failures:
        raise ArtifactError(failures[0])


def _check(options: ServeOptions) -> None:
    if options.workers < 1:
        raise UsageError(f"--workers must be at least 1, not {options.workers}")
    if options.timeout_s <= 0:
        raise UsageError(f"--timeout must be positive, not {options.timeout_s:g}")
    if options.device not in DEVICES:
        raise UsageError(f"--device must be one of {', '.join(DEVICES)}, not {options.device!r}")
    if options.device == "cuda" and not _gpus_visible():
        raise InputError("--device cuda: no NVIDIA GPU is visible on this machine")


def _gpus_visible() -> bool:
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    gpus = Path("/proc/driver/nvidia/gpus")
    return gpus.is_dir() and any(gpus.iterdir())


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
