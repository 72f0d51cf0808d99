"""TensorFlow / Keras: ``.keras`` zips, legacy ``.h5`` files and SavedModel folders.

Detection reads bytes only:

- ``.keras`` (Keras 3, also Keras 2.13+): a zip holding ``config.json`` with
  ``metadata.json`` / ``model.weights.h5`` (the probe's zip walk names it "keras-zip").
- legacy ``.h5``: the HDF5 signature, then a bounded search of the first
  ``H5_SEARCH_BYTES`` for the attribute names Keras writes on the root group
  (``model_config``, ``keras_version``). HDF5 attribute *values* are not at a fixed
  place (strings live in the global heap), but the names of a small group's
  attributes sit in its object header near the start of the file, which is evidence
  enough without h5py. An HDF5 file without them is claimed weakly (it may be a
  weights-only file, which ``load`` then refuses with a clear message).
- SavedModel: a folder holding ``saved_model.pb`` (and, usually, ``variables/``);
  this includes Keras 3 ``model.export()`` output.

The artifact keeps the user's own bytes: ``model.keras``, ``model.h5``, or the
SavedModel folder copied as ``saved_model/``. Keras files are loaded with
``compile=False`` (nothing of training is needed to serve) and in Keras's safe mode,
which refuses Python lambdas in the model; SavedModels are loaded with
``tf.saved_model.load`` and called through a serving signature (``serving_default``),
which needs no Python code at all.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mdreg.errors import InputError
from mdreg.frameworks._params import json_safe
from mdreg.frameworks.base import Detection, Framework, LoadOptions, ModelFacts
from mdreg.frameworks.code import ModelCode
from mdreg.frameworks.probe import Probe

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
H5_SEARCH_BYTES = 64 * 1024
KERAS_FILE = "model.keras"
H5_FILE = "model.h5"
SAVED_MODEL_DIR = "saved_model"
SERVING_SIGNATURE = "serving_default"
#: Distributions that provide the ``tensorflow`` module, in the order they are looked up.
TF_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-intel",
                    "tensorflow-macos", "tf-nightly", "tf-nightly-cpu")
_MAX_CONFIG_BYTES = 8 << 20  # config.json read from a .keras zip for facts, at most


@dataclass
class InputSpec:
    """One input (or output) tensor of the model: name, shape (None: any size), dtype."""

    name: str
    shape: tuple[int | None, ...] | None
    dtype: str

    def as_tuple(self) -> tuple[str, list[int | None] | None, str]:
        return (self.name, list(self.shape) if self.shape is not None else None, self.dtype)


@dataclass
class LoadedModel:
    """What ``load`` returns: the model object and what mdreg learned while loading it."""

    kind: str  # "keras" | "h5" | "saved_model"
    model: Any  # a keras.Model, or the object tf.saved_model.load returned
    source: Path
    inputs: list[InputSpec]
    outputs: list[InputSpec]
    signature: str | None = None  # the SavedModel signature served
    compile_config: dict[str, Any] = field(default_factory=dict)
    safe_mode: bool = True
    model_code: Path | None = None

    @property
    def by_name(self) -> bool:
        """Several inputs, each one column: a request's columns are fed by input name."""
        return len(self.inputs) > 1 and all(_is_column(s.shape) for s in self.inputs)

    @property
    def several_inputs(self) -> list[str]:
        """The inputs' names when there are several of other shapes (one array each, by
        name, in the sample and the request); [] otherwise."""
        return [s.name for s in self.inputs] if len(self.inputs) > 1 and not self.by_name else []


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
            return _sniff_saved_model(probe)
        if probe.head.startswith(HDF5_MAGIC):
            return _sniff_h5(probe)
        if probe.head.startswith(b"PK"):
            report = probe.pickle
            if report is not None and report.container == "keras-zip":
                return Detection(self.name, 0.95, _keras_zip_evidence(probe.path))
        return None

    # -- the model ----------------------------------------------------------------------
    def version(self) -> str | None:
        import importlib.metadata  # noqa: PLC0415 - kept out of sniffing

        for dist in TF_DISTRIBUTIONS:
            try:
                return importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                continue
        return None

    def load(self, path: Path, options: LoadOptions) -> LoadedModel:
        self.require()
        kind = _kind_of(path)
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
        if kind == "saved_model":
            return _load_saved_model(path)
        # --trust turns Keras's safe mode off, once LoadOptions carries it
        safe_mode = not getattr(options, "trust", False)
        # the user's module, importable under its own name while Keras loads the model: it
        # registers the custom classes, and Keras finds unregistered ones by module
        code = options.code or (ModelCode.load(options.model_code) if options.model_code
                                else None)
        with code.importable() if code else contextlib.nullcontext():
            return _load_keras(path, kind, safe_mode, options.model_code)

    def save(self, model: LoadedModel, source: Path, dest_dir: Path, options: LoadOptions) -> str:
        # Keep the user's bytes: re-saving could change what the model holds.
        if model.model_code is not None:
            shutil.copyfile(model.model_code, dest_dir / model.model_code.name)
        if model.kind == "saved_model":
            shutil.copytree(source, dest_dir / SAVED_MODEL_DIR, symlinks=False)
            return SAVED_MODEL_DIR
        name = KERAS_FILE if model.kind == "keras" else H5_FILE
        shutil.copyfile(source, dest_dir / name)
        return name

    def describe(self, model: LoadedModel) -> ModelFacts:
        feature_names, n_features = _features(model)
        if model.kind == "saved_model":
            algorithm = "SavedModel"
            saved_by = getattr(model.model, "tensorflow_version", None)
            hyper: dict[str, Any] = {"signature": model.signature,
                                     "saved_by_tensorflow": str(saved_by) if saved_by else None}
            use_case = None
        else:
            keras_model = model.model
            algorithm = type(keras_model).__name__
            hyper = _keras_hyperparameters(keras_model, model.compile_config)
            use_case = _use_case(keras_model, model.compile_config)
        hyper["inputs"] = {s.name: [list(s.shape) if s.shape else None, s.dtype]
                           for s in model.inputs}
        hyper["outputs"] = {s.name: [list(s.shape) if s.shape else None, s.dtype]
                            for s in model.outputs}
        return ModelFacts(
            algorithm=algorithm,
            framework_version=self.version(),
            hyperparameters=json_safe({k: v for k, v in hyper.items() if v is not None}),
            use_case_type=use_case,
            feature_names=feature_names,
            n_features=n_features,
            input_names=model.several_inputs or None,
        )

    def predict(self, model: LoadedModel, data: Any) -> Any:
        import numpy as np  # noqa: PLC0415
        import pandas as pd  # noqa: PLC0415

        out = _call(model, _model_inputs(model, data))
        if isinstance(out, dict) and len(out) == 1:
            out = next(iter(out.values()))
        if isinstance(out, (list, tuple)) and len(out) == 1:
            out = out[0]
        if isinstance(out, np.ndarray):
            return out.reshape(len(out), -1) if out.ndim > 2 else out
        # several outputs: one frame, a column per output value, for the output schema
        items = out.items() if isinstance(out, dict) else \
            ((name, v) for name, v in zip([s.name for s in model.outputs], out))
        columns: dict[str, Any] = {}
        for name, value in items:
            value = np.asarray(value).reshape(len(value), -1)
            for j in range(value.shape[1]):
                columns[name if value.shape[1] == 1 else f"{name}[{j}]"] = value[:, j]
        return pd.DataFrame(columns)

    def template_context(self, model: LoadedModel, source: Path) -> dict[str, Any]:
        return {
            "predict_call": "run_model(model, features)",
            "model_kind": model.kind,
            "signature_literal": repr(model.signature),
            "model_inputs": repr([s.as_tuple() for s in model.inputs]),
            "inputs_by_name": model.by_name,
            "several_inputs": model.several_inputs,
            "safe_mode": model.safe_mode,
            "model_code_module": model.model_code.stem if model.model_code else None,
        }


# -- detection helpers -------------------------------------------------------------------


def _sniff_saved_model(probe: Probe) -> Detection | None:
    names = set(probe.names)
    pb = "saved_model.pb" if "saved_model.pb" in names else \
        "saved_model.pbtxt" if "saved_model.pbtxt" in names else None
    if pb is None:
        return None
    parts = [pb] + [n + ("/" if n in ("variables", "assets") else "") for n in
                    ("variables", "fingerprint.pb", "keras_metadata.pb") if n in names]
    return Detection("tensorflow", 0.95, f"SavedModel folder holding {', '.join(parts)}")


def _sniff_h5(probe: Probe) -> Detection:
    try:
        with probe.path.open("rb") as f:
            head = f.read(H5_SEARCH_BYTES)
    except OSError:
        head = probe.head
    found = [a for a in ("model_config", "keras_version", "backend") if a.encode() in head]
    if "model_config" in found:
        return Detection("tensorflow", 0.9, "HDF5 file with Keras root attributes "
                         + ", ".join(found))
    return Detection("tensorflow", 0.3, "HDF5 file without a Keras model_config attribute in "
                     f"its first {H5_SEARCH_BYTES // 1024} KiB (weights only, or not Keras?)")


def _keras_zip_evidence(path: Path) -> str:
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
    return f"Keras zip holding {what or 'config.json'}" + \
        (f", saved by Keras {version}" if version else "")


def _kind_of(path: Path) -> str:
    probe = Probe.of(path)
    if probe.is_dir:
        if _sniff_saved_model(probe) is None:
            raise InputError(f"{path}: a folder without saved_model.pb is not a SavedModel")
        return "saved_model"
    if probe.head.startswith(HDF5_MAGIC):
        return "h5"
    if probe.head.startswith(b"PK"):
        return "keras"
    raise InputError(f"{path}: not a .keras zip, an HDF5 file or a SavedModel folder "
                     f"({probe.describe()})")


# -- loading -------------------------------------------------------------------------------


def _load_keras(path: Path, kind: str, safe_mode: bool, model_code: Path | None) -> LoadedModel:
    import keras  # noqa: PLC0415 - frameworks load only when needed

    compile_config = _compile_config(path, kind)
    if kind == "h5" and not _h5_has_model(path):
        raise InputError(f"{path}: this HDF5 file holds no Keras model_config (weights only?): "
                         "save the whole model with model.save('model.keras')")
    try:
        model = _quiet(lambda: keras.saving.load_model(path, compile=False, safe_mode=safe_mode))
    except Exception as exc:
        text = str(exc)
        if "safe_mode" in text or "arbitrary code" in text:
            trust = " or pass --trust if you trust its author" \
                if "trust" in getattr(LoadOptions, "__dataclass_fields__", {}) else ""
            raise InputError(f"{path}: the model holds Python code (a Lambda layer's lambda), "
                             "which Keras refuses to load in safe mode; rewrite it as a "
                             f"registered custom layer and pass --model-code FILE.py{trust}"
                             ) from exc
        if "Could not locate" in text or "Unknown layer" in text or "custom_objects" in text:
            raise InputError(f"{path}: the model uses custom classes Keras cannot find: pass "
                             f"--model-code FILE.py defining them ({text.splitlines()[0][:200]})"
                             ) from exc
        raise
    return LoadedModel(kind, model, path, _keras_specs(model.inputs), _keras_specs(model.outputs),
                       compile_config=compile_config, safe_mode=safe_mode, model_code=model_code)


def _quiet(fn: Any) -> Any:
    """Run fn with Keras's own warnings turned down: absl log lines and the numpy 2
    DeprecationWarning its legacy HDF5 loader raises are not the user's to act on."""
    import logging  # noqa: PLC0415
    import warnings  # noqa: PLC0415

    loggers = [logging.getLogger(n) for n in ("absl", "tensorflow")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return fn()
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _h5_has_model(path: Path) -> bool:
    import h5py  # noqa: PLC0415 - ships with Keras

    with h5py.File(path, "r") as f:
        return "model_config" in f.attrs


def _compile_config(path: Path, kind: str) -> dict[str, Any]:
    """How the model was compiled (loss, optimizer), read from the file without compiling."""
    try:
        if kind == "keras":
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
            return {"loss": _loss_name(doc.get("loss")), "optimizer": opt_name,
                    "learning_rate": lr}
        import h5py  # noqa: PLC0415

        with h5py.File(path, "r") as f:
            raw = f.attrs.get("training_config")
        if raw is None:
            return {}
        doc = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        opt = doc.get("optimizer_config") or {}
        return {"loss": _loss_name(doc.get("loss")), "optimizer": opt.get("class_name"),
                "learning_rate": (opt.get("config") or {}).get("learning_rate")}
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


def _load_saved_model(path: Path) -> LoadedModel:
    import tensorflow as tf  # noqa: PLC0415

    loaded = tf.saved_model.load(str(path))
    signatures = dict(getattr(loaded, "signatures", {}) or {})
    if SERVING_SIGNATURE in signatures:
        name = SERVING_SIGNATURE
    elif len(signatures) == 1:
        name = next(iter(signatures))
    elif signatures:
        raise InputError(f"{path}: the SavedModel has several signatures and none is "
                         f"{SERVING_SIGNATURE!r} ({', '.join(sorted(signatures))}): re-export "
                         "it with the one to serve as serving_default")
    else:
        raise InputError(f"{path}: the SavedModel has no serving signature: export it with "
                         "model.export(PATH) (Keras 3) or tf.saved_model.save(obj, PATH, "
                         "signatures=...)")
    fn = signatures[name]
    args, kwargs = fn.structured_input_signature
    if args:
        raise InputError(f"{path}: signature {name!r} takes positional inputs; mdreg serves "
                         "signatures whose inputs are named")
    inputs = [_spec(key, spec) for key, spec in sorted(kwargs.items())]
    outputs = fn.structured_outputs
    out_specs = [_spec(k, v) for k, v in sorted(outputs.items())] if isinstance(outputs, dict) \
        else []
    return LoadedModel("saved_model", loaded, path, inputs, out_specs, signature=name)


def _spec(name: str, spec: Any) -> InputSpec:
    shape = getattr(spec, "shape", None)
    dims = tuple(shape.as_list()) if shape is not None and shape.rank is not None else None
    dtype = getattr(getattr(spec, "dtype", None), "name", None) or "float32"
    return InputSpec(str(name), dims, dtype)


def _keras_specs(tensors: Any) -> list[InputSpec]:
    out = []
    for t in tensors or []:
        shape = getattr(t, "shape", None)
        dtype = getattr(t, "dtype", "float32")
        dtype = getattr(dtype, "name", dtype)
        out.append(InputSpec(str(getattr(t, "name", "input")),
                             tuple(shape) if shape is not None else None, str(dtype)))
    return out


# -- facts -----------------------------------------------------------------------------------


def _is_column(shape: tuple[int | None, ...] | None) -> bool:
    return shape is not None and (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1))


def _features(model: LoadedModel) -> tuple[list[str] | None, int | None]:
    """Feature names (one per named column input) or the feature count of one 2-D input."""
    if model.by_name:
        return [s.name for s in model.inputs], len(model.inputs)
    if len(model.inputs) == 1:
        shape = model.inputs[0].shape
        if shape is not None and len(shape) == 2 and isinstance(shape[1], int):
            return None, shape[1]
    return None, None


def _keras_hyperparameters(model: Any, compile_config: dict[str, Any]) -> dict[str, Any]:
    layers = []
    for layer in getattr(model, "layers", []):
        config = _layer_config(layer)
        what = type(layer).__name__
        details = [str(config[k]) for k in ("units", "filters", "activation") if config.get(k)]
        if what != "InputLayer":
            layers.append(f"{what}({', '.join(details)})" if details else what)
    try:
        params = int(model.count_params())
    except Exception:  # noqa: BLE001 - an unbuilt subclassed model
        params = None
    return {
        "layers": layers,
        "params": params,
        "loss": compile_config.get("loss"),
        "optimizer": compile_config.get("optimizer"),
        "learning_rate": compile_config.get("learning_rate"),
        "keras_version": _dist_version("keras"),
    }


def _layer_config(layer: Any) -> dict[str, Any]:
    try:
        config = layer.get_config()
    except Exception:  # noqa: BLE001 - custom layers without get_config
        return {}
    return config if isinstance(config, dict) else {}


def _use_case(model: Any, compile_config: dict[str, Any]) -> str | None:
    """From the loss the model was compiled with, else from its last layer's activation."""
    units = None
    outputs = getattr(model, "outputs", None) or []
    if len(outputs) == 1 and getattr(outputs[0], "shape", None):
        units = outputs[0].shape[-1]
    loss = compile_config.get("loss")
    loss = loss.lower() if isinstance(loss, str) else ""
    if "binary" in loss or "hinge" in loss:
        return "binary_classification"
    if "categorical" in loss:
        return "binary_classification" if units == 2 else "multinomial_classification"
    if any(w in loss for w in ("squared", "absolute", "mse", "mae", "huber", "logcosh",
                               "log_cosh", "poisson")):
        return "regression"
    layers = getattr(model, "layers", None) or []
    activation = str(_layer_config(layers[-1]).get("activation") or "") if layers else ""
    if activation == "softmax" and units:
        return "binary_classification" if units == 2 else "multinomial_classification"
    if activation == "sigmoid" and units == 1:
        return "binary_classification"
    return None


def _dist_version(name: str) -> str | None:
    import importlib.metadata  # noqa: PLC0415

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


# -- predicting (for the output schema; score.py does the same with its own copy) ----------


def _np_dtype(dtype: str) -> Any:
    return object if dtype == "string" else dtype


def _as_input(values: Any, spec: InputSpec) -> Any:
    import numpy as np  # noqa: PLC0415

    array = np.asarray(values, dtype=_np_dtype(spec.dtype))
    if spec.shape is not None and len(spec.shape) == 2 and spec.shape[1] == 1 and array.ndim == 1:
        array = array.reshape(-1, 1)
    return array


def _model_inputs(model: LoadedModel, data: Any) -> Any:
    import pandas as pd  # noqa: PLC0415

    if isinstance(data, dict):  # one array per input, by name (build._by_input checked them)
        return {s.name: _as_input(data[s.name], s) for s in model.inputs}
    if model.by_name:
        frame = data if isinstance(data, pd.DataFrame) else \
            pd.DataFrame(data, columns=[s.name for s in model.inputs])
        return {s.name: _as_input(frame[s.name].to_numpy(), s) for s in model.inputs}
    if isinstance(data, (pd.DataFrame, pd.Series)):
        data = data.to_numpy()
    if len(model.inputs) == 1:
        return _as_input(data, model.inputs[0])
    raise InputError("the model has several inputs that are not one column each: "
                     "mdreg cannot feed it a sample table; pass --y-sample for the output schema")


def _call(model: LoadedModel, inputs: Any) -> Any:
    import tensorflow as tf  # noqa: PLC0415

    if model.kind == "saved_model":
        fn = model.model.signatures[model.signature]
        feed = inputs if isinstance(inputs, dict) else {model.inputs[0].name: inputs}
        out = fn(**{k: tf.convert_to_tensor(v) for k, v in feed.items()})
    else:
        out = model.model(inputs, training=False)
    return tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, out)
