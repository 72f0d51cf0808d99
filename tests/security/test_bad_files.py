"""Broken model files under every model extension, folders where a file is expected, and
files whose extension lies: mdreg says what is wrong in one line and exits 3.

Every file is made here: a real-shaped file of each format (a scikit-learn joblib dump,
torch and Keras zips, HDF5, XGBoost JSON/UBJSON, a LightGBM text model, ONNX protobuf),
then cut in half, emptied, or replaced by random bytes.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import random
import zipfile
from pathlib import Path

import pytest

from tests.security.conftest import EXIT, Sandbox, one_error, reported
from tests.security.payloads import reduce_p0, torch_zip

pytestmark = pytest.mark.security

EXTENSIONS = (
    ".pkl",
    ".joblib",
    ".pt",
    ".pth",
    ".pt2",
    ".keras",
    ".h5",
    ".json",
    ".ubj",
    ".txt",
    ".onnx",
)


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


_TORCH_PKL = (
    b"\x80\x02}q\x00X\x06\x00\x00\x00weightq\x01ctorch._utils\n_rebuild_tensor_v2\n"
    b"q\x02((X\x07\x00\x00\x00storageq\x03ctorch\nFloatStorage\nq\x04X\x01\x00\x00"
    b"\x000q\x05X\x03\x00\x00\x00cpuq\x06K\x04tq\x07QK\x00K\x04\x85q\x08K\x01\x85q\t"
    b"\x89c__builtin__\nbool\nq\nN\x86q\x0bRq\x0ctq\rRq\x0es."
)


def _whole(ext: str, tiny_model: Path) -> bytes:
    """A file of the format ``ext`` names, in the shape its framework writes."""
    if ext == ".joblib":
        return tiny_model.read_bytes()
    if ext == ".pkl":
        import joblib

        return pickle.dumps(joblib.load(tiny_model), protocol=pickle.HIGHEST_PROTOCOL)
    if ext in (".pt", ".pth"):
        return _zip(
            {
                "archive/data.pkl": _TORCH_PKL,
                "archive/byteorder": b"little",
                "archive/data/0": bytes(16),
                "archive/version": b"3\n",
            }
        )
    if ext == ".pt2":
        return _zip(
            {
                "archive/archive_format": b"pt2",
                "archive/version": b"0",
                "archive/models/model.json": b"{}",
                "archive/data/weights/w": bytes(64),
            }
        )
    if ext == ".keras":
        return _zip(
            {
                "metadata.json": b'{"keras_version": "3.0.0"}',
                "config.json": b'{"class_name": "Sequential", "config": {"layers": []}}',
                "model.weights.h5": b"\x89HDF\r\n\x1a\n" + bytes(200),
            }
        )
    if ext == ".h5":
        return b"\x89HDF\r\n\x1a\n\x00\x00\x00\x00\x00\x08\x08\x00\x04\x00\x10\x00" + bytes(300)
    if ext == ".json":
        return json.dumps(
            {
                "learner": {
                    "attributes": {},
                    "feature_names": [],
                    "feature_types": [],
                    "gradient_booster": {"model": {"trees": []}, "name": "gbtree"},
                    "learner_model_param": {
                        "base_score": "5E-1",
                        "num_class": "0",
                        "num_feature": "2",
                    },
                    "objective": {"name": "reg:squarederror"},
                },
                "version": [2, 1, 0],
            }
        ).encode()
    if ext == ".ubj":
        return (
            b"{L\x00\x00\x00\x00\x00\x00\x00\x07learner{L\x00\x00\x00\x00\x00\x00\x00\x0a"
            b"attributes{}}L\x00\x00\x00\x00\x00\x00\x00\x07version[$l#i\x03"
            b"\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00\x00}"
        )
    if ext == ".txt":
        return (
            b"tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\n"
            b"max_feature_idx=1\nobjective=regression\nfeature_names=a b\n"
            b"feature_infos=none none\ntree_sizes=100\n\nTree=0\nnum_leaves=1\nnum_cat=0\n"
            b"leaf_value=0.5\nshrinkage=1\n\n\nend of trees\n"
        )
    if ext == ".onnx":
        return b"\x08\x07\x12\x07pytorch\x1a\x052.0.0:" + bytes(64)
    raise AssertionError(ext)


def _broken(kind: str, ext: str, tiny_model: Path) -> bytes:
    if kind == "empty":
        return b""
    if kind == "random":
        return random.Random(f"{kind}{ext}").randbytes(2048)
    whole = _whole(ext, tiny_model)
    return whole[: len(whole) // 2]


# The frameworks whose loaders a truncated file of that format reaches (imported once).
_LOADED_BY = {".json": "xgboost", ".ubj": "xgboost", ".h5": "tensorflow"}

CASES = [(kind, ext) for ext in EXTENSIONS for kind in ("empty", "truncated", "random")]


@pytest.mark.parametrize(("kind", "ext"), CASES, ids=[f"{k}{e}" for k, e in CASES])
def test_broken_model_file(sandbox: Sandbox, tiny_model: Path, kind: str, ext: str) -> None:
    """prepare: exit 3, one line (exit 4 for a pickle or a zip of pickles cut short: what
    cannot be parsed cannot be checked, so prepare refuses it as scan does); scan: exit 4 (a file
    that is not a readable pickle is never called safe); nothing written."""
    if kind == "truncated" and ext in _LOADED_BY:
        pytest.importorskip(_LOADED_BY[ext])
    model = sandbox.file(f"model{ext}", _broken(kind, ext, tiny_model))
    out = sandbox.work / "art"
    if kind == "truncated" and ext == ".txt":
        # LightGBM's native code writes to fd 2 (held back while it reads) and could abort
        # the process: a subprocess
        r = sandbox.proc("prepare", model, "-o", out)
        assert r.code == EXIT["input"] and "Traceback" not in r.err, r.err
        lines = r.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "[LightGBM]" not in r.err, (
            r.err
        )
    else:
        unparsed = kind == "truncated" and ext in (
            ".pkl",
            ".joblib",
            ".pt",
            ".pth",
            ".pt2",
            ".keras",
        )
        line = one_error(
            sandbox.run("prepare", model, "-o", out), code=EXIT["unsafe" if unparsed else "input"]
        )
        expected = {"empty": "an empty file", "random": "cannot tell the framework"}.get(kind)
        if expected:
            assert expected in line
    assert not out.exists()
    scan = sandbox.run("scan", model, "--json")
    reported(scan, code=EXIT["unsafe"])
    assert json.loads(scan.out)["verdict"] == "dangerous"


@pytest.mark.parametrize(
    "edit",
    [(b"num_cat=0\n", b""), (b"num_leaves=1", b"num_leaves=2"), (b"leaf_value=", b"leaf_value=1 ")],
    ids=["no_num_cat", "leaves_without_splits", "extra_leaf_value"],
)
def test_lightgbm_text_that_would_abort_the_native_loader(sandbox: Sandbox, edit) -> None:
    """LightGBM's parser aborts the process (SIGABRT) on these trees; mdreg checks each
    tree first and says what is wrong."""
    pytest.importorskip("lightgbm")
    text = _whole(".txt", Path()).replace(*edit)
    r = sandbox.proc("prepare", sandbox.file("model.txt", text), "-o", sandbox.work / "art")
    one_error(r, code=EXIT["input"], says="LightGBM text model")


def test_broken_model_as_a_subprocess(sandbox: Sandbox, tiny_model: Path) -> None:
    """The same through ``python -m mdreg``: prepare and scan."""
    model = sandbox.file("model.joblib", _broken("truncated", ".joblib", tiny_model))
    one_error(
        sandbox.proc("prepare", model, "-o", sandbox.work / "art"),
        code=EXIT["unsafe"],
        says="cannot be parsed",
    )
    r = sandbox.proc("scan", model)
    reported(r, code=EXIT["unsafe"])
    assert "dangerous" in r.out


# -- a folder (or something else) where a file is expected ---------------------------------


def test_folder_named_like_a_model(sandbox: Sandbox) -> None:
    folder = sandbox.root / "in" / "model.pkl"
    folder.mkdir(parents=True)
    (folder / "weights.bin").write_bytes(bytes(16))
    one_error(
        sandbox.run("prepare", folder, "-o", sandbox.work / "a"),
        code=EXIT["input"],
        says="a folder holding weights.bin",
    )
    empty = sandbox.root / "in" / "empty.joblib"
    empty.mkdir()
    one_error(
        sandbox.run("prepare", empty, "-o", sandbox.work / "b"),
        code=EXIT["input"],
        says="a folder holding nothing",
    )


def test_file_where_a_folder_is_expected(
    sandbox: Sandbox, tiny_model: Path, artifact_copy: Path
) -> None:
    model = sandbox.file("model.joblib", tiny_model.read_bytes())
    one_error(
        sandbox.run("verify", model, "--data-json", "[[1, 2]]"),
        code=EXIT["input"],
        says="neither a folder nor a zip",
    )
    one_error(sandbox.run("verify", sandbox.root / "in"), code=EXIT["input"], says="no score.py")
    one_error(
        sandbox.run("introspect", model), code=EXIT["input"], says="neither a folder nor a zip"
    )
    taken = sandbox.file("taken", "x")
    one_error(
        sandbox.run("prepare", model, "-o", taken),
        code=EXIT["input"],
        says="exists and is not a folder",
    )
    one_error(
        sandbox.run("load", artifact_copy, "-o", taken),
        code=EXIT["input"],
        says="exists and is not a folder",
    )
    one_error(sandbox.run("zip", model), code=EXIT["input"])


def test_folder_where_an_input_file_is_expected(
    sandbox: Sandbox, tiny_model: Path, artifact_copy: Path
) -> None:
    folder = sandbox.root / "in" / "sample.json"
    folder.mkdir(parents=True)
    one_error(
        sandbox.run("prepare", tiny_model, "-o", sandbox.work / "a", "--score-py", folder),
        code=EXIT["input"],
        says="--score-py",
    )
    one_error(
        sandbox.run("prepare", tiny_model, "-o", sandbox.work / "b", "--x-sample", folder),
        code=EXIT["input"],
    )
    one_error(sandbox.run("verify", artifact_copy, "--data", folder), code=EXIT["input"])
    assert not (sandbox.work / "a").exists() and not (sandbox.work / "b").exists()


def test_artifact_folder_whose_name_is_not_utf8(sandbox: Sandbox, artifact_copy: Path) -> None:
    """The catalog stores display names as text: a folder named in bytes that are not UTF-8
    is saved under its name with those bytes escaped; a --display-name or --tag in such
    bytes is refused (exit 3), before anything is stored."""
    folder = artifact_copy.rename(artifact_copy.with_name(os.fsdecode(b"art\xff")))
    r = sandbox.run("save", folder, "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["display_name"] == "art\\xff"
    blobs = sorted((sandbox.mdreg_home / "blobs" / "sha256").rglob("*.zip"))
    assert len(blobs) == 1
    listed = sandbox.run("list")
    assert listed.code == 0 and "art\\xff" in listed.out
    bad = os.fsdecode(b"x\xfey")
    one_error(
        sandbox.run("save", folder, "--display-name", bad),
        code=EXIT["input"],
        says="--display-name 'x\\xfey' is not valid UTF-8 text",
    )
    one_error(
        sandbox.run("save", folder, "--tag", f"team={bad}"),
        code=EXIT["input"],
        says="--tag 'team=x\\xfey' is not valid UTF-8 text",
    )
    assert sorted((sandbox.mdreg_home / "blobs" / "sha256").rglob("*.zip")) == blobs
    assert len(json.loads(sandbox.run("list", "--json").out)) == 1


def test_fifo_named_like_a_model_is_not_read(sandbox: Sandbox) -> None:
    """A FIFO would block the first read forever: scan refuses it (folders skip it)."""
    fifo = sandbox.root / "in" / "model.pkl"
    fifo.parent.mkdir(parents=True)
    os.mkfifo(fifo)
    one_error(sandbox.run("scan", fifo), code=EXIT["input"], says="not a regular file")
    reported(sandbox.run("scan", fifo.parent), code=EXIT["ok"])


def test_fifo_model_prepare(sandbox: Sandbox) -> None:
    fifo = sandbox.root / "in" / "model.pkl"
    fifo.parent.mkdir(parents=True)
    os.mkfifo(fifo)
    one_error(
        sandbox.proc("prepare", fifo, "-o", sandbox.work / "a", timeout=10), code=EXIT["input"]
    )


# -- the extension lies ------------------------------------------------------------------

WRONG_EXTENSION = [
    # (what is inside, named, prepare's exit code)
    ("malicious-pickle", ".onnx", EXIT["unsafe"]),
    ("malicious-pickle", ".h5", EXIT["unsafe"]),
    ("malicious-pickle", ".txt", EXIT["unsafe"]),
    ("malicious-pickle", ".json", EXIT["unsafe"]),
    ("malicious-torch-zip", ".joblib", EXIT["unsafe"]),
    ("csv-text", ".pkl", EXIT["input"]),
    ("plain-zip", ".joblib", EXIT["input"]),
    ("sklearn-joblib", ".onnx", EXIT["ok"]),
]


@pytest.mark.parametrize(
    ("content", "suffix", "code"),
    WRONG_EXTENSION,
    ids=[f"{c}-as{s}" for c, s, _ in WRONG_EXTENSION],
)
def test_wrong_extension(
    sandbox: Sandbox, tiny_model: Path, content: str, suffix: str, code: int
) -> None:
    """Detection and the safety gate read bytes: an extension neither hides a payload nor
    picks the loader."""
    data = {
        "malicious-pickle": lambda: reduce_p0(sandbox.canary),
        "malicious-torch-zip": lambda: torch_zip(sandbox.canary),
        "csv-text": lambda: b"a,b\n1,2\n",
        "plain-zip": lambda: _zip({"notes.txt": b"hello"}),
        "sklearn-joblib": tiny_model.read_bytes,
    }[content]()
    model = sandbox.file(f"model{suffix}", data)
    out = sandbox.work / "art"
    r = sandbox.run("prepare", model, "-o", out)
    if code == EXIT["ok"]:
        assert r.code == 0, r.err
        assert "framework: sklearn" in r.err and (out / "model.joblib").is_file()
        return
    line = one_error(r, code=code)
    if code == EXIT["unsafe"]:
        assert "system" in line and "--trust" in line
        reported(sandbox.run("scan", model), code=EXIT["unsafe"])
    assert not out.exists()
