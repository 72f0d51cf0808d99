"""One model worker: a process that imports score.py once and runs ``predict`` for the
server, one request at a time. Standard library only, like score.py's own world.

    python -m mdreg.worker ARTIFACT_DIR

It talks to the server over its stdin and stdout in frames: one kind byte, a 4-byte
big-endian length, then the bytes.

    server -> worker    J <JSON body>       predict(json.loads(body))
                        B <raw body>        predict(body)
    worker -> server    R <{"load_s": ..}>  score.py imported: ready
                        F <message>         score.py could not load the model (then exits)
                        O <JSON answer>     predict's return value, JSON-encoded
                        X <message>         the body is not valid JSON (a 400)
                        E <message>         predict raised, or returned what JSON cannot hold

score.py's prints would corrupt the channel, so file descriptor 1 is pointed at stderr
before score.py is imported, and 0 at /dev/null. The worker ignores SIGINT (the server
stops it: Ctrl-C in a terminal reaches the whole process group) and exits when its
stdin closes, so it never outlives the server.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import struct
import sys
import time
import traceback
from typing import Any, BinaryIO

HEADER = struct.Struct(">cI")


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def write_frame(out: BinaryIO, kind: bytes, payload: bytes) -> None:
    out.write(HEADER.pack(kind, len(payload)) + payload)
    out.flush()


def read_frame(inp: BinaryIO) -> tuple[bytes, bytes] | None:
    header = inp.read(HEADER.size)
    if len(header) < HEADER.size:
        return None  # the server closed the channel: stop
    kind, size = HEADER.unpack(header)
    body = inp.read(size)
    if len(body) < size:
        return None
    return kind, body


def _channel() -> tuple[BinaryIO, BinaryIO]:
    inp = os.fdopen(os.dup(0), "rb")
    out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)  # print() in score.py goes to the server's stderr
    return inp, out


def _load(artifact_dir: str) -> Any:
    # As the deployment does: the artifact folder is the working directory and the first
    # place imports look, so modules shipped beside score.py import.
    artifact_dir = os.path.abspath(artifact_dir)
    os.chdir(artifact_dir)
    sys.path.insert(0, artifact_dir)
    score = importlib.import_module("score")  # predict's default argument loads the model
    predict = getattr(score, "predict", None)
    if not callable(predict):
        raise AttributeError("score.py defines no predict(data) function")
    return predict


def _answer(predict: Any, kind: bytes, body: bytes, debug: bool) -> tuple[bytes, bytes]:
    data: Any = body
    if kind == b"J":
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return b"X", f"the body is not valid JSON: {exc}".encode()
    try:
        result = predict(data)
    except BaseException as exc:  # noqa: BLE001 - the user's code: reported as a 500
        if debug:
            traceback.print_exc()
        return b"E", f"predict raised {one_line(exc)}".encode()
    try:
        return b"O", json.dumps(result).encode()
    except (TypeError, ValueError) as exc:
        return b"E", f"predict returned something that is not JSON-serializable: {exc}".encode()


def main(artifact_dir: str) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    inp, out = _channel()
    debug = bool(os.environ.get("MDREG_SERVE_DEBUG"))
    start = time.perf_counter()
    try:
        predict = _load(artifact_dir)
    except BaseException as exc:  # noqa: BLE001 - any failure of the user's code
        if debug:
            traceback.print_exc()
        write_frame(out, b"F", f"score.py could not load the model: {one_line(exc)}".encode())
        return 1
    write_frame(out, b"R", json.dumps({"load_s": time.perf_counter() - start}).encode())
    while (frame := read_frame(inp)) is not None:
        write_frame(out, *_answer(predict, frame[0], frame[1], debug))
    return 0


def _exit(code: int) -> None:
    """Exit without tearing the interpreter's modules down: with pandas, scikit-learn and
    pyarrow imported that teardown takes 0.65 s of each worker's stop (0.05 s without),
    which every ``mdreg score`` run and every ``serve`` shutdown waited for. score.py's
    atexit hooks still run (logging's flush among them), and the standard streams are
    flushed; nothing else of the worker outlives it."""
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # closed, or a broken pipe: nothing to keep
            pass
    os._exit(code)


if __name__ == "__main__":
    _exit(main(sys.argv[1]))
