"""Samples as the tensors a model takes, and its answers back as arrays (prepare runs the
model on --x-sample for the output schema; score.py does the same with its own copy)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mdreg.errors import InputError
from mdreg.frameworks.pytorch.inputs import model_inputs
from mdreg.frameworks.pytorch.model import TorchModel


def predict(model: TorchModel, data: Any) -> Any:
    """The model's answer to a sample: one array or frame, or (several inputs) one array
    per forward argument, by name; fed in the batch size a .pt2 fixes, if any."""
    import numpy as np
    import torch

    inputs = model_inputs(model)
    xs = (
        [_as_tensor(data[name], model, name) for name in inputs.input_names]
        if isinstance(data, dict)
        else [_as_tensor(data, model)]
    )
    n = xs[0].shape[0]
    size = inputs.static_batch
    if size:  # a .pt2 exported for batches of exactly `size` items
        n = (n // size) * size
        if not n:
            raise InputError(
                f"the model was exported for batches of exactly {size} items; "
                f"the sample has {xs[0].shape[0]}"
            )
    batches = zip(*(torch.split(x[:n], size or n) for x in xs), strict=True)
    parts = []
    with torch.inference_mode():
        for batch in batches:
            out = _first_tensor(model.module(*batch))
            if out is None:
                raise InputError("the model returned no tensor")
            parts.append(np.asarray(_tensor_to_numpy(out)))
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


def _model_dtype(module: Any) -> Any:
    """The dtype of the module's floating-point parameters (float32 without any)."""
    import torch

    for p in module.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def _as_tensor(data: Any, model: TorchModel, name: str | None = None) -> Any:
    """The sample (of input ``name``, for a model of several) as a tensor of the dtype the
    model takes: the one it fixes, integers kept for integer samples of a named input (ids),
    else its floating-point dtype."""
    import numpy as np
    import torch

    if hasattr(data, "to_numpy"):
        data = data.to_numpy()
    array = np.asarray(data)
    if array.dtype.kind not in "biuf":
        raise InputError(f"a PyTorch model takes numbers; the sample holds {array.dtype} values")
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    inputs = model_inputs(model)
    wanted = inputs.dtypes.get(name) if name else inputs.dtype
    if wanted:
        return tensor.to(getattr(torch, wanted))
    if name and array.dtype.kind in "iu":
        return tensor.to(torch.int64)
    return tensor.to(_model_dtype(model.module))


def _first_tensor(out: Any) -> Any:
    import torch

    if isinstance(out, torch.Tensor):
        return out
    values = (
        out.values() if isinstance(out, Mapping) else out if isinstance(out, (list, tuple)) else ()
    )
    for value in values:
        found = _first_tensor(value)
        if found is not None:
            return found
    return None


def _tensor_to_numpy(tensor: Any) -> Any:
    import torch

    tensor = tensor.detach().cpu()
    if tensor.dtype == torch.bfloat16:
        tensor = tensor.float()
    return tensor.numpy()
