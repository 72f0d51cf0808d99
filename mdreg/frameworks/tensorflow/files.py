"""What a TensorFlow file or folder says without TensorFlow: detection (bytes only),
which kind it is, and what it records of the model (its compile config; an HDF5 file's
model_config)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from mdreg.errors import InputError
from mdreg.frameworks.base import Detection
from mdreg.frameworks.probe import Probe
from mdreg.frameworks.tensorflow.model import H5, KERAS, SAVED_MODEL

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
H5_SEARCH_BYTES = 64 * 1024
_MAX_CONFIG_BYTES = 8 << 20  # config.json read from a .keras zip for facts, at most


def sniff_saved_model(probe: Probe) -> Detection | None:
    names = set(probe.names)
    pb = (
        "saved_model.pb"
        if "saved_model.pb" in names
        else "saved_model.pbtxt"
        if "saved_model.pbtxt" in names
        else None
    )
    if pb is None:
        return None
    parts = [pb] + [
        n + ("/" if n in ("variables", "assets") else "")
        for n in ("variables", "fingerprint.pb", "keras_metadata.pb")
        if n in names
    ]
    return Detection("tensorflow", 0.95, f"SavedModel folder holding {', '.join(parts)}")


def sniff_h5(probe: Probe) -> Detection:
    try:
        with probe.path.open("rb") as f:
            head = f.read(H5_SEARCH_BYTES)
    except OSError:
        head = probe.head
    found = [a for a in ("model_config", "keras_version", "backend") if a.encode() in head]
    if "model_config" in found:
        return Detection(
            "tensorflow", 0.9, "HDF5 file with Keras root attributes " + ", ".join(found)
        )
    return Detection(
        "tensorflow",
        0.3,
        "HDF5 file without a Keras model_config attribute in "
        f"its first {H5_SEARCH_BYTES // 1024} KiB (weights only, or not Keras?)",
    )


def keras_zip_evidence(path: Path) -> str:
    """'Keras zip: config.json (Functional), model.weights.h5, saved by Keras 3.x'."""
    parts, version, cls = [], None, None
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            parts = [n for n in ("config.json", "metadata.json", "model.weights.h5") if n in names]
            if "metadata.json" in names and zf.getinfo("metadata.json").file_size < 65536:
                version = json.loads(zf.read("metadata.json")).get("keras_version")
            info = zf.getinfo("config.json") if "config.json" in names else None
            if info is not None and info.file_size <= _MAX_CONFIG_BYTES:
                cls = json.loads(zf.read(info)).get("class_name")
    except (zipfile.BadZipFile, OSError, KeyError, ValueError, AttributeError):
        pass
    what = ", ".join(f"config.json ({cls})" if p == "config.json" and cls else p for p in parts)
    return f"Keras zip holding {what or 'config.json'}" + (
        f", saved by Keras {version}" if version else ""
    )


def kind_of(path: Path) -> str:
    probe = Probe.of(path)
    if probe.is_dir:
        if sniff_saved_model(probe) is None:
            raise InputError(f"{path}: a folder without saved_model.pb is not a SavedModel")
        return SAVED_MODEL
    if probe.head.startswith(HDF5_MAGIC):
        return H5
    if probe.head.startswith(b"PK"):
        return KERAS
    raise InputError(
        f"{path}: not a .keras zip, an HDF5 file or a SavedModel folder ({probe.describe()})"
    )


def h5_has_model(path: Path) -> bool:
    import h5py  # ships with Keras

    with h5py.File(path, "r") as f:
        return "model_config" in f.attrs


def compile_config(path: Path, kind: str) -> dict[str, Any]:
    """How the model was compiled (loss, optimizer), read from the file without compiling."""
    try:
        if kind == KERAS:
            with zipfile.ZipFile(path) as zf:
                info = zf.getinfo("config.json")
                if info.file_size > _MAX_CONFIG_BYTES:
                    return {}
                doc = json.loads(zf.read(info)).get("compile_config") or {}
            optimizer = doc.get("optimizer") or {}
            if isinstance(optimizer, dict):
                opt_name = optimizer.get("class_name") or optimizer.get("config", {}).get("name")
                lr = optimizer.get("config", {}).get("learning_rate")
            else:
                opt_name, lr = optimizer, None
            return {"loss": _loss_name(doc.get("loss")), "optimizer": opt_name, "learning_rate": lr}
        import h5py

        with h5py.File(path, "r") as f:
            raw = f.attrs.get("training_config")
        if raw is None:
            return {}
        doc = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        opt = doc.get("optimizer_config") or {}
        return {
            "loss": _loss_name(doc.get("loss")),
            "optimizer": opt.get("class_name"),
            "learning_rate": (opt.get("config") or {}).get("learning_rate"),
        }
    except (KeyError, ValueError, OSError, AttributeError, zipfile.BadZipFile):
        return {}


def _loss_name(loss: Any) -> Any:
    if isinstance(loss, str) or loss is None:
        return loss
    if isinstance(loss, dict):
        if "class_name" in loss and loss.get("class_name") != "function":
            return loss["class_name"]
        config = loss.get("config")
        return config if isinstance(config, str) else loss.get("class_name")
    if isinstance(loss, list):
        return [_loss_name(x) for x in loss]
    return str(loss)
