"""Containers: torch zips, Keras zips, plain zips, folders, files that are not
pickles, and the promise that scanning imports no framework."""

from __future__ import annotations

import gzip
import io
import json
import pickle
import random
import subprocess
import sys
import tarfile
import time
import zipfile

import pytest

from mdreg.errors import InputError
from mdreg.scan import Verdict, is_pickle_like, read_pickle_globals, scan_path


def _torch_model():
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(4, 8),
        torch.nn.ReLU(),
        torch.nn.BatchNorm1d(8),
        torch.nn.Dropout(0.1),
        torch.nn.Linear(8, 2),
        torch.nn.Softmax(dim=1),
    )


@pytest.mark.parametrize("what", ["state_dict", "module", "legacy"])
def test_torch_save_is_safe_with_torch_allow_list(tmp_path, what):
    import torch

    model = _torch_model()
    path = tmp_path / "model.pt"
    if what == "legacy":
        torch.save(model.state_dict(), path, _use_new_zipfile_serialization=False)
    else:
        torch.save(model.state_dict() if what == "state_dict" else model, path)
    report = scan_path(path, ["torch"])
    assert report.verdict is Verdict.SAFE, report.findings
    (file_report,) = report.reports
    assert file_report.container == ("torch-legacy" if what == "legacy" else "torch-zip")
    assert "torch._utils._rebuild_tensor_v2" in {g.dotted for g in file_report.globals}
    # a torch model is not an sklearn one
    assert scan_path(path, ["sklearn"]).verdict is Verdict.UNKNOWN


@pytest.mark.security
def test_torch_save_with_payload(tmp_path, runs_shell):
    import torch

    path = tmp_path / "model.pt"
    torch.save({"weights": torch.zeros(3), "hook": runs_shell}, path)
    report = scan_path(path, ["torch"])
    assert report.verdict is Verdict.DANGEROUS
    (finding,) = report.findings
    assert finding.ref.dotted == "posix.system"
    assert finding.ref.where == "model/data.pkl"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torchscript_is_not_safe(tmp_path):
    import torch

    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), path)
    report = scan_path(path, ["torch"])
    assert report.reports[0].container == "torchscript-zip"
    assert report.verdict is Verdict.UNKNOWN
    assert any(f.ref.module.startswith("__torch__") for f in report.findings)


def test_keras_zip_has_no_pickle(tmp_path):
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", json.dumps({"class_name": "Sequential"}))
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.0.0"}))
        zf.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n" + bytes(64))
    report = scan_path(path)
    assert report.reports[0].container == "keras-zip"
    assert report.reports[0].streams == 0
    assert report.verdict is Verdict.SAFE


@pytest.mark.security
def test_zip_members_are_walked_in_place(tmp_path, sklearn_models, runs_shell):
    path = tmp_path / "bundle.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("model/model.pkl", pickle.dumps(sklearn_models["logistic"]))
        zf.writestr("model/extra.bin", pickle.dumps(runs_shell, protocol=4))  # found by its bytes
        zf.writestr("notes.txt", "hello")
    report = scan_path(path, ["sklearn"])
    assert report.reports[0].container == "zip"
    assert report.reports[0].streams == 2
    assert [(f.ref.dotted, f.ref.where) for f in report.findings] == [
        ("posix.system", "model/extra.bin")
    ]


def test_folder_scan(tmp_path, sklearn_models, runs_shell):
    import joblib

    artifact = tmp_path / "artifact"
    artifact.mkdir()
    joblib.dump(sklearn_models["pipeline"], artifact / "model.joblib")
    (artifact / "score.py").write_text("import joblib\n")
    (artifact / "runtime.yaml").write_text("MODEL_ARTIFACT_VERSION: '3.0'\n")
    (artifact / "labels.txt").write_text("cat\ndog\n")
    (artifact / "data.csv.gz").write_bytes(gzip.compress(b"a,b\n1,2\n"))
    with tarfile.open(artifact / "extra.tar.gz", "w:gz") as tar:
        tar.add(artifact / "score.py", arcname="score.py")
    report = scan_path(artifact, ["sklearn"])
    assert report.verdict is Verdict.SAFE
    assert [r.path.name for r in report.reports] == ["model.joblib"]

    (artifact / "sub").mkdir()
    (artifact / "sub" / "helper.pkl").write_bytes(pickle.dumps(runs_shell))
    report = scan_path(artifact, ["sklearn"])
    assert report.verdict is Verdict.DANGEROUS
    assert report.findings[0].path == artifact / "sub" / "helper.pkl"
    assert json.loads(json.dumps(report.to_dict()))["verdict"] == "dangerous"


def test_empty_folder_is_safe(tmp_path):
    assert scan_path(tmp_path).verdict is Verdict.SAFE


def test_missing_path_is_an_input_error(tmp_path):
    with pytest.raises(InputError):
        scan_path(tmp_path / "nope.pkl")


@pytest.mark.security
def test_empty_file(tmp_path):
    path = tmp_path / "model.pkl"
    path.write_bytes(b"")
    report = scan_path(path)
    (file_report,) = report.reports
    assert (file_report.container, file_report.error) == ("not-pickle", "empty file")
    assert report.verdict is Verdict.DANGEROUS
    assert not is_pickle_like(b"")


@pytest.mark.security
@pytest.mark.parametrize("seed", range(5))
def test_random_bytes(tmp_path, seed):
    data = random.Random(seed).randbytes(4096)
    path = tmp_path / "model.pkl"
    path.write_bytes(data)
    report = scan_path(path)
    assert report.reports[0].error
    assert report.verdict is Verdict.DANGEROUS
    path.write_bytes(b"\x80\x04" + data)  # pickle-like, then garbage
    report = scan_path(path)
    assert report.reports[0].error
    assert report.verdict is Verdict.DANGEROUS


def test_is_pickle_like(sklearn_models):
    model = sklearn_models["logistic"]
    for protocol in range(6):
        assert is_pickle_like(pickle.dumps(model, protocol=protocol)[:512])
    assert is_pickle_like(b"cos\nsystem\n(S'id'\ntR.")
    assert is_pickle_like(b"(lp0\nI1\na.")
    for magic in (
        b"PK\x03\x04",
        zlib_header := b"\x78\x9c",
        b"\x1f\x8b\x08",
        b"BZh9",
        b"\xfd7zXZ\x00",
        b"\x5d\x00\x00\x80\x00",
        b"ZF0x1f               ",
    ):
        assert is_pickle_like(magic + bytes(16)), magic
    assert zlib_header
    for text in (b"hello world", b"cat\ndog\nbird\n", b'{"a": 1}', b"a,b\n1,2\n", b"\x89PNG\r\n"):
        assert not is_pickle_like(text), text


def test_scanning_imports_no_framework(tmp_path, sklearn_models):
    import joblib

    path = tmp_path / "model.joblib"
    joblib.dump(sklearn_models["random_forest"], path)
    code = f"""
import sys
before = set(sys.modules)
import mdreg.scan
new = {{m.split('.')[0] for m in set(sys.modules) - before}}
assert new <= set(sys.stdlib_module_names) | {{'mdreg'}}, new
from pathlib import Path
report = mdreg.scan.read_pickle_globals(Path({str(path)!r}))
assert report.error is None and report.globals
verdict = mdreg.scan.scan_path(Path({str(path)!r}), ['sklearn']).verdict
assert verdict.value == 'safe', verdict
heavy = {{'sklearn', 'numpy', 'joblib', 'scipy', 'torch', 'pandas', 'cloudpickle'}}
assert not heavy & {{m.split('.')[0] for m in sys.modules}}, heavy & set(sys.modules)
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_throughput(tmp_path):
    import joblib
    import numpy as np

    path = tmp_path / "big.joblib"
    joblib.dump({f"w{k}": np.zeros(2_500_000) for k in range(10)}, path)  # 200 MB
    start = time.perf_counter()
    report = read_pickle_globals(path)
    elapsed = time.perf_counter() - start
    assert report.error is None
    assert path.stat().st_size / elapsed > 200e6  # array bytes are seeked over

    many = [{"id": i, "name": f"n{i}", "score": i / 3} for i in range(100_000)]
    path = tmp_path / "many.pkl"
    path.write_bytes(pickle.dumps(many, protocol=4))
    start = time.perf_counter()
    assert read_pickle_globals(path).error is None
    assert time.perf_counter() - start < 10


def test_pickle_like_head_is_enough():
    # a 512-byte head may cut a protocol 0 pickle anywhere; a shorter one is the whole file
    data = pickle.dumps({"k": list(range(1000))}, protocol=0)
    for cut in range(512, 560):
        assert is_pickle_like(data[:cut]), cut
    assert is_pickle_like(pickle.dumps([1, "a"], protocol=0))
    assert not is_pickle_like(b"import joblib\n")  # INST with a module name that cannot be
    assert not is_pickle_like(b"cat\ndog\n")  # imports at.dog, then no STOP: not a whole pickle


def test_text_member_of_zip_is_ignored(tmp_path):
    path = tmp_path / "a.zip"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("readme.md", "# model")
    path.write_bytes(buf.getvalue())
    report = read_pickle_globals(path)
    assert (report.container, report.streams, report.error) == ("zip", 0, None)


@pytest.mark.security
def test_npy_and_npz_object_arrays(tmp_path, runs_shell):
    import numpy as np

    plain = tmp_path / "plain.npy"
    np.save(plain, np.arange(10.0))
    report = read_pickle_globals(plain)
    assert (report.container, report.streams, report.error) == ("npy", 0, None)
    assert scan_path(tmp_path).reports == []  # no pickle inside: skipped in folders

    objects = np.empty(2, dtype=object)
    objects[0], objects[1] = "ok", runs_shell
    np.save(tmp_path / "objects.npy", objects, allow_pickle=True)
    report = scan_path(tmp_path / "objects.npy")
    assert report.verdict is Verdict.DANGEROUS
    assert [f.ref.dotted for f in report.findings] == ["posix.system"]

    np.savez(tmp_path / "bundle.npz", a=np.ones(3), b=objects)
    report = scan_path(tmp_path / "bundle.npz")
    assert [(f.ref.dotted, f.ref.where) for f in report.findings] == [("posix.system", "b.npy")]


@pytest.mark.security
def test_compressed_protocol_0_pickle(tmp_path, runs_shell):
    import joblib

    path = tmp_path / "model.joblib"
    joblib.dump({"k": list(range(300)), "x": runs_shell}, path, compress="gzip", protocol=0)
    report = scan_path(tmp_path)
    assert [f.ref.dotted for f in report.findings] == ["posix.system"]


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_torch_legacy_format_of_any_protocol(tmp_path, protocol):
    # torch.save(..., _use_new_zipfile_serialization=False): five pickles, then raw
    # storages; from protocol 4 the magic number's pickle is framed.
    torch = pytest.importorskip("torch")
    from mdreg.scan import Verdict, read_pickle_globals, scan_path

    f = tmp_path / f"legacy{protocol}.pt"
    torch.save(
        {"w": torch.ones(3)}, f, pickle_protocol=protocol, _use_new_zipfile_serialization=False
    )
    assert read_pickle_globals(f).container == "torch-legacy"
    assert scan_path(f, ["torch"]).verdict is Verdict.SAFE
