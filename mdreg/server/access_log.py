"""One line per request on stderr: method, path, status, bytes, milliseconds.

Text for people (``POST /predict 200 1,234 B 3.1 ms``), or one JSON object per line
with ``--json-logs`` for log collectors. The server's other events (a worker loaded
the model, died, was replaced) go the same way, so a JSON log stays all JSON.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any


class AccessLog:
    def __init__(self, json_lines: bool) -> None:
        self.json_lines = json_lines
        self.pid = os.getpid()

    def request(
        self,
        client: str,
        method: str,
        path: str,
        status: int,
        size: int,
        ms: float,
        request_id: str,
        reason: str | None = None,
    ) -> None:
        if self.json_lines:
            doc: dict[str, Any] = {
                "time": _now(),
                "pid": self.pid,
                "client": client,
                "method": method,
                "path": path,
                "status": status,
                "bytes": size,
                "ms": round(ms, 3),
                "request_id": request_id,
            }
            if reason:
                doc["error"] = reason
            self._write(json.dumps(doc))
        else:
            tail = f" - {reason}" if reason else ""
            self._write(f"{client} {method} {path} {status} {size:,} B {ms:.1f} ms{tail}")

    def event(self, message: str, **fields: Any) -> None:
        """A server event that is not a request (a worker loaded, died, replaced)."""
        if self.json_lines:
            self._write(json.dumps({"time": _now(), "pid": self.pid, "event": message, **fields}))
        else:
            extra = "".join(f" {k}={v}" for k, v in fields.items())
            self._write(f"[mdreg serve] {message}{extra}")

    @staticmethod
    def _write(line: str) -> None:
        try:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
        except (OSError, ValueError):  # stderr closed or a broken pipe: serving goes on
            pass


def _now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"
