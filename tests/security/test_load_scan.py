"""``mdreg load`` scans what it brings back: anything but safe is refused (exit 4, one
line naming the globals) unless --trust, and a trusted load is recorded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mdreg.artifact.manifest import write_manifest
from tests.security.conftest import EXIT, Sandbox, one_error
from tests.security.payloads import reduce_p2

pytestmark = pytest.mark.security


def _swap_model(art: Path, data: bytes) -> Path:
    """Replace the model file and rewrite the manifest to match, as an attacker would."""
    (art / "model.joblib").write_bytes(data)
    write_manifest(art, "attacker")
    return art


def _meta(art: Path) -> dict:
    return json.loads((art / ".mdreg" / "metadata.json").read_text())


def test_safe_artifact_loads(sandbox: Sandbox, artifact_copy: Path) -> None:
    r = sandbox.run("load", artifact_copy, "-o", sandbox.work / "out", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["scan_verdict"] == "safe" and doc["trusted"] is False and doc["findings"] == []
    assert "load_trust" not in _meta(sandbox.work / "out")["mdreg"]


def test_trust_loads_and_is_recorded(sandbox: Sandbox, artifact_copy: Path) -> None:
    _swap_model(artifact_copy, reduce_p2(sandbox.canary))
    out = sandbox.work / "out"
    one_error(
        sandbox.run("load", artifact_copy, "-o", out),
        code=EXIT["unsafe"],
        says="model.joblib: posix.system",
    )
    assert not out.exists()
    r = sandbox.run("load", artifact_copy, "-o", out, "--trust")
    assert r.code == 0, r.err
    assert "warning: loaded a dangerous artifact because of --trust" in r.err
    record = _meta(out)["mdreg"]["load_trust"]
    assert record == {
        "scan_verdict": "dangerous",
        "trusted": True,
        "findings": ["model.joblib: posix.system"],
    }
    r = sandbox.run("load", artifact_copy, "-o", sandbox.work / "again", "--trust", "--json")
    doc = json.loads(r.out)
    assert doc["trusted"] is True and doc["scan_verdict"] == "dangerous"


def test_trusted_at_prepare_does_not_count_at_load(sandbox: Sandbox, artifact_copy: Path) -> None:
    """The metadata travels with the artifact: whoever wrote the zip wrote ``trusted``."""
    _swap_model(artifact_copy, reduce_p2(sandbox.canary))
    path = artifact_copy / ".mdreg" / "metadata.json"
    meta = json.loads(path.read_text())
    meta["mdreg"]["trusted"] = True
    path.write_text(json.dumps(meta))
    one_error(sandbox.run("load", artifact_copy, "-o", sandbox.work / "out"), code=EXIT["unsafe"])


def test_framework_allow_list_from_the_metadata(
    sandbox: Sandbox, artifact_copy: Path, tiny_model: Path
) -> None:
    """The metadata names scikit-learn: a torch global is outside its allow-list (unknown),
    though it is on torch's."""
    data = b"\x80\x02ctorch.nn.modules.linear\nLinear\n)\x81."
    _swap_model(artifact_copy, data)
    line = one_error(
        sandbox.run("load", artifact_copy, "-o", sandbox.work / "out"),
        code=EXIT["unsafe"],
        says="unknown",
    )
    assert "torch.nn.modules.linear.Linear" in line
    meta_path = artifact_copy / ".mdreg" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["mdreg"]["framework"] = "pytorch"
    meta_path.write_text(json.dumps(meta))
    r = sandbox.run("load", artifact_copy, "-o", sandbox.work / "out2", "--json")
    assert r.code == 0, r.err


def test_unparseable_pickle_is_refused(
    sandbox: Sandbox, artifact_copy: Path, tiny_model: Path
) -> None:
    data = tiny_model.read_bytes()
    _swap_model(artifact_copy, data[: len(data) // 2])
    one_error(
        sandbox.run("load", artifact_copy, "-o", sandbox.work / "out"),
        code=EXIT["unsafe"],
        says="could not be parsed",
    )


def test_artifact_without_metadata(sandbox: Sandbox, artifact_copy: Path) -> None:
    """Not an mdreg artifact: every allow-list applies; --trust is reported, and no
    metadata file is added to the user's artifact."""
    shutil.rmtree(artifact_copy / ".mdreg")
    _swap_model(artifact_copy, reduce_p2(sandbox.canary))
    one_error(sandbox.run("load", artifact_copy, "-o", sandbox.work / "out"), code=EXIT["unsafe"])
    r = sandbox.run("load", artifact_copy, "-o", sandbox.work / "out", "--trust")
    assert r.code == 0 and "because of --trust" in r.err
    assert not (sandbox.work / "out" / ".mdreg").exists()


def test_load_by_model_id_from_the_catalog(sandbox: Sandbox, artifact_copy: Path) -> None:
    """Saved with --ignore-introspection, loaded back by id through ``python -m mdreg``:
    refused; --trust loads it. save's own verify run is refused by score.py's guarded
    unpickler first (the payload's global was never cleared), so the save skips it."""
    _swap_model(artifact_copy, reduce_p2(sandbox.canary))
    refused = sandbox.run("save", artifact_copy, "--ignore-introspection")
    assert refused.code == EXIT["failed"] and "refusing to import posix.system" in refused.err
    saved = sandbox.run("save", artifact_copy, "--ignore-introspection", "--no-verify")
    assert saved.code == 0, saved.err
    model_id = saved.out.strip()
    out = sandbox.work / "out"
    one_error(sandbox.proc("load", model_id, "-o", out), code=EXIT["unsafe"], says="posix.system")
    assert not out.exists()
    r = sandbox.proc("load", model_id, "-o", out, "--trust")
    assert r.code == 0, r.err
    assert _meta(out)["mdreg"]["load_trust"]["trusted"] is True
