"""What a loaded TensorFlow model says about itself: its features, a Keras model's layers
and compile settings, and the use case they suggest."""

from __future__ import annotations

from typing import Any

from mdreg.frameworks.tensorflow.model import LoadedModel


def features(model: LoadedModel) -> tuple[list[str] | None, int | None]:
    """Feature names (one per named column input) or the feature count of one 2-D input."""
    inputs = model.inputs
    if inputs.by_column:
        return inputs.names, len(inputs)
    return None, inputs.n_features


def keras_hyperparameters(model: Any, compile_config: dict[str, Any]) -> dict[str, Any]:
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


def use_case(model: Any, compile_config: dict[str, Any]) -> str | None:
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
    if any(
        w in loss
        for w in ("squared", "absolute", "mse", "mae", "huber", "logcosh", "log_cosh", "poisson")
    ):
        return "regression"
    layers = getattr(model, "layers", None) or []
    activation = str(_layer_config(layers[-1]).get("activation") or "") if layers else ""
    if activation == "softmax" and units:
        return "binary_classification" if units == 2 else "multinomial_classification"
    if activation == "sigmoid" and units == 1:
        return "binary_classification"
    return None


def _dist_version(name: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None
