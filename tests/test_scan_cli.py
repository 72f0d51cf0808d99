"""mdreg scan from the command line, and the scan built into introspect."""

from __future__ import annotations

import json
import pickle

from mdreg.checks.introspect import introspect


class _Evil:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.path}",))


def test_scan_safe_model(cli, iris_rf):
    run = cli("scan", iris_rf, "--json")
    assert run.code == 0, run.err
    doc = json.loads(run.out)
    assert doc["verdict"] == "safe" and doc["files"][0]["findings"] == []
    assert "safe" in cli("scan", iris_rf, "--framework", "sklearn").out


def test_scan_dangerous_model_json_and_sarif(cli, tmp_path):
    canary = tmp_path / "canary"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"w": [1.0] * 3, "x": _Evil(str(canary))}, protocol=4))
    run = cli("scan", evil, "--json")
    assert run.code == 4
    finding = json.loads(run.out)["files"][0]["findings"][0]
    assert finding["global"] in ("os.system", "posix.system") and finding["severity"] == "dangerous"
    assert isinstance(finding["offset"], int) and finding["offset"] > 0
    sarif = json.loads(cli("scan", evil, "--format", "sarif").out)
    result = sarif["runs"][0]["results"][0]
    assert (
        sarif["version"] == "2.1.0"
        and result["level"] == "error"
        and result["ruleId"] == "MDREG001"
    )
    assert result["locations"][0]["physicalLocation"]["region"]["byteOffset"] == finding["offset"]
    table = cli("scan", evil)
    assert table.code == 4 and "dangerous" in table.out
    assert not canary.exists()


def test_scan_missing_file(cli, tmp_path):
    run = cli("scan", tmp_path / "nope.pkl")
    assert run.code == 3 and run.err.startswith("error: ")


def test_introspect_flags_a_swapped_malicious_model(artifact, tmp_path):
    canary = tmp_path / "canary"
    (artifact / "model.joblib").write_bytes(pickle.dumps(_Evil(str(canary))))
    results = {r.key: r for r in introspect(artifact).results}
    assert results["model_scan"].status.value == "failed"
    assert "system" in results["model_scan"].message
    assert results["manifest"].status.value == "failed"
    assert not canary.exists()
