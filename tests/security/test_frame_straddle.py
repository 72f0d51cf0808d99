"""GitHub issue 14: pickles whose FRAME the C unpickler and an in-order reader read two
ways (see ``straddle.py``). Each case first proves itself live: the C unpickler, in a
subprocess, runs its ``touch CANARY``, where the in-order reading sees only data. Then
``mdreg scan`` calls it dangerous (exit 4) and ``mdreg prepare`` refuses it (exit 4)
without running it or writing an artifact."""

from __future__ import annotations

import gzip
import io
import json
import pickle
import subprocess
import sys
import warnings
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.security import straddle
from tests.security.conftest import EXIT, Sandbox, one_error, reported

pytestmark = pytest.mark.security

# Proof scripts, run as ``python -c SCRIPT FILE ARG``: each reads FILE as a real loader
# would. Errors after the payload ran (a missing module, persistent ids) are expected.
FILE = "import pickle, sys\npickle.load(open(sys.argv[1], 'rb'))"
BYTESIO = "import io, pickle, sys\npickle.load(io.BytesIO(open(sys.argv[1], 'rb').read()))"
# the bytes from offset ARG on: the gadget spliced into a joblib file, in place
FROM_OFFSET = (
    "import io, pickle, sys\n"
    "pickle.load(io.BytesIO(open(sys.argv[1], 'rb').read()[int(sys.argv[2]):]))"
)
MEMBER = (
    "import io, pickle, sys, zipfile\n"
    "pickle.load(io.BytesIO(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2])))"
)
TORCH = "import sys, torch\ntorch.load(sys.argv[1], weights_only=False)"
GZIP = "import gzip, pickle, sys\npickle.load(gzip.open(sys.argv[1]))"
ZLIB = (
    "import pickle, sys\nfrom joblib.compressor import BinaryZlibFile\n"
    "pickle.load(BinaryZlibFile(sys.argv[1], 'rb'))"
)
# The in-order reading of the same bytes: the pure-Python unpickler refuses them.
PYTHON = (
    "import io, pickle, sys\npickle._Unpickler(io.BytesIO(open(sys.argv[1], 'rb').read())).load()"
)


@dataclass
class Case:
    name: str
    build: Callable[[Path, Path], tuple[Path, str, str]]  # (dir, canary) -> file, proof, arg
    says: str  # in the walker's reason


def _plain(name: str, make: Callable[[Path], bytes], proof: str = FILE) -> Callable:
    def build(root: Path, canary: Path) -> tuple[Path, str, str]:
        path = root / name
        path.write_bytes(make(canary))
        return path, proof, ""

    return build


def _joblib(where: str) -> Callable:
    """(f) joblib.dump of a dict of arrays (protocol 5), the gadget spliced in right
    after the first array's data (between arrays) or after the last's. joblib.load itself
    reads with the pure-Python unpickler, which refuses a straddle (nothing runs); the
    proof runs the C unpickler on the file's bytes from the splice point on."""

    def build(root: Path, canary: Path) -> tuple[Path, str, str]:
        import joblib
        import numpy as np

        a, b = np.arange(16, dtype="<i8"), np.arange(1000, 1016, dtype="<i8")
        path = root / "model.joblib"
        joblib.dump({"a": a, "b": b, "name": "arrays"}, path, protocol=5)
        data = path.read_bytes()
        arr = a if where == "between" else b
        at = data.index(arr.tobytes()) + arr.nbytes
        path.write_bytes(straddle.splice(data, at, canary))
        return path, FROM_OFFSET, str(at)

    return build


def _compressed(kind: str) -> Callable:
    """(g) joblib's zlib and gzip formats around the 8191-edge stream. joblib.load would
    decompress and then refuse it (pure-Python unpickler); the C unpickler on the
    decompressing reader (no peek() for joblib's zlib file; gzip's peek() sees the edge)
    runs it."""

    def build(root: Path, canary: Path) -> tuple[Path, str, str]:
        data = straddle.binbytes_straddle(canary)
        path = root / f"model.joblib.{kind}"
        path.write_bytes(zlib.compress(data) if kind == "z" else gzip.compress(data))
        return path, ZLIB if kind == "z" else GZIP, ""

    return build


def _rezip(src: Path, dst: Path, member: Callable[[str], bool], canary: Path) -> str:
    """``src`` rewritten with the gadget spliced into the member ``member`` picks, right after
    its PROTO (the same member names, order and compression)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        name = next(n for n in zin.namelist() if member(n))
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info, straddle.splice(data, 2, canary) if info.filename == name else data)
    return name


def _torch(root: Path, canary: Path) -> tuple[Path, str, str]:
    """(h) torch.save of a state_dict (protocol 4: framed): torch.load reads data.pkl from
    an io.BytesIO with the C unpickler, so torch.load(weights_only=False) runs it."""
    import torch

    plain = root / "plain.pt"
    torch.save(torch.nn.Linear(2, 1).state_dict(), plain, pickle_protocol=4)
    path = root / "model.pt"
    _rezip(plain, path, lambda n: n.endswith("/data.pkl"), canary)
    return path, TORCH, ""


def _torchscript(root: Path, canary: Path) -> tuple[Path, str, str]:
    """(h) torch.jit.save: torch.jit.load reads data.pkl with torch's C++ unpickler, which
    imports no Python globals, so no real loader runs this; the proof is the C unpickler
    on the member's bytes (a protocol 2 stream: the walker refuses its FRAME outright)."""
    import torch

    plain = root / "plain.ts"
    with warnings.catch_warnings():  # torch.jit is deprecated in favour of torch.export
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(torch.nn.Linear(2, 1)), plain)
    path = root / "model.torchscript.pt"
    name = _rezip(plain, path, lambda n: n.endswith("/data.pkl"), canary)
    return path, MEMBER, name


def _keras(root: Path, canary: Path) -> tuple[Path, str, str]:
    """(h) a Keras-like zip with a pickle member: Keras itself unpickles nothing; the proof
    is a loader that reads the member into io.BytesIO and unpickles it."""
    path = root / "model.keras"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", json.dumps({"class_name": "Sequential", "config": {}}))
        z.writestr("metadata.json", json.dumps({"keras_version": "3.0.0"}))
        z.writestr("assets/tokenizer.pkl", straddle.small_straddle(canary))
    return path, MEMBER, "assets/tokenizer.pkl"


CASES = [
    Case("binbytes-at-8191", _plain("model.pkl", straddle.binbytes_straddle), "straddles"),
    Case("bytesio-small", _plain("model.pkl", straddle.small_straddle, BYTESIO), "straddles"),
    Case("text-line", _plain("model.pkl", straddle.text_line_straddle), "straddles"),
    Case("frame-in-frame", _plain("model.pkl", straddle.frame_in_frame), "unfinished frame"),
    Case("protocol-2", _plain("model.pkl", straddle.old_protocol), "protocol 2"),
    Case("joblib-between-arrays", _joblib("between"), "straddles"),
    Case("joblib-after-arrays", _joblib("after"), "straddles"),
    Case("joblib-zlib", _compressed("z"), "straddles"),
    Case("joblib-gzip", _compressed("gz"), "straddles"),
    Case("torch-zip", _torch, "straddles"),
    Case("torchscript-zip", _torchscript, "protocol 2"),
    Case("keras-zip", _keras, "straddles"),
]


def _python(sandbox: Sandbox, script: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        cwd=sandbox.work,
        env=sandbox.env(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_frame_straddle_is_refused(sandbox: Sandbox, case: Case) -> None:
    root = sandbox.root / "in"
    root.mkdir()
    model, proof, arg = case.build(root, sandbox.canary)

    # live: a real C-unpickler reading runs the payload ...
    p = _python(sandbox, proof, model, arg)
    assert sandbox.canary.exists(), f"the payload did not run\n{p.stdout}\n{p.stderr}"
    sandbox.canary.unlink()
    # ... which the in-order reading of the same stream does not
    if proof in (FILE, BYTESIO):
        p = _python(sandbox, PYTHON, model)
        assert p.returncode != 0 and "UnpicklingError" in p.stderr, p.stderr
        assert not sandbox.canary.exists()

    r = sandbox.run("scan", model)
    reported(r, code=EXIT["unsafe"])
    assert "dangerous" in r.out and case.says in r.out, r.out

    art = sandbox.work / "art"
    one_error(sandbox.run("prepare", model, "-o", art), code=EXIT["unsafe"])
    assert not sandbox.canary.exists()
    assert not art.exists()


def test_the_small_straddle_needs_a_reader_without_peek(sandbox: Sandbox) -> None:
    """(b) The same bytes from a real file (peeked 8 KiB ahead) or from memory
    (pickle.loads) read in order: only io.BytesIO runs the payload."""
    model = sandbox.file("model.pkl", straddle.small_straddle(sandbox.canary))
    for script in (FILE, "import pickle, sys\npickle.loads(open(sys.argv[1], 'rb').read())"):
        _python(sandbox, script, model)
        assert not sandbox.canary.exists()
    _python(sandbox, BYTESIO, model)
    assert sandbox.canary.exists()
    sandbox.canary.unlink()


def test_the_gadget_reads_as_bytes_in_order() -> None:
    """What the walker must not be fooled by: in order, the gadget is one bytes value and
    a POP, so a stream holding it still loads (pickle.loads reads it in order)."""
    data = b"\x80\x05" + straddle.gadget(Path("/nonexistent/canary")) + b"K\x07."
    assert pickle.loads(data) == 7
    with pytest.raises(pickle.UnpicklingError, match="exhausted before end of frame"):
        pickle._Unpickler(io.BytesIO(data)).load()  # type: ignore[attr-defined]
