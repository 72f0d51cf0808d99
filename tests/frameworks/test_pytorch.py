"""PyTorch: every input form (TorchScript, torch.export .pt2, a whole pickled module, a
state_dict) prepared, introspected, verified in a subprocess and zipped; score.py predicts
what the model itself predicts on the same rows, from every request form; devices chosen
as documented (the GPU path runs only where CUDA is)."""

from __future__ import annotations

import ast
import base64
import importlib.util
import io
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mdreg.checks.introspect import introspect
from mdreg.checks.verify import verify
from mdreg.errors import EXIT_INPUT, EXIT_UNSAFE
from tests.frameworks.suite import FrameworkSuite, detect_in_fresh_interpreter, metadata, verified

torch = pytest.importorskip("torch")

pytestmark = [
    # torch 2.13 deprecates torch.jit; the fixtures still write TorchScript on purpose.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]

SUITE = FrameworkSuite(
    "pytorch",
    version=torch.__version__,
    score_modules={"numpy", "pandas", "torch"},
    score_module="torch",
)
FEATURES = ["sepal_len", "sepal_wid", "petal_len", "petal_wid"]
CODE_NAME = "torchnets"
#: The model code users pass with --model-code: written to a file by the fixture.
MODEL_CODE = '''
import torch
import torch.nn.functional as F
from torch import nn


class MLP(nn.Module):
    def __init__(self, n_in=4, hidden=16, n_out=3):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, n_out))

    def forward(self, x):
        return self.net(x)


class SmallCNN(nn.Module):
    def __init__(self, n_classes=3):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Linear(4 * 4 * 4, n_classes)

    def forward(self, x):
        return self.head(torch.flatten(self.features(x), 1))


class TwoTower(nn.Module):
    """Two inputs: features, and an id per item (an integer tensor of rank 1)."""

    def __init__(self):
        super().__init__()
        self.left, self.ids = nn.Linear(3, 2), nn.Embedding(10, 2)

    def forward(self, x, ids, scale: float = 1.0):
        return (self.left(x) + self.ids(ids)) * scale


class FnNet(nn.Module):
    """Keeps a function as an attribute: torch's weights-only reader refuses that."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.act = F.relu

    def forward(self, x):
        return self.act(self.fc(x))
'''


# -- fixtures: tiny real models, each input form saved for real ------------------------------


def _import_code(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _train(model, X, y, steps):
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(X), y).backward()
        opt.step()
    return model.eval(), opt


def _save_from(module_name: str, module, obj, path: Path, **save_kw) -> None:
    """torch.save ``obj`` while ``module`` is importable as ``module_name`` (as in training)."""
    had = sys.modules.get(module_name)
    sys.modules[module_name] = module
    try:
        torch.save(obj, path, **save_kw)
    finally:
        if had is None:
            sys.modules.pop(module_name)
        else:
            sys.modules[module_name] = had


@pytest.fixture(scope="session")
def torch_dir(tmp_path_factory) -> dict:
    """{"files": {form: path}, "models": {...}, "x": DataFrame, "images": ndarray, ...}."""
    out = tmp_path_factory.mktemp("torch")
    code_path = out / f"{CODE_NAME}.py"
    code_path.write_text(MODEL_CODE)
    nets = _import_code(code_path, CODE_NAME)
    main_ns = {"__name__": "__main__"}  # the same classes, as a training script defines them
    exec(compile(MODEL_CODE, "train.py", "exec"), main_ns)  # noqa: S102

    rng = np.random.default_rng(0)
    centers = np.array([[5.0, 3.4, 1.5, 0.2], [5.9, 2.8, 4.3, 1.3], [6.6, 3.0, 5.6, 2.0]])
    labels = np.repeat(np.arange(3), 40)
    X = pd.DataFrame(centers[labels] + rng.normal(0, 0.3, (120, 4)), columns=FEATURES)
    xt, yt = torch.tensor(X.to_numpy(), dtype=torch.float32), torch.tensor(labels)
    torch.manual_seed(0)
    mlp, opt = _train(nets.MLP(), xt, yt, 60)
    main_mlp = main_ns["MLP"]()
    main_mlp.load_state_dict(mlp.state_dict())
    fn_net, _ = _train(nets.FnNet(), xt, yt, 20)

    img_labels = np.tile(np.arange(3), 20)
    images = rng.normal(0, 0.2, (60, 1, 8, 8)).astype(np.float32)
    for i, label in enumerate(img_labels):  # the class is where the bright square is
        r, c = [(0, 0), (4, 4), (0, 4)][label]
        images[i, 0, r : r + 4, c : c + 4] += 1.0
    torch.manual_seed(0)
    cnn, _ = _train(nets.SmallCNN(), torch.from_numpy(images), torch.tensor(img_labels), 30)

    files: dict[str, Path] = {}
    for name, model, example in (("mlp", mlp, xt[:3]), ("cnn", cnn, torch.from_numpy(images[:3]))):
        files[f"{name}_script"] = out / f"{name}_script.pt"
        torch.jit.save(torch.jit.script(model), files[f"{name}_script"])
        files[f"{name}_pt2"] = out / f"{name}.pt2"
        batch = torch.export.Dim("batch")
        program = torch.export.export(model, (example,), dynamic_shapes={"x": {0: batch}})
        torch.export.save(program, files[f"{name}_pt2"])
        files[f"{name}_module"] = out / f"{name}_module.pt"
        _save_from(CODE_NAME, nets, model, files[f"{name}_module"])
        files[f"{name}_state"] = out / f"{name}_state.pt"
        torch.save(model.state_dict(), files[f"{name}_state"])
    files["mlp_pt2_batch1"] = out / "mlp_batch1.pt2"  # exported without dynamic_shapes
    torch.export.save(torch.export.export(mlp, (xt[:1],)), files["mlp_pt2_batch1"])
    files["mlp_main"] = out / "mlp_main.pt"
    main = sys.modules["__main__"]
    main.MLP = main_ns["MLP"]  # pickle checks that __main__.MLP is the class it writes
    try:
        torch.save(main_mlp, files["mlp_main"])
    finally:
        del main.MLP
    files["mlp_checkpoint"] = out / "mlp_checkpoint.pt"
    torch.save(
        {
            "epoch": 60,
            "model_state_dict": mlp.state_dict(),
            "optimizer_state_dict": opt.state_dict(),
        },
        files["mlp_checkpoint"],
    )
    files["mlp_legacy"] = out / "mlp_legacy.pt"  # torch.save's pre-1.6 format
    _save_from(CODE_NAME, nets, mlp, files["mlp_legacy"], _use_new_zipfile_serialization=False)
    files["fn_module"] = out / "fn_module.pt"
    _save_from(CODE_NAME, nets, fn_net, files["fn_module"])

    X.head(20).to_csv(out / "x.csv", index=False)
    np.save(out / "x.npy", X.head(20).to_numpy())
    np.save(out / "images.npy", images[:10])
    return {
        "dir": out,
        "code": code_path,
        "files": files,
        "x": X,
        "images": images,
        "models": {"mlp": mlp, "cnn": cnn, "fn": fn_net},
    }


def _expected(torch_dir: dict, which: str, data) -> np.ndarray:
    model = torch_dir["models"][which]
    with torch.no_grad():
        return model(torch.from_numpy(np.array(data, dtype=np.float32))).numpy()


#: form -> (file key, model, extra prepare flags); flags name files relative to the fixture dir
MLP_FORMS = {
    "torchscript": ("mlp_script", "mlp", ["--trust"]),
    "export_pt2": ("mlp_pt2", "mlp", []),
    "export_pt2_fixed_batch": ("mlp_pt2_batch1", "mlp", []),
    "pickled_module": ("mlp_module", "mlp", ["--trust", "--model-code", "CODE"]),
    "pickled_from_main": ("mlp_main", "mlp", ["--trust", "--model-code", "CODE"]),
    "state_dict": (
        "mlp_state",
        "mlp",
        ["--model-class", f"{CODE_NAME}:MLP", "--model-code", "CODE"],
    ),
    "checkpoint_dict": (
        "mlp_checkpoint",
        "mlp",
        ["--model-class", f"{CODE_NAME}:MLP", "--model-code", "CODE"],
    ),
    "module_with_function": ("fn_module", "fn", ["--trust", "--model-code", "CODE"]),
}
CNN_FORMS = {
    "torchscript": ("cnn_script", ["--trust"]),
    "export_pt2": ("cnn_pt2", []),
    "pickled_module": ("cnn_module", ["--trust", "--model-code", "CODE"]),
    "state_dict": ("cnn_state", ["--model-class", f"{CODE_NAME}:SmallCNN", "--model-code", "CODE"]),
}


def _flags(torch_dir: dict, flags: list[str]) -> list[str]:
    return [str(torch_dir["code"]) if f == "CODE" else f for f in flags]


def _trust_needed(path: Path) -> bool:
    """Whether mdreg's scan policy (not this plugin) lets the file load without --trust."""
    from mdreg.scan import judge, read_pickle_globals

    verdict, _ = judge(read_pickle_globals(path).globals, ["torch"])
    return verdict.value != "safe"


# -- every input form, end to end -------------------------------------------------------------


@pytest.mark.parametrize("form", sorted(MLP_FORMS))
def test_mlp_forms_prepare_verify_zip(cli, torch_dir, tmp_path, form):
    key, which, flags = MLP_FORMS[form]
    model_file = "model.pt2" if form.startswith("export") else "model.pt"
    done = SUITE.end_to_end(
        cli,
        torch_dir["files"][key],
        tmp_path,
        "--x-sample",
        torch_dir["dir"] / "x.csv",
        *_flags(torch_dir, flags),
        expected=_expected(torch_dir, which, torch_dir["x"].head(5)),
        model_file=model_file,
        atol=1e-5,  # the 5 sample rows kept at prepare
        taxonomy={"Algorithm": "FnNet" if which == "fn" else "MLP"},
    )
    assert done.taxonomy["Hyperparameters"]["parameters"] > 0
    if "--model-code" in flags:
        assert (done.art / f"{CODE_NAME}.py").read_text() == MODEL_CODE
    schema = json.loads((done.art / "input_schema.json").read_text())
    assert [c["name"] for c in schema["schema"]] == FEATURES
    assert "on cpu" in done.result.stderr


def test_input_dtype_follows_the_model():
    from mdreg.frameworks.pytorch.inputs import model_inputs
    from mdreg.frameworks.pytorch.model import TorchModel

    nn = torch.nn
    embed = nn.Sequential(nn.Embedding(10, 3), nn.Flatten(), nn.Linear(6, 2))
    assert model_inputs(TorchModel("module", embed)).dtype == "int64"
    assert model_inputs(TorchModel("module", torch.nn.Linear(3, 2))).dtype is None
    model = TorchModel("module", embed)
    assert model_inputs(model).static_batch is None
    assert model_inputs(model) is model_inputs(model)  # read once, kept on the model


def test_legacy_torch_save_format(cli, torch_dir, tmp_path):
    """torch.save(..., _use_new_zipfile_serialization=False): same path as a pickled module."""
    from mdreg.frameworks.probe import Probe
    from mdreg.frameworks.pytorch.plugin import PyTorchFramework

    path = torch_dir["files"]["mlp_legacy"]
    assert "legacy" in PyTorchFramework().sniff(Probe.of(path)).evidence
    art = tmp_path / "art"
    run = cli(
        "prepare",
        path,
        "-o",
        art,
        "--trust",
        "--model-code",
        torch_dir["code"],
        "--x-sample",
        torch_dir["dir"] / "x.npy",
    )
    assert run.code == 0, run.err
    assert introspect(art).ok
    from mdreg.frameworks.base import LoadOptions

    model = PyTorchFramework().load(
        art / "model.pt", LoadOptions(model_code=art / f"{CODE_NAME}.py")
    )
    rows = torch_dir["x"].head(5).to_numpy()
    with torch.no_grad():
        reloaded = model.module(torch.from_numpy(rows.astype(np.float32))).numpy()
    assert np.allclose(reloaded, _expected(torch_dir, "mlp", rows), atol=1e-6)
    result = verified(art)  # score.py answers the kept sample as it did at prepare
    assert np.allclose(result.prediction["prediction"], reloaded, atol=1e-6)
    # score.py ran in prepare's process, which it left as it was: the artifact folder it
    # put on sys.path for the model's code is off it again
    assert not [p for p in sys.path if str(tmp_path) in p]


def test_checkpoint_keeps_only_the_weights(cli, torch_dir, tmp_path):
    _, _, flags = MLP_FORMS["checkpoint_dict"]
    run = cli(
        "prepare",
        torch_dir["files"]["mlp_checkpoint"],
        "-o",
        tmp_path / "art",
        *_flags(torch_dir, flags),
    )
    assert run.code == 0, run.err
    saved = torch.load(tmp_path / "art/model.pt", weights_only=True)
    assert set(saved) == set(torch_dir["models"]["mlp"].state_dict())


@pytest.mark.parametrize("form", sorted(CNN_FORMS))
def test_cnn_forms_prepare_verify(cli, torch_dir, tmp_path, form):
    key, flags = CNN_FORMS[form]
    images = torch_dir["images"][:3]
    SUITE.end_to_end(
        cli,
        torch_dir["files"][key],
        tmp_path,
        *_flags(torch_dir, flags),
        payload={"inputs": images.tolist()},
        atol=1e-5,
        expected=_expected(torch_dir, "cnn", images),
        model_file="model.pt2" if form == "export_pt2" else "model.pt",
    )


def _predict_in_subprocess(
    art: Path, payloads: dict[str, bytes | str], tmp_path: Path, env: dict[str, str] | None = None
) -> dict:
    """Import score.py in a fresh interpreter and call predict() on each payload: raw bytes
    (as the server passes a non-JSON body) or JSON text (passed decoded, as the server does).
    Also reports where the model went: {"predictions": ..., "device": ..., ...}."""
    blobs = {}
    for name, body in payloads.items():
        blob = tmp_path / f"payload-{name}"
        blob.write_bytes(body if isinstance(body, bytes) else body.encode())
        blobs[name] = [str(blob), isinstance(body, bytes)]
    code = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(art)!r})
        import score
        out = {{}}
        for name, (path, raw) in {blobs!r}.items():
            body = open(path, "rb").read()
            out[name] = score.predict(body if raw else json.loads(body))["prediction"]
        model = score.load_model()
        print(json.dumps({{"predictions": out, "device": str(score.DEVICE),
                           "slot": score.worker_slot(),
                           "params": sorted({{str(p.device) for p in model.parameters()}})}}))
    """)
    proc = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        cwd=art,
        timeout=300,
        env={**os.environ, **(env or {})},
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout.splitlines()[-1])
    doc["stderr"] = proc.stderr
    return doc


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def test_image_request_forms(cli, torch_dir, tmp_path):
    """Every request form an image model takes; with a tensor input schema, one image sent
    without its batch axis too. Also: MDREG_DEVICE and MDREG_WORKER_INDEX are obeyed."""
    from mdreg.artifact.schema import tensor_schema

    art = tmp_path / "art"
    assert cli("prepare", torch_dir["files"]["cnn_pt2"], "-o", art).code == 0
    (art / "input_schema.json").write_text(json.dumps(tensor_schema(torch_dir["images"][:4])))
    images = torch_dir["images"][3:7]
    tensor_bytes = io.BytesIO()
    torch.save(torch.from_numpy(images), tensor_bytes)
    torch_b64 = base64.b64encode(tensor_bytes.getvalue()).decode()
    payloads = {
        "nested_lists": json.dumps(images.tolist()),
        "inputs_key": json.dumps({"inputs": images.tolist()}),
        "instances_key": json.dumps({"instances": images.tolist()}),
        "npy_bytes": _npy(images),
        "json_bytes": json.dumps(images.tolist()).encode(),
        "ads_numpy_envelope": json.dumps(
            {
                "data": base64.b64encode(_npy(images)).decode(),
                "data_type": "<class 'numpy.ndarray'>",
            }
        ),
        "ads_torch_envelope": json.dumps(
            {"data": torch_b64, "data_type": "<class 'torch.Tensor'>"}
        ),
        "ads_tensor_json": json.dumps(
            {
                "data": {
                    "__ads_torch_tensor__": 1,
                    "data": images.tolist(),
                    "dtype": "torch.float32",
                    "shape": list(images.shape),
                    "device": "cpu",
                },
                "data_type": "<class 'torch.Tensor'>",
            }
        ),
        "float64_npy": _npy(images.astype(np.float64)),
        "one_image": json.dumps(images[0].tolist()),
    }
    got = _predict_in_subprocess(
        art, payloads, tmp_path, env={"MDREG_DEVICE": "cpu", "MDREG_WORKER_INDEX": "3"}
    )
    expected = _expected(torch_dir, "cnn", images)
    for name, prediction in got["predictions"].items():
        want = expected[:1] if name == "one_image" else expected
        assert np.allclose(prediction, want, atol=1e-5), name
    assert (got["device"], got["slot"], got["params"]) == ("cpu", 3, ["cpu"])
    assert "score.py: PyTorch model (export) on cpu" in got["stderr"]


def test_table_request_forms(cli, torch_dir, tmp_path):
    art = tmp_path / "art"
    run = cli(
        "prepare",
        torch_dir["files"]["mlp_script"],
        "-o",
        art,
        "--trust",
        "--x-sample",
        torch_dir["dir"] / "x.csv",
    )
    assert run.code == 0, run.err
    rows = torch_dir["x"].iloc[7:10]
    shuffled = rows[FEATURES[::-1]]  # records in another column order: the schema's wins
    payloads = {
        "records": json.dumps(shuffled.to_dict(orient="records")),
        "columns": json.dumps(rows.to_dict(orient="list")),
        "rows": json.dumps(rows.to_numpy().tolist()),
        "inputs_rows": json.dumps({"inputs": rows.to_numpy().tolist()}),
        "npy_bytes": _npy(rows.to_numpy()),
        "one_row": json.dumps(rows.to_numpy()[0].tolist()),
    }
    got = _predict_in_subprocess(art, payloads, tmp_path)
    expected = _expected(torch_dir, "mlp", rows)
    for name, prediction in got["predictions"].items():
        want = expected[:1] if name == "one_row" else expected
        assert np.allclose(prediction, want, atol=1e-5), name


def test_image_sample_gets_a_tensor_schema(cli, torch_dir, tmp_path):
    """--x-sample of shape (N, 1, 8, 8): one tensor column, not 64 feature columns."""
    done = SUITE.end_to_end(
        cli,
        torch_dir["files"]["cnn_script"],
        tmp_path,
        "--trust",
        "--x-sample",
        torch_dir["dir"] / "images.npy",
        model_file="model.pt",
        expected=_expected(torch_dir, "cnn", torch_dir["images"][:5]),
        atol=1e-5,
    )  # the 5 images kept at prepare time
    schema = json.loads((done.art / "input_schema.json").read_text())
    assert len(schema["schema"]) == 1
    (constraint,) = schema["schema"][0]["domain"]["constraints"]
    assert constraint["expression"] == "$x.shape[1:] == (1, 8, 8)"


def test_tensor_schema_describes_images_honestly(torch_dir):
    from mdreg.artifact.schema import tensor_facts, tensor_schema
    from mdreg.artifact.schema_validation import validate_schema

    images = torch_dir["images"][:10]
    doc = tensor_schema(images)
    assert validate_schema(doc) == []
    (column,) = doc["schema"]
    assert column["name"] == "input" and column["dtype"] == "float32"
    assert column["feature_type"] == "Continuous" and column["required"] is True
    assert column["domain"]["constraints"] == [
        {"expression": "$x.shape[1:] == (1, 8, 8)", "language": "python"}
    ]
    assert "(N, 1, 8, 8)" in column["description"]
    assert column["domain"]["stats"]["count"] == images.size
    assert tensor_facts(images) == {"shape": [None, 1, 8, 8], "dtype": "float32"}


def test_without_sample_the_schema_has_the_feature_count(cli, torch_dir, tmp_path):
    for key in ("mlp_pt2", "mlp_script"):
        art = tmp_path / key
        run = cli("prepare", torch_dir["files"][key], "-o", art, "--trust")
        assert run.code == 0, run.err
        schema = json.loads((art / "input_schema.json").read_text())
        assert [c["name"] for c in schema["schema"]] == [0, 1, 2, 3], key


# -- detection ----------------------------------------------------------------------------------


def test_sniffing_imports_no_framework(torch_dir):
    found = detect_in_fresh_interpreter(torch_dir["files"])
    assert {f[0] for f in found.values()} == {"pytorch"}
    assert "TorchScript" in found["mlp_script"][2]
    assert "torch.export" in found["cnn_pt2"][2]
    assert "state_dict" in found["mlp_state"][2]
    assert "__main__.MLP" in found["mlp_main"][2]
    assert f"{CODE_NAME}.MLP" in found["mlp_module"][2]


def test_plain_zip_and_other_pickles_are_not_claimed(tmp_path):
    from mdreg.frameworks.probe import Probe
    from mdreg.frameworks.pytorch.plugin import PyTorchFramework

    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
        zf.writestr("readme.txt", "hello")
    (tmp_path / "p.pkl").write_bytes(__import__("pickle").dumps({"a": [1, 2]}))
    for name in ("a.zip", "p.pkl"):
        assert PyTorchFramework().sniff(Probe.of(tmp_path / name)) is None


# -- safety and bad input -------------------------------------------------------------------------


def test_pickles_follow_the_safety_gate(cli, torch_dir, tmp_path):
    # the class is the user's own, from the code they ship: admitted, and recorded
    run = cli(
        "prepare",
        torch_dir["files"]["mlp_module"],
        "-o",
        tmp_path / "a",
        "--model-code",
        torch_dir["code"],
    )
    assert run.code == 0, run.err
    meta = metadata(tmp_path / "a")
    assert meta["mdreg"]["model_code"]["admitted"] == ["MLP"]
    script = torch_dir["files"]["mlp_script"]
    run = cli("prepare", script, "-o", tmp_path / "b")
    assert run.code == (EXIT_UNSAFE if _trust_needed(script) else 0), run.err
    run = cli(
        "prepare",
        torch_dir["files"]["mlp_state"],
        "-o",
        tmp_path / "c",
        *_flags(torch_dir, MLP_FORMS["state_dict"][2]),
    )
    assert run.code == 0, run.err  # tensors only: safe without --trust


def test_class_from_main_needs_model_code(cli, torch_dir, tmp_path):
    run = cli("prepare", torch_dir["files"]["mlp_main"], "-o", tmp_path / "a", "--trust")
    assert run.code == EXIT_INPUT
    assert "__main__.MLP" in run.err and "--model-code" in run.err
    assert not (tmp_path / "a").exists()


def test_class_module_not_importable(cli, torch_dir, tmp_path):
    run = cli("prepare", torch_dir["files"]["mlp_module"], "-o", tmp_path / "a", "--trust")
    assert run.code == EXIT_INPUT
    assert f"{CODE_NAME}.MLP" in run.err and "--model-code" in run.err


def test_state_dict_needs_model_class(cli, torch_dir, tmp_path):
    run = cli("prepare", torch_dir["files"]["mlp_state"], "-o", tmp_path / "a")
    assert run.code == EXIT_INPUT and "--model-class" in run.err
    run = cli(
        "prepare",
        torch_dir["files"]["mlp_state"],
        "-o",
        tmp_path / "a",
        "--model-class",
        f"{CODE_NAME}:MLP",
    )
    assert run.code == EXIT_INPUT and "--model-code" in run.err
    run = cli(
        "prepare",
        torch_dir["files"]["mlp_state"],
        "-o",
        tmp_path / "a",
        "--model-class",
        f"{CODE_NAME}:SmallCNN",
        "--model-code",
        torch_dir["code"],
    )
    assert run.code == EXIT_INPUT and "do not fit" in run.err
    run = cli(
        "prepare",
        torch_dir["files"]["mlp_state"],
        "-o",
        tmp_path / "a",
        "--model-class",
        "other:MLP",
        "--model-code",
        torch_dir["code"],
    )
    assert run.code == EXIT_INPUT and f"{CODE_NAME}:MLP" in run.err


@pytest.mark.parametrize("name", ["torch", "score", "json"])
def test_model_code_may_not_shadow_what_score_imports(cli, torch_dir, tmp_path, name):
    code = tmp_path / f"{name}.py"
    code.write_text(MODEL_CODE)
    run = cli(
        "prepare",
        torch_dir["files"]["mlp_state"],
        "-o",
        tmp_path / "a",
        "--model-class",
        f"{name}:MLP",
        "--model-code",
        code,
    )
    assert run.code == EXIT_INPUT and "shadow" in run.err


def test_self_contained_formats_refuse_model_code(cli, torch_dir, tmp_path):
    run = cli(
        "prepare",
        torch_dir["files"]["mlp_pt2"],
        "-o",
        tmp_path / "a",
        "--model-code",
        torch_dir["code"],
    )
    assert run.code == EXIT_INPUT and "carries its own code" in run.err


def test_pt2_with_a_dangerous_nested_pickle_is_refused(cli, torch_dir, tmp_path):
    """torch.export.load unpickles nested torch.save files with weights_only=False: they are
    scanned before anything loads."""
    import pickle

    canary = tmp_path / "canary"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {canary}",))

    evil = io.BytesIO()
    torch.save({"x": Evil()}, evil, pickle_module=pickle)
    source, bad = torch_dir["files"]["mlp_pt2"], tmp_path / "bad.pt2"
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(bad, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("sample_inputs/model.pt"):
                data = evil.getvalue()
            zout.writestr(info, data)
    run = cli("prepare", bad, "-o", tmp_path / "a", "--trust")
    assert run.code == EXIT_UNSAFE, run.err
    assert "sample_inputs/model.pt" in run.err and "system" in run.err
    assert not canary.exists() and not (tmp_path / "a").exists()


# -- devices -----------------------------------------------------------------------------


def _device_helpers(art: Path) -> str:
    """The device-selection functions of a generated score.py, alone (no torch import)."""
    tree = ast.parse((art / "score.py").read_text())
    keep = [
        n
        for n in tree.body
        if isinstance(n, ast.FunctionDef) and n.name in ("select_device", "claim_worker_slot")
    ]
    assert len(keep) == 2
    return "import os\n_SLOT_LOCKS = []\n" + "\n\n".join(ast.unparse(n) for n in keep) + "\n"


@pytest.fixture(scope="module")
def pt2_artifact(torch_dir, tmp_path_factory) -> Path:
    from mdreg import prepare

    art = tmp_path_factory.mktemp("dev") / "art"
    return prepare(torch_dir["files"]["cnn_pt2"], art).artifact_dir


def test_select_device(pt2_artifact):
    ns: dict = {}
    exec(_device_helpers(pt2_artifact), ns)  # noqa: S102
    select = ns["select_device"]
    assert select(0, 5) == "cpu"
    assert select(1, 0) == select(1, 7) == "cuda:0"
    assert [select(4, slot) for slot in range(6)] == [
        "cuda:0",
        "cuda:1",
        "cuda:2",
        "cuda:3",
        "cuda:0",
        "cuda:1",
    ]


def test_worker_slots_are_claimed_in_start_order_and_reused(pt2_artifact, tmp_path):
    """Workers started one after another get slots 0, 1, 2; a restarted worker takes back
    the slot its predecessor left (the lock dies with the process)."""
    code = _device_helpers(pt2_artifact) + textwrap.dedent("""
        import sys
        print(claim_worker_slot("k", lock_dir=sys.argv[1]), flush=True)
        sys.stdin.read()  # hold the slot until the test closes stdin
    """)
    procs = []

    def start():
        p = subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(p)
        return int(p.stdout.readline())

    try:
        assert [start(), start(), start()] == [0, 1, 2]
        procs[1].stdin.close()
        procs[1].wait(timeout=30)
        assert start() == 1
    finally:
        for p in procs:
            if p.poll() is None:
                p.stdin.close()
                p.wait(timeout=30)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("key", ["cnn_script", "cnn_pt2", "cnn_state"])
def test_gpu_model_and_inputs_on_cuda(cli, torch_dir, tmp_path, key):
    flags = {
        "cnn_script": ["--trust"],
        "cnn_pt2": [],
        "cnn_state": _flags(torch_dir, CNN_FORMS["state_dict"][1]),
    }[key]
    art = tmp_path / "art"
    assert cli("prepare", torch_dir["files"][key], "-o", art, *flags).code == 0
    images = torch_dir["images"][:4]
    code = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(art)!r})
        import score
        model = score.load_model()
        x = score.to_tensor({images.tolist()!r}, model)
        params = {{p.device.type for p in model.parameters()}}
        print(json.dumps({{"params": sorted(params), "input": x.device.type,
                           "prediction": score.predict({images.tolist()!r})["prediction"]}}))
    """)
    proc = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout.splitlines()[-1])
    assert doc["params"] == ["cuda"] and doc["input"] == "cuda"
    assert np.allclose(doc["prediction"], _expected(torch_dir, "cnn", images), atol=1e-4)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("forced", ["cuda", "gpu:0", "cuda:0"])
def test_gpu_forced_device_names(cli, torch_dir, tmp_path, forced):
    """MDREG_DEVICE=cuda (no index) means the current GPU, as gpu:0 and cuda:0 do."""
    art = tmp_path / "art"
    assert cli("prepare", torch_dir["files"]["cnn_pt2"], "-o", art).code == 0
    images = torch_dir["images"][:2]
    got = _predict_in_subprocess(art, {"npy": _npy(images)}, tmp_path, env={"MDREG_DEVICE": forced})
    assert got["device"] == "cuda:0" and got["params"] == ["cuda:0"]
    assert np.allclose(got["predictions"]["npy"], _expected(torch_dir, "cnn", images), atol=1e-4)


# -- models of several inputs ---------------------------------------------------------------

TWO_TOWER_SCORE = """
import os

import torch


def load_model():
    return torch.export.load(os.path.join(os.path.dirname(__file__), "model.pt2")).module()


def predict(data, model=load_model()):
    x, ids = torch.tensor(data["x"], dtype=torch.float32), torch.tensor(data["ids"])
    with torch.no_grad():
        return {"prediction": model(x, ids).tolist()}
"""


@pytest.fixture(scope="module")
def two_tower(torch_dir, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("two_tower")
    nets = _import_code(torch_dir["code"], CODE_NAME)
    torch.manual_seed(0)
    model = nets.TwoTower().eval()
    x, ids = torch.randn(6, 3), torch.tensor([0, 3, 9, 1, 1, 7])
    batch = torch.export.Dim("batch")
    files = {
        "export_pt2": out / "two.pt2",
        "torchscript": out / "two_script.pt",
        "state_dict": out / "two_state.pt",
    }
    torch.export.save(
        torch.export.export(model, (x, ids), dynamic_shapes={"x": {0: batch}, "ids": {0: batch}}),
        files["export_pt2"],
    )
    torch.jit.save(torch.jit.script(model), files["torchscript"])
    torch.save(model.state_dict(), files["state_dict"])
    np.savez(out / "sample.npz", ids=ids.numpy(), x=x.numpy())  # not the forward's order
    np.savez(out / "misnamed.npz", features=x.numpy(), ids=ids.numpy())
    np.save(out / "x.npy", x.numpy())
    with torch.no_grad():
        expected = model(x, ids).numpy()
    np.save(out / "out.npy", expected)
    (out / "score.py").write_text(TWO_TOWER_SCORE)
    return {"dir": out, "files": files, "x": x, "ids": ids, "expected": expected}


TWO_TOWER_FLAGS = {
    "export_pt2": [],
    "torchscript": ["--trust"],
    "state_dict": ["--model-code", "CODE", "--model-class", f"{CODE_NAME}:TwoTower"],
}


@pytest.mark.parametrize("form", sorted(TWO_TOWER_FLAGS))
def test_several_inputs_from_an_npz_sample(cli, torch_dir, two_tower, tmp_path, form):
    """forward(x, ids): the sample is one array per argument; score.py reads one per name
    (JSON or safetensors), keeps the ids integer, and predicts what the model does."""
    art = tmp_path / "art"
    run = cli(
        "prepare",
        two_tower["files"][form],
        "-o",
        art,
        *_flags(torch_dir, TWO_TOWER_FLAGS[form]),
        "--x-sample",
        two_tower["dir"] / "sample.npz",
    )
    assert run.code == 0, run.err
    columns = json.loads((art / "input_schema.json").read_text())["schema"]
    assert [(c["name"], c["dtype"], c["order"]) for c in columns] == [
        ("x", "float32", 0),
        ("ids", "int64", 1),
    ]
    assert [c["domain"]["constraints"][0]["expression"] for c in columns] == [
        "$x.shape[1:] == (3,)",
        "$x.shape[1:] == ()",
    ]
    assert introspect(art).ok
    for payload in ("json", "safetensors"):
        result = verified(art, payload_format=payload)  # the kept sample: 5 items
        np.testing.assert_allclose(
            result.prediction["prediction"], two_tower["expected"][:5], rtol=1e-5
        )


def test_several_inputs_request_forms(cli, torch_dir, two_tower, tmp_path):
    art = tmp_path / "art"
    assert (
        cli(
            "prepare",
            two_tower["files"]["export_pt2"],
            "-o",
            art,
            "--x-sample",
            two_tower["dir"] / "sample.npz",
        ).code
        == 0
    )
    x, ids = two_tower["x"][:2].tolist(), two_tower["ids"][:2].tolist()
    tensor_json = {
        "data": {"data": x, "dtype": "torch.float32", "shape": [2, 3]},
        "data_type": "<class 'torch.Tensor'>",
    }
    for body in (
        {"x": x, "ids": ids},
        {"inputs": {"ids": ids, "x": x}},
        {"x": tensor_json, "ids": ids},
    ):
        result = verified(art, body)
        np.testing.assert_allclose(
            result.prediction["prediction"], two_tower["expected"][:2], rtol=1e-5
        )
    refused = {
        json.dumps({"x": x}): "the request lacks ids",
        json.dumps([[1.0, 2.0, 3.0]]): "send a JSON object with one array per name",
        json.dumps({"x": x, "ids": [1]}): "different numbers of items",
    }
    for body, says in refused.items():
        result = verify(art, body)
        assert not result.ok and says in result.error, (body, result.error)
    run = cli("verify", art, "--payload", "npy")
    assert run.code == EXIT_INPUT and "cannot be one .npy body" in run.err
    # Past BATCH_SIZE, every input is cut at the same items.
    score = _import_code(art / "score.py", "score_two_tower")
    score.BATCH_SIZE = 4
    body = {"x": two_tower["x"].tolist(), "ids": two_tower["ids"].tolist()}
    np.testing.assert_allclose(score.predict(body)["prediction"], two_tower["expected"], rtol=1e-5)


def test_several_inputs_sample_errors(cli, torch_dir, two_tower, tmp_path):
    pt2, d = two_tower["files"]["export_pt2"], two_tower["dir"]
    run = cli("prepare", pt2, "-o", tmp_path / "a", "--x-sample", d / "x.npy")
    assert (
        run.code == EXIT_INPUT
        and "takes 2 tensors (x, ids)" in run.err
        and "numpy.savez" in run.err
    )
    run = cli("prepare", pt2, "-o", tmp_path / "b", "--x-sample", d / "misnamed.npz")
    assert run.code == EXIT_INPUT and "the model's inputs are x, ids" in run.err
    run = cli(
        "prepare",
        torch_dir["files"]["mlp_pt2"],
        "-o",
        tmp_path / "c",
        "--x-sample",
        d / "sample.npz",
    )
    assert run.code == EXIT_INPUT and "takes one input" in run.err
    run = cli("prepare", pt2, "-o", tmp_path / "d")
    assert run.code == 0 and "takes tensors x, ids" in run.err
    assert all(len(line) < 400 for line in run.err.splitlines())


def test_several_inputs_with_the_users_score_py(cli, two_tower, tmp_path):
    """A hand-written score.py still goes in as it is, the output described by --y-sample."""
    art = tmp_path / "art"
    run = cli(
        "prepare",
        two_tower["files"]["export_pt2"],
        "-o",
        art,
        "--score-py",
        two_tower["dir"] / "score.py",
        "--y-sample",
        two_tower["dir"] / "out.npy",
    )
    assert run.code == 0, run.err
    assert introspect(art).ok
    body = {"x": two_tower["x"][:2].tolist(), "ids": two_tower["ids"][:2].tolist()}
    result = verified(art, body)
    np.testing.assert_allclose(
        result.prediction["prediction"], two_tower["expected"][:2], rtol=1e-5
    )
