"""The local engine of ``mdreg score``: every core of one machine.

N worker processes (``mdreg.worker``, the process ``mdreg serve`` runs score.py in) each
import score.py once. The input is read in record batches; batch k goes to worker
k mod N as an Arrow IPC stream, the binary body score.py reads itself, so its
``predict`` runs whole (deserialize, pre_inference, the model, post_inference) on
columns, with no JSON on the way in. At most N batches are in flight and answers are
taken back in input order, so the output keeps the input's order and memory stays at
about N batches whatever the input's size.

Each worker is held to one thread of the native libraries (OMP/MKL/OpenBLAS, which
torch, XGBoost and LightGBM honour) unless the environment already says otherwise: N
workers of one thread use N cores without oversubscribing them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from mdreg.batch.outputs import (
    ERROR_COLUMN,
    OutputColumn,
    null_arrays,
    prediction_arrays,
)
from mdreg.errors import ArtifactError, MdregError
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


class _Worker:
    def __init__(self, artifact_dir: Path, index: int, one_thread: bool) -> None:
        env = {**os.environ, "MDREG_WORKER_INDEX": str(index)}
        if one_thread:
            for name in THREAD_VARIABLES:
                env.setdefault(name, "1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mdreg.worker", str(artifact_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )

    def send(self, body: bytes) -> None:
        stdin = cast(IO[bytes], self.proc.stdin)
        stdin.write(HEADER.pack(b"B", len(body)) + body)
        stdin.flush()

    def receive(self) -> tuple[bytes, bytes]:
        stdout = cast(IO[bytes], self.proc.stdout)
        header = stdout.read(HEADER.size)
        if len(header) < HEADER.size:
            code = self.proc.wait()
            return b"D", f"the worker died (exit code {code})".encode()
        kind, size = HEADER.unpack(header)
        return kind, stdout.read(size)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def run(
    artifact_dir: Path,
    batches: Any,
    write: Callable[[Any], None],
    plan: Plan,
    progress: Callable[[int], None] = lambda rows: None,
) -> tuple[int, int]:
    """Score ``batches`` (an iterator of record batches), ``write`` each scored batch in
    input order; (rows scored, rows whose predict failed and were skipped)."""
    workers = [_Worker(artifact_dir, i, plan.workers > 1) for i in range(plan.workers)]
    try:
        for worker in workers:  # started together above: their loads overlap
            kind, payload = worker.receive()
            if kind != b"R":
                raise ArtifactError(payload.decode(errors="replace"))
        return _pipeline(workers, batches, write, plan, progress)
    finally:
        for worker in workers:
            worker.close()


def _pipeline(
    workers: list[_Worker],
    batches: Any,
    write: Callable[[Any], None],
    plan: Plan,
    progress: Callable[[int], None],
) -> tuple[int, int]:
    in_flight: deque[tuple[int, int, Any, _Worker]] = deque()
    rows = skipped = 0

    def finish() -> None:
        nonlocal rows, skipped
        index, first, batch, worker = in_flight.popleft()
        scored, failed = _answer(worker, index, first, batch, plan)
        write(scored)
        rows += batch.num_rows
        skipped += failed
        progress(batch.num_rows)

    for index, batch in enumerate(batches):
        if len(in_flight) == len(workers):
            finish()
        worker = workers[index % len(workers)]
        worker.send(_ipc(batch.select(plan.columns)))
        in_flight.append((index, rows + sum(b.num_rows for _, _, b, _ in in_flight), batch, worker))
    while in_flight:
        finish()
    return rows, skipped


def _answer(worker: _Worker, index: int, first: int, batch: Any, plan: Plan) -> tuple[Any, int]:
    """The scored batch (kept columns, predictions, error column when skipping)."""
    import pyarrow as pa

    kind, payload = worker.receive()
    where = f"batch {index} (rows {first:,}-{first + batch.num_rows - 1:,})"
    predictions: list[Any]
    errors: list[str | None] = [None] * batch.num_rows
    try:
        if kind == b"O":
            predictions = _fit(payload, plan.outputs, batch.num_rows)
        elif kind == b"E" and plan.skip_errors:
            predictions, errors = _bisect(worker, batch, plan)
        else:
            raise ScoringError(f"{where}: {payload.decode(errors='replace')}")
    except ValueError as exc:
        raise ScoringError(f"{where}: score.py's answer does not fit: {exc}") from None
    names = plan.keep + [c.name for c in plan.outputs]
    arrays = [batch.column(name) for name in plan.keep] + predictions
    if plan.skip_errors:
        names.append(ERROR_COLUMN)
        arrays.append(pa.array(errors, type=pa.string()))
    return pa.RecordBatch.from_arrays(arrays, names=names), sum(e is not None for e in errors)


def _bisect(worker: _Worker, batch: Any, plan: Plan) -> tuple[list[Any], list[str | None]]:
    """Predictions for the rows of ``batch`` that score.py can answer, and the error of
    each row it cannot: halves are retried until the failing rows stand alone."""
    import pyarrow as pa

    if batch.num_rows == 1:
        worker.send(_ipc(batch.select(plan.columns)))
        kind, payload = worker.receive()
        if kind == b"O":
            return _fit(payload, plan.outputs, 1), [None]
        if kind == b"D":
            raise ScoringError(payload.decode(errors="replace"))
        return null_arrays(plan.outputs, 1), [payload.decode(errors="replace")]
    half = batch.num_rows // 2
    parts = [batch.slice(0, half), batch.slice(half)]
    results: list[tuple[list[Any], list[str | None]]] = []
    for part in parts:
        worker.send(_ipc(part.select(plan.columns)))
        kind, payload = worker.receive()
        if kind == b"O":
            no_errors: list[str | None] = [None] * part.num_rows
            results.append((_fit(payload, plan.outputs, part.num_rows), no_errors))
        elif kind == b"D":
            raise ScoringError(payload.decode(errors="replace"))
        else:
            results.append(_bisect(worker, part, plan))
    columns = [
        pa.concat_arrays([results[0][0][j], results[1][0][j]]) for j in range(len(plan.outputs))
    ]
    return columns, results[0][1] + results[1][1]


def _fit(payload: bytes, outputs: list[OutputColumn], rows: int) -> list[Any]:
    import json

    answer = json.loads(payload)
    if not isinstance(answer, dict) or "prediction" not in answer:
        raise ValueError('predict did not return {"prediction": ...}')
    return prediction_arrays(answer["prediction"], outputs, rows)


def _ipc(batch: Any) -> bytes:
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue().to_pybytes()
