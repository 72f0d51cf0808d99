"""A user's edit to the hooks of a generated score.py takes effect on every path verify
(and so the server) takes: JSON and binary bodies both go through deserialize(), and
pre_inference / post_inference sit between it and the model."""

from __future__ import annotations

from pathlib import Path

import pytest

from mdreg.checks.verify import verify


def _edit(artifact: Path, old: str, new: str) -> None:
    score = artifact / "score.py"
    text = score.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    score.write_text(text.replace(old, new), encoding="utf-8")


def _hook(name: str, body: str) -> tuple[str, str]:
    """(the hook's return line, the same with ``body`` run first): the hook is the one
    function whose docstring ends just before that line."""
    returns = {
        "deserialize": "    return to_model_input(read_request(data))\n",
        "pre_inference": "    return features\n\n\ndef post_inference",
        "post_inference": "    return prediction\n",
    }[name]
    return returns, f"    {body}\n{returns}"


def test_post_inference_edit_changes_the_answer(artifact: Path) -> None:
    _edit(artifact, *_hook("post_inference", "prediction = prediction + 10"))
    result = verify(artifact)
    assert not result.ok and result.parity == "differs"
    assert "score.py gave 10" in result.error


@pytest.mark.parametrize("payload_format", ["json", "npy", "arrow"])
def test_pre_inference_sees_every_body(artifact: Path, payload_format: str) -> None:
    _edit(
        artifact,
        *_hook("pre_inference", 'raise ValueError(f"pre_inference got {type(features).__name__}")'),
    )
    result = verify(artifact, payload_format=payload_format)
    assert not result.ok and result.stage == "predict"
    assert "pre_inference got DataFrame" in result.error


@pytest.mark.parametrize("payload_format", ["json", "npy", "safetensors", "parquet"])
def test_deserialize_gets_the_body_as_the_server_hands_it(
    artifact: Path, payload_format: str
) -> None:
    """Binary bodies reach deserialize() as raw bytes, JSON ones decoded: editing it
    changes how every request is read."""
    _edit(
        artifact,
        *_hook("deserialize", 'raise ValueError(f"deserialize got {type(data).__name__}")'),
    )
    result = verify(artifact, payload_format=payload_format)
    assert not result.ok and result.stage == "predict"
    got = result.error.rsplit("deserialize got ", 1)[1].strip()
    assert got == ("list" if payload_format == "json" else "bytes")  # the sample: JSON records
