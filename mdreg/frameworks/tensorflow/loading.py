"""Loading: Keras files through ``keras.saving.load_model`` (without compiling, in safe
mode unless trusted), SavedModels through ``tf.saved_model.load`` and their serving
signature; the model's inputs and outputs read from either."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mdreg.errors import InputError
from mdreg.frameworks.base import LoadOptions
from mdreg.frameworks.inputs import InputSpec, ModelInputs
from mdreg.frameworks.tensorflow.files import compile_config, h5_has_model
from mdreg.frameworks.tensorflow.model import H5, SAVED_MODEL, SERVING_SIGNATURE, LoadedModel


def load_keras(path: Path, kind: str, safe_mode: bool, model_code: Path | None) -> LoadedModel:
    import keras  # frameworks load only when needed

    config = compile_config(path, kind)
    if kind == H5 and not h5_has_model(path):
        raise InputError(
            f"{path}: this HDF5 file holds no Keras model_config (weights only?): "
            "save the whole model with model.save('model.keras')"
        )
    try:
        model = _quiet(lambda: keras.saving.load_model(path, compile=False, safe_mode=safe_mode))
    except Exception as exc:
        text = str(exc)
        if "safe_mode" in text or "arbitrary code" in text:
            trust = (
                " or pass --trust if you trust its author"
                if "trust" in getattr(LoadOptions, "__dataclass_fields__", {})
                else ""
            )
            raise InputError(
                f"{path}: the model holds Python code (a Lambda layer's lambda), "
                "which Keras refuses to load in safe mode; rewrite it as a "
                f"registered custom layer and pass --model-code FILE.py{trust}"
            ) from exc
        if "Could not locate" in text or "Unknown layer" in text or "custom_objects" in text:
            raise InputError(
                f"{path}: the model uses custom classes Keras cannot find: pass "
                f"--model-code FILE.py defining them ({text.splitlines()[0][:200]})"
            ) from exc
        raise
    return LoadedModel(
        kind,
        model,
        path,
        ModelInputs.of(_tensor_specs(model.inputs), columns=True),
        _tensor_specs(model.outputs),
        compile_config=config,
        safe_mode=safe_mode,
        model_code=model_code,
    )


def _quiet(fn: Any) -> Any:
    """Run fn with Keras's own warnings turned down: absl log lines and the numpy 2
    DeprecationWarning its legacy HDF5 loader raises are not the user's to act on."""
    import logging
    import warnings

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


def load_saved_model(path: Path) -> LoadedModel:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    signatures = dict(getattr(loaded, "signatures", {}) or {})
    if SERVING_SIGNATURE in signatures:
        name = SERVING_SIGNATURE
    elif len(signatures) == 1:
        name = next(iter(signatures))
    elif signatures:
        raise InputError(
            f"{path}: the SavedModel has several signatures and none is "
            f"{SERVING_SIGNATURE!r} ({', '.join(sorted(signatures))}): re-export "
            "it with the one to serve as serving_default"
        )
    else:
        raise InputError(
            f"{path}: the SavedModel has no serving signature: export it with "
            "model.export(PATH) (Keras 3) or tf.saved_model.save(obj, PATH, "
            "signatures=...)"
        )
    fn = signatures[name]
    args, kwargs = fn.structured_input_signature
    if args:
        raise InputError(
            f"{path}: signature {name!r} takes positional inputs; mdreg serves "
            "signatures whose inputs are named"
        )
    inputs = ModelInputs.of(
        (_signature_spec(key, spec) for key, spec in sorted(kwargs.items())), columns=True
    )
    outputs = fn.structured_outputs
    out_specs = (
        [_signature_spec(k, v) for k, v in sorted(outputs.items())]
        if isinstance(outputs, dict)
        else []
    )
    return LoadedModel(SAVED_MODEL, loaded, path, inputs, out_specs, signature=name)


def _signature_spec(name: str, spec: Any) -> InputSpec:
    """One input (or output) of a SavedModel signature, from its tf.TensorSpec."""
    shape = getattr(spec, "shape", None)
    dims = tuple(shape.as_list()) if shape is not None and shape.rank is not None else None
    dtype = getattr(getattr(spec, "dtype", None), "name", None) or "float32"
    return InputSpec(str(name), dims, dtype)


def _tensor_specs(tensors: Any) -> list[InputSpec]:
    """A Keras model's input (or output) tensors, each as an InputSpec."""
    out = []
    for t in tensors or []:
        shape = getattr(t, "shape", None)
        dtype = getattr(t, "dtype", "float32")
        dtype = getattr(dtype, "name", dtype)
        out.append(
            InputSpec(
                str(getattr(t, "name", "input")),
                tuple(shape) if shape is not None else None,
                str(dtype),
            )
        )
    return out
