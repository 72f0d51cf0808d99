"""The TensorFlow / Keras plugin (see the package's docstring for the files it takes)."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any

from mdreg.frameworks._params import json_safe
from mdreg.frameworks.base import Detection, Framework, LoadOptions, ModelFacts
from mdreg.frameworks.code import ModelCode
from mdreg.frameworks.probe import Probe
from mdreg.frameworks.tensorflow.facts import features, keras_hyperparameters, use_case
from mdreg.frameworks.tensorflow.files import (
    HDF5_MAGIC,
    keras_zip_evidence,
    kind_of,
    sniff_h5,
    sniff_saved_model,
)
from mdreg.frameworks.tensorflow.loading import load_keras, load_saved_model
from mdreg.frameworks.tensorflow.model import (
    H5_FILE,
    KERAS,
    KERAS_FILE,
    SAVED_MODEL,
    SAVED_MODEL_DIR,
    LoadedModel,
)

#: Distributions that provide the ``tensorflow`` module, in the order they are looked up.
TF_DISTRIBUTIONS = (
    "tensorflow",
    "tensorflow-cpu",
    "tensorflow-gpu",
    "tensorflow-intel",
    "tensorflow-macos",
    "tf-nightly",
    "tf-nightly-cpu",
)


class TensorFlowFramework(Framework):
    name = "tensorflow"
    display_name = "TensorFlow"
    taxonomy_framework = "tensorflow"  # the catalog's Framework value (ADS's, for Keras too)
    module = "tensorflow"
    distribution = "tensorflow"
    extra = "tensorflow"
    model_file_name = KERAS_FILE
    serialization_format = "keras"
    template = "score_tensorflow.py.jinja2"
    inference_modules = ("tensorflow", "keras")
    allow = ()  # nothing is unpickled: Keras zips, HDF5 and SavedModels hold no pickles

    # -- detection (bytes only) -------------------------------------------------------
    def sniff(self, probe: Probe) -> Detection | None:
        if probe.is_dir:
            return sniff_saved_model(probe)
        if probe.head.startswith(HDF5_MAGIC):
            return sniff_h5(probe)
        if probe.head.startswith(b"PK"):
            report = probe.pickle
            if report is not None and report.container == "keras-zip":
                return Detection(self.name, 0.95, keras_zip_evidence(probe.path))
        return None

    # -- the model ----------------------------------------------------------------------
    def version(self) -> str | None:
        import importlib.metadata  # kept out of sniffing

        for dist in TF_DISTRIBUTIONS:
            try:
                return importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                continue
        return None

    def load(self, path: Path, options: LoadOptions) -> LoadedModel:
        self.require()
        kind = kind_of(path)
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
        if kind == SAVED_MODEL:
            return load_saved_model(path)
        # --trust turns Keras's safe mode off, once LoadOptions carries it
        safe_mode = not getattr(options, "trust", False)
        # the user's module, importable under its own name while Keras loads the model: it
        # registers the custom classes, and Keras finds unregistered ones by module
        code = options.code or (ModelCode.load(options.model_code) if options.model_code else None)
        with code.importable() if code else contextlib.nullcontext():
            return load_keras(path, kind, safe_mode, options.model_code)

    def save(self, model: LoadedModel, source: Path, dest_dir: Path, options: LoadOptions) -> str:
        # Keep the user's bytes: re-saving could change what the model holds.
        if model.model_code is not None:
            shutil.copyfile(model.model_code, dest_dir / model.model_code.name)
        if model.kind == SAVED_MODEL:
            shutil.copytree(source, dest_dir / SAVED_MODEL_DIR, symlinks=False)
            return SAVED_MODEL_DIR
        name = KERAS_FILE if model.kind == KERAS else H5_FILE
        shutil.copyfile(source, dest_dir / name)
        return name

    def describe(self, model: LoadedModel) -> ModelFacts:
        feature_names, n_features = features(model)
        if model.kind == SAVED_MODEL:
            algorithm = "SavedModel"
            saved_by = getattr(model.model, "tensorflow_version", None)
            hyper: dict[str, Any] = {
                "signature": model.signature,
                "saved_by_tensorflow": str(saved_by) if saved_by else None,
            }
            use_case_type = None
        else:
            keras_model = model.model
            algorithm = type(keras_model).__name__
            hyper = keras_hyperparameters(keras_model, model.compile_config)
            use_case_type = use_case(keras_model, model.compile_config)
        hyper["inputs"] = {
            s.name: [list(s.shape) if s.shape else None, s.dtype] for s in model.inputs
        }
        hyper["outputs"] = {
            s.name: [list(s.shape) if s.shape else None, s.dtype] for s in model.outputs
        }
        return ModelFacts(
            algorithm=algorithm,
            framework_version=self.version(),
            hyperparameters=json_safe({k: v for k, v in hyper.items() if v is not None}),
            use_case_type=use_case_type,
            feature_names=feature_names,
            n_features=n_features,
            input_names=model.inputs.input_names or None,
            output_names=[s.name for s in model.outputs] or None,  # a list of outputs unnamed
        )

    def template_context(self, model: LoadedModel, source: Path) -> dict[str, Any]:
        return {
            "predict_call": "run_model(model, features)",
            "model_kind": model.kind,
            "signature_literal": repr(model.signature),
            "model_inputs": repr([s.as_tuple() for s in model.inputs]),
            "inputs_by_name": model.inputs.by_column,
            "several_inputs": model.inputs.input_names,
            "safe_mode": model.safe_mode,
            "model_code_module": model.model_code.stem if model.model_code else None,
        }
