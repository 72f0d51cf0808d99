"""What ``mdreg serve`` is asked to do, and the service's limits it keeps by default."""

from __future__ import annotations

from dataclasses import dataclass

# The service's limits ("Invoking a Model Deployment"): a body above 10 MB gets 413, and
# predict has 60 s.
MAX_BODY_BYTES = 10 * 1024 * 1024
PREDICT_TIMEOUT_S = 60.0
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    device: str = "auto"  # auto: what score.py picks; cpu: GPUs hidden; cuda: GPUs required
    timeout_s: float = PREDICT_TIMEOUT_S
    max_body_bytes: int = MAX_BODY_BYTES
    json_logs: bool = False
    debug: bool = False  # predict's tracebacks on stderr
