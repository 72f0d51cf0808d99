"""``mdreg serve`` as a real subprocess on a loopback port, and a small HTTP client.

``serve(artifact, *args)`` starts ``python -m mdreg serve ARTIFACT --port 0 ARGS``, reads
the URL from its first line, drains its stderr on a thread (the access log would
otherwise fill the pipe and stall the server), waits for /health to answer 200, and
stops the server at the end of the test.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

pytest.importorskip("uvicorn")

IRIS_ROWS = {
    "sepal length (cm)": [5.1, 6.0, 6.9],
    "sepal width (cm)": [3.5, 2.7, 3.1],
    "petal length (cm)": [1.4, 5.1, 5.4],
    "petal width (cm)": [0.2, 1.6, 2.1],
}


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    url: str,
    method: str = "POST",
    path: str = "/predict",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60,
) -> Response:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def post_json(url: str, doc: Any, timeout: float = 60) -> Response:
    return request(
        url,
        body=json.dumps(doc).encode(),
        headers={"Content-Type": "application/json"},
        timeout=timeout,
    )


@dataclass
class Server:
    proc: subprocess.Popen
    url: str = ""
    lines: list[str] = field(default_factory=list)

    def health(self) -> Response:
        return request(self.url, "GET", "/health", timeout=10)

    def wait_ready(
        self, timeout: float = 120, exclude_pids: Set[int] = frozenset(), count: int = 1
    ) -> dict:
        """/health's document once it is 200, names ``count`` workers and no pid in
        ``exclude_pids``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited {self.proc.returncode}: {self.err()}")
            try:
                resp = self.health()
                if resp.status == 200:
                    doc = resp.json()
                    pids = {w["pid"] for w in doc["workers"]}
                    if len(pids) >= count and not pids & exclude_pids:
                        return doc
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the server did not become ready: {self.err()}")

    def worker_pids(self) -> set[int]:
        return {w["pid"] for w in self.health().json()["workers"]}

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def err(self) -> str:
        return "\n".join(self.lines)


def start(artifact: Path, *args: str, env: dict[str, str] | None = None) -> Server:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mdreg", "serve", str(artifact), "--port", "0", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    server = Server(proc)
    found = threading.Event()

    def drain() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            server.lines.append(line.rstrip("\n"))
            match = re.search(r"(http://[\d.]+:\d+)", line)
            if match and not server.url:
                server.url = match.group(1)
                found.set()
        found.set()

    threading.Thread(target=drain, daemon=True).start()
    found.wait(60)
    return server


@pytest.fixture
def serve() -> Iterator[Any]:
    started: list[Server] = []

    def run(artifact: Path, *args: str, ready: bool = True, **kw: Any) -> Server:
        server = start(artifact, *args, **kw)
        started.append(server)
        if ready:
            assert server.url, server.err()
            server.wait_ready()
        return server

    yield run
    for server in started:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(10)


@pytest.fixture(scope="module")
def iris_artifact(
    iris_rf: Path, iris_x_csv: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    from mdreg import prepare

    out = tmp_path_factory.mktemp("serve") / "artifact"
    return prepare(iris_rf, out, x_sample=iris_x_csv).artifact_dir


def edited(artifact: Path, dest: Path, old: str, new: str) -> Path:
    """A copy of ``artifact`` whose score.py has ``old`` replaced by ``new`` (once): a
    user's edit, served from the folder (serve does not re-check the manifest)."""
    shutil.copytree(artifact, dest)
    score = dest / "score.py"
    text = score.read_text()
    assert old in text, f"score.py has no {old!r}"
    score.write_text(text.replace(old, new, 1))
    return dest


SLOW_PRE_INFERENCE = (
    "    return features\n",
    # Three rows sleep: a request the tests can make slow on purpose.
    "    if len(features) == 3:\n"
    "        import time\n"
    "        time.sleep(float(os.environ.get('SLOW_S', '3')))\n"
    "    return features\n",
)


def process_gone(pid: int) -> bool:
    """No such process, or a zombie (dead, not yet reaped by whoever inherited it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")
