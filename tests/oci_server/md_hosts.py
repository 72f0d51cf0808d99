"""The test server's model servers: each ACTIVE deployment runs a real ``mdreg serve``
subprocess on a loopback port, serving the deployed model's artifact zip, so that the
deployment's predict endpoint runs its score.py.

A host starts on a thread (writing the zip, starting the process, waiting for its
``/health`` to answer 200), so a work request poll never waits for it: the deployment's
work request simply stays IN_PROGRESS until ``ready`` is set (or ``error``). Hosts are
stopped (SIGTERM, then SIGKILL) on deactivate, delete, a model switch and when the server
stops.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

START_TIMEOUT_S = 120.0
_SERVE = (sys.executable, "-m", "mdreg", "serve")
_URL = re.compile(r"at (http://127\.0\.0\.1:\d+)")


class Host:
    def __init__(self, folder: Path, segments: list[tuple[Path, int]], workers: int = 1) -> None:
        self.folder = folder
        self.segments = segments
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.error = ""
        self.ready = threading.Event()
        self.stopped = False
        self._lock = threading.Lock()
        threading.Thread(target=self._start, name="md-host", daemon=True).start()

    @property
    def done(self) -> bool:
        return self.ready.is_set() or bool(self.error)

    def _start(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            artifact = self.folder / "artifact.zip"
            with open(artifact, "wb") as out:  # the stored blob's segments, in order
                for path, _ in self.segments:
                    with open(path, "rb") as f:
                        while chunk := f.read(1 << 20):
                            out.write(chunk)
            log = self.folder / "serve.log"
            env = {k: v for k, v in os.environ.items() if not k.startswith(("OCI_", "MDREG_OCI_"))}
            env["MDREG_HOME"] = str(self.folder / "home")
            with self._lock:
                if self.stopped:
                    return
                with open(log, "wb") as err:
                    self.proc = subprocess.Popen(
                        [*_SERVE, str(artifact), "--port", "0", "--workers", str(self.workers)],
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=err,
                        env=env,
                        start_new_session=True,
                    )
            self._wait_ready(log)
        except Exception as exc:  # noqa: BLE001 - reported as the deployment's failure
            self.error = f"{type(exc).__name__}: {exc}"

    def _wait_ready(self, log: Path) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        assert self.proc is not None
        while time.monotonic() < deadline and not self.stopped:
            if self.proc.poll() is not None:
                lines = log.read_text(errors="replace").strip().splitlines()
                self.error = (
                    f"the model server exited {self.proc.returncode}: "
                    f"{lines[-1] if lines else '(no output)'}"
                )
                return
            if not self.url:
                found = _URL.search(log.read_text(errors="replace"))
                self.url = found.group(1) if found else ""
            if self.url and _status(self.url, "GET", "/health") == 200:
                self.ready.set()
                return
            time.sleep(0.05)
        if not self.stopped:
            self.error = f"the model server did not answer /health within {START_TIMEOUT_S:.0f} s"

    def forward(self, body: bytes, content_type: str) -> tuple[int, bytes, str]:
        """POST ``body`` to the model server's /predict: (status, body, content type)."""
        parts = urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=65)
        try:
            conn.request("POST", "/predict", body=body, headers={"content-type": content_type})
            resp = conn.getresponse()
            return resp.status, resp.read(), resp.getheader("content-type") or "application/json"
        finally:
            conn.close()

    def stop(self, wait: bool = False) -> None:
        with self._lock:
            self.stopped = True
            proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return

        def reap() -> None:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(5)

        if wait:
            reap()
        else:
            threading.Thread(target=reap, daemon=True).start()


def _status(url: str, method: str, path: str) -> int:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=2)
    try:
        conn.request(method, path)
        return conn.getresponse().status
    except OSError:
        return 0
    finally:
        conn.close()


class Hosts:
    """deployment id -> its running host."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.hosts: dict[str, Host] = {}
        self.started: list[Host] = []  # every host, those still starting included
        self._n = 0
        self._lock = threading.Lock()

    def start(self, deployment_id: str, segments: list[tuple[Path, int]]) -> Host:
        with self._lock:
            self._n += 1
            host = Host(self.root / f"{deployment_id[-12:]}-{self._n}", segments)
            self.started.append(host)
            return host

    def swap(self, deployment_id: str, host: Host | None) -> None:
        """Make ``host`` the deployment's (None: none), stopping the one it replaces."""
        with self._lock:
            old = self.hosts.pop(deployment_id, None)
            if host is not None:
                self.hosts[deployment_id] = host
        if old is not None and old is not host:
            old.stop()

    def get(self, deployment_id: str) -> Host | None:
        with self._lock:
            return self.hosts.get(deployment_id)

    def stop_all(self) -> None:
        with self._lock:
            hosts = list(self.started)
            self.hosts.clear()
        for host in hosts:
            host.stop(wait=True)

    def live_pids(self) -> list[int]:
        with self._lock:
            return [h.proc.pid for h in self.hosts.values() if h.proc and h.proc.poll() is None]
