"""The server's model workers: N processes (``worker.py``), each with score.py loaded
once, taking one request at a time.

The server process holds every client connection; workers only run predict. That is
what lets it keep the service's promises when a worker goes wrong: a worker that dies
mid-request (SIGKILL, a crash in native code) costs that request a 500, not a dropped
connection; a predict past the timeout gets its 500 and its worker is killed (a thread
could not be stopped); either way a replacement with the same index starts at once.
Worker i gets ``MDREG_WORKER_INDEX=i``, the slot score.py spreads GPU replicas by, so a
replacement lands on the GPU its predecessor had.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from mdreg.worker import HEADER

LOADING, READY, FAILED = "loading", "ready", "failed"


class PoolError(Exception):
    """A request the pool could not run: ``status`` and a one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Worker:
    def __init__(self, index: int, proc: asyncio.subprocess.Process) -> None:
        self.index = index
        self.proc = proc
        self.load_s: float | None = None
        self.replaced = False

    async def call(self, kind: bytes, body: bytes) -> tuple[bytes, bytes]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(HEADER.pack(kind, len(body)) + body)
        await self.proc.stdin.drain()
        return await self.read()

    async def read(self) -> tuple[bytes, bytes]:
        assert self.proc.stdout is not None
        kind, size = HEADER.unpack(await self.proc.stdout.readexactly(HEADER.size))
        return kind, await self.proc.stdout.readexactly(size)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()


class WorkerPool:
    def __init__(
        self,
        artifact_dir: str,
        size: int,
        timeout_s: float,
        on_event: Callable[[str], None],
        on_fatal: Callable[[str], None],
    ) -> None:
        self.artifact_dir = artifact_dir
        self.size = size
        self.timeout_s = timeout_s
        self._event = on_event
        self._fatal = on_fatal
        # Last in, first out: at low concurrency the same worker answers again, with
        # its caches warm (measured: 0.1-0.3 ms a request against alternating workers).
        self._idle: asyncio.LifoQueue[Worker] = asyncio.LifoQueue()
        self._workers: dict[int, Worker] = {}
        self._ready: set[int] = set()
        self._tasks: set[asyncio.Task] = set()
        self._stopping = False

    @property
    def state(self) -> str:
        return READY if self._ready else LOADING

    def ready_workers(self) -> list[dict[str, Any]]:
        """index, pid and load time of each worker that has the model loaded."""
        return [
            {"index": w.index, "pid": w.proc.pid, "load_s": w.load_s}
            for i, w in sorted(self._workers.items())
            if i in self._ready
        ]

    def start(self) -> None:
        for index in range(self.size):
            self._spawn(index)

    async def predict(self, kind: bytes, body: bytes) -> bytes:
        """The JSON answer for a body (``kind`` J: JSON, B: bytes); PoolError otherwise."""
        if not self._ready:
            raise PoolError(503, "the model is loading; retry shortly")
        worker = await self._take()
        try:
            answer_kind, payload = await asyncio.wait_for(worker.call(kind, body), self.timeout_s)
        except TimeoutError:
            self._replace(worker, "a predict timed out: the worker is stopped and replaced")
            raise PoolError(500, f"predict did not finish within {self.timeout_s:g} s") from None
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            code = await worker.proc.wait()
            self._replace(worker, f"the worker died ({_exit_text(code)}) and is replaced")
            raise PoolError(500, f"the worker died during predict ({_exit_text(code)})") from None
        self._idle.put_nowait(worker)
        if answer_kind == b"O":
            return payload
        raise PoolError(400 if answer_kind == b"X" else 500, payload.decode(errors="replace"))

    async def _take(self) -> Worker:
        """An idle live worker, waiting at most the timeout for one."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        while True:
            try:
                worker = await asyncio.wait_for(self._idle.get(), deadline - loop.time())
            except TimeoutError:
                raise PoolError(
                    503, f"every worker stayed busy for {self.timeout_s:g} s; retry"
                ) from None
            if not worker.replaced:  # one that died while idle was queued before it died
                return worker

    async def stop(self, grace_s: float = 5.0) -> None:
        """Close every worker's channel (it exits), then kill what is left after ``grace_s``."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        workers = list(self._workers.values())
        for worker in workers:
            if worker.proc.stdin is not None:
                worker.proc.stdin.close()
        for worker in workers:
            try:
                await asyncio.wait_for(worker.proc.wait(), grace_s)
            except TimeoutError:
                worker.kill()
                await worker.proc.wait()

    def kill_all(self) -> None:
        self._stopping = True
        for worker in self._workers.values():
            worker.kill()

    def _spawn(self, index: int) -> None:
        self._background(self._boot(index))

    def _background(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _replace(self, worker: Worker, why: str) -> None:
        if worker.replaced:
            return
        worker.replaced = True
        self._ready.discard(worker.index)
        worker.kill()
        if not self._stopping:
            self._event(f"worker {worker.index} (pid {worker.proc.pid}): {why}")
            self._spawn(worker.index)

    async def _boot(self, index: int) -> None:
        env = {**os.environ, "MDREG_WORKER_INDEX": str(index)}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "mdreg.worker",
            self.artifact_dir,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,  # Ctrl-C reaches the server, which stops the workers
        )
        worker = Worker(index, proc)
        self._workers[index] = worker
        try:
            kind, payload = await worker.read()
        except (asyncio.IncompleteReadError, ConnectionError):
            code = await proc.wait()
            kind, payload = (
                b"F",
                f"the worker exited ({_exit_text(code)}) before loading the model".encode(),
            )
        if kind != b"R":
            worker.kill()
            self._fatal(payload.decode(errors="replace"))
            return
        worker.load_s = json.loads(payload)["load_s"]
        self._ready.add(index)
        self._event(f"worker {index} (pid {proc.pid}) loaded the model in {worker.load_s:.2f} s")
        self._idle.put_nowait(worker)
        self._background(self._watch(worker))

    async def _watch(self, worker: Worker) -> None:
        """Replace a worker that dies while idle (one that dies in a predict is replaced
        there, with the same message)."""
        code = await worker.proc.wait()
        if not self._stopping:
            self._replace(worker, f"the worker died ({_exit_text(code)}) and is replaced")


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"
