"""The third-party plugin example (examples/mdreg-onnx): installed the way a user would
install it, found through the ``mdreg.frameworks`` entry point, and used to prepare,
introspect and verify an ONNX model.

The example is pip-installed into a temporary ``--target`` folder (never into the project's
environment) and every mdreg command runs in a subprocess with that folder on PYTHONPATH,
so its entry point is visible only there.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import mdreg_proc

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
np = pytest.importorskip("numpy")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "mdreg-onnx"
N_FEATURES, N_OUTPUTS = 4, 3


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example, built and installed with pip into a folder of its own."""
    for needed in ("pip", "setuptools"):  # setuptools: the example's build backend, unisolated
        if importlib.util.find_spec(needed) is None:  # looked up, not imported, in this process
            pytest.skip(f"{needed} is not installed")
    root = tmp_path_factory.mktemp("mdreg-onnx")
    src = root / "src"  # a copy: the build writes build/ and *.egg-info beside the sources
    shutil.copytree(
        EXAMPLE, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    )
    site = root / "site"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--quiet",
            "--target",
            str(site),
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (site / "mdreg_onnx" / "templates" / "score_onnx.py.jinja2").is_file()
    return site


def _env(site: Path) -> dict[str, str]:
    return {"PYTHONPATH": os.pathsep.join(filter(None, (str(site), os.environ.get("PYTHONPATH"))))}


def _linear_model(path: Path, n_features: int, n_outputs: int, seed: int = 0) -> Path:
    """Y = X @ W + B, float32, built with onnx.helper (nothing downloaded)."""
    from onnx import TensorProto, helper

    rng = np.random.default_rng(seed)
    weights = rng.normal(size=(n_features, n_outputs)).astype(np.float32)
    bias = rng.normal(size=n_outputs).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["X", "W"], ["XW"]),
            helper.make_node("Add", ["XW", "B"], ["Y"]),
        ],
        "linear",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", n_features])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", n_outputs])],
        [
            helper.make_tensor("W", TensorProto.FLOAT, weights.shape, weights.ravel().tolist()),
            helper.make_tensor("B", TensorProto.FLOAT, bias.shape, bias.tolist()),
        ],
    )
    model = helper.make_model(
        graph,
        producer_name="mdreg-test",
        producer_version="1.0",
        opset_imports=[helper.make_opsetid("", 17)],
    )
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def linear(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """model.onnx (4 features -> 3 outputs) and x.npy (8 float32 rows) in one folder."""
    folder = tmp_path_factory.mktemp("onnx-model")
    _linear_model(folder / "model.onnx", N_FEATURES, N_OUTPUTS)
    rows = np.random.default_rng(1).normal(size=(8, N_FEATURES)).astype(np.float32)
    np.save(folder / "x.npy", rows)
    return folder


def _ort_predict(model: Path, rows: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return session.run(None, {"X": rows.astype(np.float32)})[0]


def test_entry_point_registers_the_plugin(plugin_site: Path):
    run = mdreg_proc("frameworks", "--json", env=_env(plugin_site))
    assert run.code == 0, run.err
    doc = json.loads(run.out)
    rows = {r["name"]: r for r in doc["frameworks"]}
    assert rows["onnx"]["plugin"] == "mdreg_onnx.OnnxFramework"
    assert rows["onnx"]["installed"] is True and rows["onnx"]["version"] == onnx.__version__
    assert not [w for w in doc["warnings"] if "onnx" in w]
    # The project's environment was left alone: without the folder there is no onnx plugin.
    plain = json.loads(mdreg_proc("frameworks", "--json").out)
    assert "onnx" not in {r["name"] for r in plain["frameworks"]}


SNIFF_SCRIPT = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from mdreg.frameworks.probe import Probe
    from mdreg.frameworks.registry import Registry

    reg = Registry.from_entry_points()
    plugin = reg.plugins["onnx"]
    out = {}
    for name in sys.argv[1:]:
        probe = Probe.of(Path(name))
        claim = plugin.sniff(probe)
        try:
            best = reg.detect(Path(name))[1].framework
        except Exception as exc:
            best = type(exc).__name__
        out[Path(name).name] = {"claim": claim and [claim.confidence, claim.evidence],
                                "detected": best}
    out["imported"] = sorted(m for m in ("onnx", "onnxruntime") if m in sys.modules)
    print(json.dumps(out))
""")


def test_sniff_reads_bytes_only(plugin_site: Path, linear: Path, tmp_path: Path):
    model = linear / "model.onnx"
    data = model.read_bytes()
    big = _linear_model(tmp_path / "big.onnx", 64, 32)  # larger than the probe's 4 KB head
    assert big.stat().st_size > 8192
    cases = {
        "model.onnx": data,
        "big.onnx": big.read_bytes(),
        "truncated.onnx": data[: len(data) // 2],  # the graph runs past the end
        "big-truncated.onnx": big.read_bytes()[:6000],
        "ir-only.onnx": b"\x08\x0a",  # a varint and nothing else: no graph
        "wrong-field.onnx": b"\x08\x0a\x1a\x02ab\x58\x01",  # field 11 is not a ModelProto field
        "huge-ir.onnx": b"\x08\xff\xff\x03\x3a\x00",
        "text.onnx": b"\x08hello world, not protobuf at all",
    }
    paths = []
    for name, payload in cases.items():
        path = tmp_path / name
        if name != "big.onnx":
            path.write_bytes(payload)
        paths.append(str(path))
    proc = subprocess.run(
        [sys.executable, "-c", SNIFF_SCRIPT, *paths],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **_env(plugin_site)},
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out.pop("imported") == []  # sniffing every plugin imported neither onnx nor onnxruntime
    confidence, evidence = out["model.onnx"]["claim"]
    assert confidence == 0.9 and out["model.onnx"]["detected"] == "onnx"
    assert evidence == (
        f"protobuf ModelProto, ir_version {onnx.load(str(model)).ir_version}, "
        "producer 'mdreg-test 1.0', opset ai.onnx 17"
    )
    assert out["big.onnx"]["claim"][0] == 0.9 and out["big.onnx"]["detected"] == "onnx"
    for name in (
        "truncated.onnx",
        "big-truncated.onnx",
        "ir-only.onnx",
        "wrong-field.onnx",
        "huge-ir.onnx",
        "text.onnx",
    ):
        assert out[name] == {"claim": None, "detected": "DetectionError"}, name


def test_prepare_introspect_verify(plugin_site: Path, linear: Path, tmp_path: Path):
    env = _env(plugin_site)
    art = tmp_path / "art"
    run = mdreg_proc(
        "prepare",
        linear / "model.onnx",
        "-o",
        art,
        "--x-sample",
        linear / "x.npy",
        cwd=tmp_path,
        env=env,
    )
    assert run.code == 0, run.err
    assert "framework: onnx (protobuf ModelProto" in run.err
    assert (art / "model.onnx").read_bytes() == (linear / "model.onnx").read_bytes()
    score = (art / "score.py").read_text()
    assert "ort.InferenceSession(path, providers=providers or None)" in score
    assert '"tensor(float)": "float32",' in score
    schema_in = json.loads((art / "input_schema.json").read_text())["schema"]
    assert [(c["name"], c["dtype"]) for c in schema_in] == [
        (i, "float32") for i in range(N_FEATURES)
    ]
    schema_out = json.loads((art / "output_schema.json").read_text())["schema"]
    assert [c["name"] for c in schema_out] == list(range(N_OUTPUTS))
    meta = json.loads((art / ".mdreg/metadata.json").read_text())
    taxonomy = {i["key"]: i["value"] for i in meta["taxonomy"]}
    assert taxonomy["Algorithm"] == "ONNX(linear)" and taxonomy["Framework"] == "other"
    assert taxonomy["FrameworkVersion"] == onnx.__version__
    assert taxonomy["Hyperparameters"]["opset"] == {"ai.onnx": 17}
    assert meta["mdreg"]["framework"] == "onnx" and meta["mdreg"]["scan_verdict"] == "not-pickle"

    run = mdreg_proc("introspect", art, "--json", env=env)
    assert run.code == 0, run.out + run.err
    report = json.loads(run.out)
    assert report["ok"] and report["counts"]["failed"] == 0, report
    results = {r["key"]: r for r in report["checks"]}
    assert results["model_framework"]["status"] == "passed"
    assert results["score_imports"]["status"] == "passed"

    run = mdreg_proc("verify", art, "--json", env=env)  # the sample kept at prepare time
    assert run.code == 0, run.out + run.err
    doc = json.loads(run.out)
    assert doc["ok"], doc
    rows = np.load(linear / "x.npy")[:5]
    got = np.asarray(doc["prediction"]["prediction"], dtype=np.float32)
    assert got.shape == (5, N_OUTPUTS)
    assert np.allclose(got, _ort_predict(linear / "model.onnx", rows), atol=1e-6)


def test_prepare_without_sample_uses_graph_input_width(
    plugin_site: Path, linear: Path, tmp_path: Path
):
    art = tmp_path / "art"
    run = mdreg_proc(
        "prepare", linear / "model.onnx", "-o", art, cwd=tmp_path, env=_env(plugin_site)
    )
    assert run.code == 0, run.err
    assert "only the feature count" in run.err
    schema_in = json.loads((art / "input_schema.json").read_text())["schema"]
    assert [c["name"] for c in schema_in] == list(range(N_FEATURES))


def test_external_data_travels_with_the_model(plugin_site: Path, linear: Path, tmp_path: Path):
    from onnx import numpy_helper

    model = onnx.load(str(linear / "model.onnx"))
    for tensor in model.graph.initializer:  # raw_data tensors, so that they can live outside
        tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor), tensor.name))
    src = tmp_path / "src"
    src.mkdir()
    onnx.save_model(
        model,
        str(src / "net.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="net.weights",
        size_threshold=0,
    )
    assert (src / "net.weights").is_file()
    art = tmp_path / "art"
    run = mdreg_proc("prepare", src / "net.onnx", "-o", art, cwd=tmp_path, env=_env(plugin_site))
    assert run.code == 0, run.err
    assert (art / "net.weights").read_bytes() == (src / "net.weights").read_bytes()
    manifest = json.loads((art / "model_artifact_manifest.json").read_text())
    assert {"model.onnx", "net.weights"} <= set(manifest["files"])
