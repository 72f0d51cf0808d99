"""The allow-list enforced where the code runs: every unpickler mdreg and its score.py use
imports only the globals the scan cleared. The tests feed them streams the walker is
fooled by (or told nothing about), as a future parser trick would: the load is refused at
find_class, before the payload's callable exists, and the canary is never written."""

from __future__ import annotations

import pickle
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mdreg.scan import read_pickle_globals
from mdreg.scan.gate import load_joblib, load_pickle, torch_pickle_module

pytestmark = pytest.mark.security


@pytest.fixture
def canary(tmp_path: Path):
    """A file that exists only if a payload ran."""
    path = tmp_path / "canary"
    yield path
    assert not path.exists(), "a payload ran"


def _system(canary: Path) -> bytes:
    """Protocol 0 `os.system('touch CANARY')`: GLOBAL, MARK, STRING, TUPLE, REDUCE."""
    return f"cos\nsystem\n(S'touch {canary}'\ntR".encode()


def _straddle(canary: Path) -> bytes:
    """The FRAME straddle of issue 14: a 2-byte FRAME opens a BINBYTES whose length the
    C unpickler (reading a file) takes from after the frame; what the walker reads as
    263 bytes of data is, to it, POP then os.system. The frame is placed at offset 8191,
    the last byte of a read buffer, so the C unpickler reads it with read(2), not peek."""
    head = b"\x80\x05X" + struct.pack("<I", 8174) + b"A" * 8174 + b"0"
    head += b"\x95" + struct.pack("<Q", 2)
    assert len(head) == 8191
    code = b"\x00Z0" + _system(canary) + b"."
    return head + b"B\x07" + b"\x01\x00\x00" + code.ljust(263, b"P") + b"."


def test_straddle_runs_under_plain_pickle_load(tmp_path, canary):
    """The construction is live: plain ``pickle.load`` of the file runs its payload
    (in a child process), while the walker sees only data. That is why the gate's
    unpicklers must not rely on the walker alone."""
    f = tmp_path / "straddle.pkl"
    f.write_bytes(_straddle(canary))
    code = f"import pickle; pickle.load(open({str(f)!r}, 'rb'))"
    subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, timeout=60)
    assert canary.exists()
    canary.unlink()  # the fixture checks that nothing else wrote it


def test_guarded_pickle_refuses_what_the_walker_missed(tmp_path, canary):
    f = tmp_path / "straddle.pkl"
    f.write_bytes(_straddle(canary))
    # Suppose the walker were fooled: it found no globals, so none are cleared.
    with f.open("rb") as fh, pytest.raises(pickle.UnpicklingError, match=r"os\.system"):
        load_pickle(fh, frozenset())


def test_guarded_joblib_refuses_an_uncleared_global(tmp_path, canary):
    joblib = pytest.importorskip("joblib")
    numpy = pytest.importorskip("numpy")
    f = tmp_path / "model.joblib"
    joblib.dump({"w": numpy.arange(4.0)}, f)
    cleared = frozenset((g.module, g.name) for g in read_pickle_globals(f).globals)
    assert load_joblib(f, cleared)["w"].tolist() == [0.0, 1.0, 2.0, 3.0]
    evil = tmp_path / "evil.joblib"
    evil.write_bytes(_system(canary) + b".")
    with pytest.raises(pickle.UnpicklingError, match=r"os\.system"):
        load_joblib(evil, cleared)


def test_guarded_torch_load_refuses_an_uncleared_global(tmp_path, canary):
    torch = pytest.importorskip("torch")
    good = tmp_path / "good.pt"
    torch.save({"w": torch.ones(2)}, good)
    cleared = frozenset((g.module, g.name) for g in read_pickle_globals(good).globals)
    loaded = torch.load(good, weights_only=False, pickle_module=torch_pickle_module(cleared))
    assert loaded["w"].tolist() == [1.0, 1.0]
    # the same zip with data.pkl replaced by os.system
    evil = tmp_path / "evil.pt"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(evil, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("data.pkl"):
                data = b"\x80\x02" + _system(canary) + b"."
            dst.writestr(info, data)
    with pytest.raises(pickle.UnpicklingError, match=r"os\.system"):
        torch.load(evil, weights_only=False, pickle_module=torch_pickle_module(cleared))


def test_score_py_unpickles_only_the_globals_cleared_at_prepare(tmp_path, canary):
    """score.py (which cannot import mdreg) carries the cleared globals as PICKLE_GLOBALS;
    its loaders refuse anything else, whatever the file's sha256 check says."""
    pytest.importorskip("sklearn")
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from mdreg.flows.prepare import prepare

    X, y = load_iris(return_X_y=True)
    model = tmp_path / "model.joblib"
    joblib.dump(LogisticRegression(max_iter=200).fit(X, y), model)
    art = prepare(model, tmp_path / "art").artifact_dir
    text = (art / "score.py").read_text()
    assert '("sklearn.linear_model._logistic", "LogisticRegression"),' in text
    evil = tmp_path / "evil.joblib"
    evil.write_bytes(_system(canary) + b".")
    probe = (
        "import sys, pickle; sys.path.insert(0, sys.argv[1]); import score\n"
        "try:\n    score.load_joblib(sys.argv[2])\n"
        "except pickle.UnpicklingError as exc:\n    print('refused:', exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(art), str(evil)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert out.startswith("refused: refusing to import os.system"), out


def test_guarded_loaders_read_real_models(tmp_path):
    """Nothing a real model needs is refused: the globals the walker reports are exactly
    the ones the unpickler asks for (C pickle and joblib's Python unpickler)."""
    joblib = pytest.importorskip("joblib")
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    X, y = load_iris(return_X_y=True)
    rf = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    for protocol in (2, 3, 4, 5):
        f = tmp_path / f"rf{protocol}.pkl"
        f.write_bytes(pickle.dumps(rf, protocol=protocol))
        cleared = frozenset((g.module, g.name) for g in read_pickle_globals(f).globals)
        with f.open("rb") as fh:
            assert (load_pickle(fh, cleared).predict(X) == rf.predict(X)).all()
        for compress in (0, 3):
            j = tmp_path / f"rf{protocol}-{compress}.joblib"
            joblib.dump(rf, j, protocol=protocol, compress=compress)
            cleared = frozenset((g.module, g.name) for g in read_pickle_globals(j).globals)
            assert (load_joblib(j, cleared).predict(X) == rf.predict(X)).all()
