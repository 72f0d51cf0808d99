"""The model's inputs: its forward's tensor arguments, the dtypes the model fixes and the
batch size a ``.pt2`` was exported for, read once per loaded model and kept on it."""

from __future__ import annotations

import inspect

from mdreg.frameworks.inputs import InputSpec, ModelInputs
from mdreg.frameworks.pytorch.layers import first_layer_width, leaf_types
from mdreg.frameworks.pytorch.model import EXPORT, TORCHSCRIPT, TorchModel

#: First layers that take integer ids, not floats.
_ID_LAYERS = ("Embedding", "EmbeddingBag")


def model_inputs(model: TorchModel) -> ModelInputs:
    """The model's inputs, in its forward's order; read on first use, then kept on it."""
    if model._inputs is None:
        model._inputs = _read(model)
    return model._inputs


def _read(model: TorchModel) -> ModelInputs:
    names = _forward_names(model) or []
    if model.kind == EXPORT:
        inputs = _graph_inputs(model, names)
        dtypes = {s.dtype for s in inputs if s.dtype}
        return ModelInputs.of(inputs, dtype=dtypes.pop() if len(dtypes) == 1 else None)
    return ModelInputs.of((InputSpec(name) for name in names), dtype=_id_dtype(model))


def _forward_names(model: TorchModel) -> list[str] | None:
    """The names of the arguments the model's forward requires (those without a default),
    or None when the model does not say."""
    try:
        if model.kind == EXPORT:
            return list(model.program.graph_signature.user_inputs)
        if model.kind == TORCHSCRIPT:  # its schema starts with self
            return [
                a.name
                for a in model.module.forward.schema.arguments[1:]
                if not a.has_default_value()
            ]
        positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        return [
            p.name
            for p in inspect.signature(model.module.forward).parameters.values()
            if p.kind in positional and p.default is inspect.Parameter.empty
        ]
    except Exception:  # noqa: BLE001 - a forward mdreg cannot read: assume one input
        return None


def _graph_inputs(model: TorchModel, names: list[str]) -> list[InputSpec]:
    """A .pt2's inputs as the fake tensors its graph records: shape (a dynamic dimension
    is None) and dtype; names only when torch cannot describe them."""
    try:
        placeholders = {n.name: n for n in model.program.graph.nodes if n.op == "placeholder"}
        inputs = []
        for name in names:
            val = placeholders[name].meta["val"]
            shape = tuple(int(d) if isinstance(d, int) else None for d in val.shape)
            inputs.append(InputSpec(name, shape, str(val.dtype).removeprefix("torch.")))
        return inputs
    except Exception:  # noqa: BLE001 - then the defaults apply: float inputs, any batch
        return [InputSpec(name) for name in names]


def _id_dtype(model: TorchModel) -> str | None:
    """int64 for a model whose first layer is an embedding (it takes token ids)."""
    try:
        leaves = leaf_types(model)
    except Exception:  # noqa: BLE001 - then the float default applies
        return None
    return "int64" if leaves and leaves[0] in _ID_LAYERS else None


def n_features(model: TorchModel) -> int | None:
    """Features per row, when the model says: a .pt2's one 2-D input of fixed width, or
    the first layer's ``in_features`` (Linear)."""
    if model.kind == EXPORT:
        return model_inputs(model).n_features
    try:
        return first_layer_width(model.module)
    except Exception:  # noqa: BLE001
        return None
