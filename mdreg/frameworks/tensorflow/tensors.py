"""Predicting at prepare time, for the output schema (score.py does the same with its
own copy): the sample as the model's inputs, its outputs back as an array or a frame."""

from __future__ import annotations

from typing import Any

from mdreg.errors import InputError
from mdreg.frameworks.inputs import InputSpec
from mdreg.frameworks.tensorflow.model import SAVED_MODEL, LoadedModel


def predict(model: LoadedModel, data: Any) -> Any:
    """The model's answer to a sample: one array, or a frame of a column per output value
    when it has several outputs."""
    import numpy as np
    import pandas as pd

    out = _call(model, _feed(model, data))
    if isinstance(out, dict) and len(out) == 1:
        out = next(iter(out.values()))
    if isinstance(out, (list, tuple)) and len(out) == 1:
        out = out[0]
    if isinstance(out, np.ndarray):
        return out.reshape(len(out), -1) if out.ndim > 2 else out
    # several outputs: one frame, a column per output value, for the output schema
    items = (
        out.items()
        if isinstance(out, dict)
        else ((name, v) for name, v in zip([s.name for s in model.outputs], out))
    )
    columns: dict[str, Any] = {}
    for name, value in items:
        value = np.asarray(value).reshape(len(value), -1)
        for j in range(value.shape[1]):
            columns[name if value.shape[1] == 1 else f"{name}[{j}]"] = value[:, j]
    return pd.DataFrame(columns)


def _np_dtype(dtype: str | None) -> Any:
    return object if dtype == "string" else dtype


def _as_input(values: Any, spec: InputSpec) -> Any:
    import numpy as np

    array = np.asarray(values, dtype=_np_dtype(spec.dtype))
    if spec.shape is not None and len(spec.shape) == 2 and spec.shape[1] == 1 and array.ndim == 1:
        array = array.reshape(-1, 1)
    return array


def _feed(model: LoadedModel, data: Any) -> Any:
    """The sample as the model's inputs: one array, or arrays by input name."""
    import pandas as pd

    if isinstance(data, dict):  # one array per input, by name (schema_facts.by_input checked them)
        return {s.name: _as_input(data[s.name], s) for s in model.inputs}
    if model.inputs.by_column:
        frame = (
            data
            if isinstance(data, pd.DataFrame)
            else pd.DataFrame(data, columns=[s.name for s in model.inputs])
        )
        return {s.name: _as_input(frame[s.name].to_numpy(), s) for s in model.inputs}
    if isinstance(data, (pd.DataFrame, pd.Series)):
        data = data.to_numpy()
    if len(model.inputs) == 1:
        return _as_input(data, model.inputs[0])
    raise InputError(
        "the model has several inputs that are not one column each: "
        "mdreg cannot feed it a sample table; pass --y-sample for the output schema"
    )


def _call(model: LoadedModel, inputs: Any) -> Any:
    import tensorflow as tf

    if model.kind == SAVED_MODEL:
        fn = model.model.signatures[model.signature]
        feed = inputs if isinstance(inputs, dict) else {model.inputs[0].name: inputs}
        out = fn(**{k: tf.convert_to_tensor(v) for k, v in feed.items()})
    else:
        out = model.model(inputs, training=False)
    return tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, out)
