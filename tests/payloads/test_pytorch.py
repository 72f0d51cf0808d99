"""PyTorch (TorchScript): a tabular MLP gets every table payload kind, a small image CNN
every tensor payload kind; score.py (in a fresh interpreter) predicts what the model
itself predicts. A table format cannot carry an image batch: a one-line input error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mdreg
from mdreg.errors import EXIT_INPUT, InputError
from mdreg.payload import decode_response
from tests.payloads.conftest import (
    TABLE_KINDS,
    TENSOR_KINDS,
    assert_all_match,
    body_for,
    object_npy,
    request_body,
    serve,
)

torch = pytest.importorskip("torch")

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # torch.jit in 2.13
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]

FEATURES = ["f1", "f2", "f3", "f4"]


@pytest.fixture(scope="module")
def torch_models(tmp_path_factory) -> dict:
    from torch import nn

    out = tmp_path_factory.mktemp("payload-torch")
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).eval()
    cnn = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 3),
    ).eval()
    torch.jit.save(torch.jit.script(mlp), out / "mlp.pt")
    torch.jit.save(torch.jit.script(cnn), out / "cnn.pt")
    rng = np.random.default_rng(1)
    rows = pd.DataFrame(rng.normal(size=(6, 4)).round(4), columns=FEATURES)
    rows.to_csv(out / "x.csv", index=False)
    images = rng.normal(size=(5, 1, 8, 8)).astype(np.float32)
    np.save(out / "images.npy", images)
    mlp_art = mdreg.prepare(out / "mlp.pt", out / "mlp-art", x_sample=out / "x.csv", trust=True)
    cnn_art = mdreg.prepare(
        out / "cnn.pt", out / "cnn-art", x_sample=out / "images.npy", trust=True
    )
    with torch.no_grad():
        return {
            "mlp_art": mlp_art.artifact_dir,
            "cnn_art": cnn_art.artifact_dir,
            "rows": rows,
            "images": images,
            "mlp_expected": mlp(torch.tensor(rows.to_numpy(), dtype=torch.float32)).numpy(),
            "cnn_expected": cnn(torch.from_numpy(images)).numpy(),
        }


def test_mlp_every_table_payload(torch_models, tmp_path):
    art, rows = torch_models["mlp_art"], torch_models["rows"]
    bodies = {kind: body_for(art, kind, rows) for kind in TABLE_KINDS}
    bodies["json_response_npy"] = ("json", request_body(art, rows, "json", "npy"))
    bodies["object_npy"] = ("npy", object_npy(tmp_path / "pwned"))
    results = serve(art, bodies, tmp_path / "serve")
    refused = results.pop("object_npy")
    assert not refused["ok"] and "Python objects" in refused["error"], refused["error"]
    assert not (tmp_path / "pwned").exists(), "score.py unpickled the request body"
    binary = results.pop("json_response_npy")
    assert_all_match(results, torch_models["mlp_expected"])
    answer = decode_response(binary["prediction"])["prediction"]
    assert answer.dtype == np.float32
    assert answer.tolist() == results["records"]["prediction"]["prediction"]


def test_cnn_every_tensor_payload(torch_models, tmp_path):
    art, images = torch_models["cnn_art"], torch_models["images"]
    bodies = {kind: body_for(art, kind, images) for kind in TENSOR_KINDS}
    bodies["one_image_npy"] = ("npy", request_body(art, images[0], "npy"))  # no batch axis
    bodies["float64_npy"] = ("npy", request_body(art, images.astype(np.float64), "npy"))
    bodies["named_safetensors"] = (
        "safetensors",
        request_body(art, {"pixels": images}, "safetensors"),
    )
    bodies["safetensors_response_npy"] = (
        "safetensors",
        request_body(art, images, "safetensors", "npy"),
    )
    results = serve(art, bodies, tmp_path)
    one = results.pop("one_image_npy")
    binary = results.pop("safetensors_response_npy")
    expected = torch_models["cnn_expected"]
    assert_all_match(results, expected)
    assert_all_match({"one_image_npy": one}, expected[:1])
    answer = decode_response(binary["prediction"])["prediction"]
    np.testing.assert_allclose(answer, expected, rtol=1e-5, atol=1e-6)


def test_cnn_verify_npy(torch_models):
    """mdreg.verify itself: the kept image sample as .npy."""
    result = mdreg.verify(torch_models["cnn_art"], payload_format="npy")
    assert result.ok, result.traceback
    assert result.payload_format == "npy"
    # the kept sample (5 images) went through JSON at prepare time: float64 then, float32 now
    assert result.payload_bytes == 128 + 5 * 64 * 8
    np.testing.assert_allclose(
        result.prediction["prediction"], torch_models["cnn_expected"], rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("fmt", ["arrow", "parquet"])
def test_table_format_cannot_carry_images(torch_models, cli, fmt):
    with pytest.raises(InputError, match="rows and columns"):
        request_body(torch_models["cnn_art"], None, fmt)
    run = cli("verify", torch_models["cnn_art"], "--payload", fmt)
    assert run.code == EXIT_INPUT
    assert run.err.count("\n") == 1 and run.err.startswith("error: ") and "Traceback" not in run.err
    assert "npy or safetensors" in run.err
