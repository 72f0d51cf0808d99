"""The local engine of ``mdreg score``: every core of one machine.

N worker processes (``mdreg.worker``, the process ``mdreg serve`` runs score.py in) each
import score.py once. The input is read in record batches; batch k goes to worker
k mod N as an Arrow IPC stream, the binary body score.py reads itself, so its
``predict`` runs whole (deserialize, pre_inference, the model, post_inference) on
columns, with no JSON on the way in. Workers answer arrays as base64 .npy
(``MDREG_RESPONSE=npy``, score.py's own option), so no JSON lists on the way out either.

A feeder thread reads and sends batches while the main thread takes answers back in
input order and writes them: reading, predicting and writing overlap. At most 2N
batches are in flight, so the output keeps the input's order and memory stays at a few
batches whatever the input's size. With ``--on-error skip`` a failing batch is retried
on a spare worker in halves until the failing rows stand alone.

Each worker is held to one thread of the native libraries (OMP/MKL/OpenBLAS, which
torch, XGBoost and LightGBM honour) unless the environment already says otherwise: N
workers of one thread use N cores without oversubscribing them.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from mdreg.batch.outputs import ERROR_COLUMN, OutputColumn, null_arrays, prediction_arrays
from mdreg.errors import ArtifactError, MdregError, UsageError
from mdreg.worker import HEADER

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


class ScoringError(MdregError):
    """score.py failed on a batch (``--on-error fail``), or its answer does not fit."""


@dataclass
class Plan:
    columns: list[str]  # sent to score.py
    keep: list[str]  # copied from the input to the output
    outputs: list[OutputColumn]
    batch_rows: int
    workers: int
    skip_errors: bool


@dataclass
class Outcome:
    rows: int
    skipped: int  # rows written with an error instead of a prediction
    load_seconds: float  # until every worker had loaded the model


class _Worker:
    def __init__(self, artifact_dir: Path, index: int, one_thread: bool) -> None:
        env = {**os.environ, "MDREG_WORKER_INDEX": str(index), "MDREG_RESPONSE": "npy"}
        if one_thread:
            for name in THREAD_VARIABLES:
                env.setdefault(name, "1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mdreg.worker", str(artifact_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )

    def ready(self) -> None:
        kind, payload = self.receive()
        if kind != b"R":
            raise ArtifactError(payload.decode(errors="replace"))

    def send(self, body: bytes) -> None:
        stdin = cast(IO[bytes], self.proc.stdin)
        stdin.write(HEADER.pack(b"B", len(body)) + body)
        stdin.flush()

    def receive(self) -> tuple[bytes, bytes]:
        stdout = cast(IO[bytes], self.proc.stdout)
        header = stdout.read(HEADER.size)
        if len(header) < HEADER.size:
            return b"D", f"the worker died (exit code {self.proc.wait()})".encode()
        kind, size = HEADER.unpack(header)
        return kind, stdout.read(size)

    def ask(self, body: bytes) -> tuple[bytes, bytes]:
        self.send(body)
        return self.receive()

    def close(self) -> None:
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except OSError:  # a dead worker's pipe
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class _Engine:
    def __init__(self, artifact_dir: Path, plan: Plan) -> None:
        self.artifact_dir = artifact_dir
        self.plan = plan
        self.workers = [_Worker(artifact_dir, i, plan.workers > 1) for i in range(plan.workers)]
        self.spare: _Worker | None = None  # for retrying a failing batch in halves

    def close(self) -> None:
        for worker in [*self.workers, *([self.spare] if self.spare else [])]:
            worker.close()

    def run(
        self, batches: Iterator[Any], write: Callable[[Any], None], progress: Callable[[int], None]
    ) -> Outcome:
        start = time.perf_counter()
        for worker in self.workers:  # started together: their loads overlap
            worker.ready()
        load_seconds = time.perf_counter() - start
        sent: queue.Queue[Any] = queue.Queue(maxsize=2 * len(self.workers))
        stop = threading.Event()
        feeder = threading.Thread(target=self._feed, args=(batches, sent, stop), daemon=True)
        feeder.start()
        rows = skipped = 0
        try:
            while (item := sent.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                index, first, batch, worker = item
                scored, failed = self._answer(worker, index, first, batch)
                write(scored)
                rows += batch.num_rows
                skipped += failed
                progress(batch.num_rows)
        finally:
            stop.set()
        return Outcome(rows, skipped, load_seconds)

    def _feed(self, batches: Iterator[Any], sent: queue.Queue[Any], stop: threading.Event) -> None:
        """Read and send batches, at most the queue's size ahead of the writer."""
        first = 0
        try:
            for index, batch in enumerate(batches):
                worker = self.workers[index % len(self.workers)]
                item = (index, first, batch, worker)
                while not stop.is_set():
                    try:
                        sent.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
                worker.send(_ipc(batch.select(self.plan.columns)))
                first += batch.num_rows
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            sent.put(exc if not isinstance(exc, OSError) else ScoringError(_died(exc)))
            return
        sent.put(None)

    def _answer(self, worker: _Worker, index: int, first: int, batch: Any) -> tuple[Any, int]:
        """The scored batch (kept columns, predictions, error column when skipping)."""
        import pyarrow as pa

        plan = self.plan
        kind, payload = worker.receive()
        where = f"batch {index} (rows {first:,}-{first + batch.num_rows - 1:,})"
        errors: list[str | None] | None = None
        try:
            if kind == b"O":
                predictions = _fit(payload, plan.outputs, batch.num_rows)
            elif kind == b"E" and plan.skip_errors:
                predictions, errors = self._bisect(batch)
            else:
                raise ScoringError(f"{where}: {payload.decode(errors='replace')}")
        except ValueError as exc:
            raise ScoringError(f"{where}: score.py's answer does not fit: {exc}") from None
        names = plan.keep + [c.name for c in plan.outputs]
        arrays = [batch.column(name) for name in plan.keep] + predictions
        failed = 0
        if plan.skip_errors:
            names.append(ERROR_COLUMN)
            if errors is None:
                arrays.append(pa.nulls(batch.num_rows, type=pa.string()))
            else:
                arrays.append(pa.array(errors, type=pa.string()))
                failed = sum(e is not None for e in errors)
        return pa.RecordBatch.from_arrays(arrays, names=names), failed

    def _bisect(self, batch: Any) -> tuple[list[Any], list[str | None]]:
        """Predictions for the rows of ``batch`` score.py can answer, and the error of
        each row it cannot: halves are retried on the spare worker until the failing
        rows stand alone."""
        import pyarrow as pa

        if self.spare is None:
            self.spare = _Worker(self.artifact_dir, len(self.workers), self.plan.workers > 1)
            self.spare.ready()
        kind, payload = self.spare.ask(_ipc(batch.select(self.plan.columns)))
        if kind == b"O":
            return _fit(payload, self.plan.outputs, batch.num_rows), [None] * batch.num_rows
        if kind == b"D":
            raise ScoringError(payload.decode(errors="replace"))
        if batch.num_rows == 1:
            return null_arrays(self.plan.outputs, 1), [payload.decode(errors="replace")]
        half = batch.num_rows // 2
        (a, a_errors), (b, b_errors) = (
            self._bisect(batch.slice(0, half)),
            self._bisect(batch.slice(half)),
        )
        return [pa.concat_arrays([x, y]) for x, y in zip(a, b, strict=True)], a_errors + b_errors


def run(
    artifact_dir: Path,
    batches: Iterator[Any],
    write: Callable[[Any], None],
    plan: Plan,
    progress: Callable[[int], None] = lambda rows: None,
) -> Outcome:
    """Score ``batches`` (record batches) with N workers, ``write`` each scored batch in
    input order."""
    from mdreg.frameworks.spark.metadata import pipeline_model_dir

    if pipeline_model_dir(artifact_dir) is not None:  # its score.py starts a JVM per worker
        raise UsageError(
            "a Spark PipelineModel artifact is scored by Spark itself: use --engine spark "
            "(the local engine would start a JVM in each of its workers)"
        )
    engine = _Engine(artifact_dir, plan)
    try:
        return engine.run(batches, write, progress)
    finally:
        engine.close()


def _fit(payload: bytes, outputs: list[OutputColumn], rows: int) -> list[Any]:
    from mdreg.payload import decode_response

    answer = decode_response(payload)  # base64 .npy envelopes back to arrays
    if not isinstance(answer, dict) or "prediction" not in answer:
        raise ValueError('predict did not return {"prediction": ...}')
    return prediction_arrays(answer["prediction"], outputs, rows)


def _ipc(batch: Any) -> bytes:
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def _died(exc: OSError) -> str:
    return f"a worker stopped taking batches ({exc.strerror or exc}): it died"
