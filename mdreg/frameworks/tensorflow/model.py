"""What ``TensorFlowFramework.load`` returns, and the names of what goes into the artifact."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mdreg.frameworks.inputs import InputSpec, ModelInputs

KERAS_FILE = "model.keras"
H5_FILE = "model.h5"
SAVED_MODEL_DIR = "saved_model"
SERVING_SIGNATURE = "serving_default"
#: What load found: a .keras zip, a legacy HDF5 file, a SavedModel folder.
KERAS, H5, SAVED_MODEL = "keras", "h5", "saved_model"


@dataclass
class LoadedModel:
    """What ``load`` returns: the model object and what mdreg learned while loading it."""

    kind: str  # KERAS, H5 or SAVED_MODEL
    model: Any  # a keras.Model, or the object tf.saved_model.load returned
    source: Path
    inputs: ModelInputs
    outputs: list[InputSpec]
    signature: str | None = None  # the SavedModel signature served
    compile_config: dict[str, Any] = field(default_factory=dict)
    safe_mode: bool = True
    model_code: Path | None = None
