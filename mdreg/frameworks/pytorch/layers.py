"""The model's layers, for its description: its class (or a graph's root module) and
the class names of its leaf layers."""

from __future__ import annotations

from collections import Counter
from typing import Any

from mdreg.frameworks.pytorch.model import EXPORT, TORCHSCRIPT, TorchModel


def algorithm(model: TorchModel) -> str:
    if model.kind == TORCHSCRIPT:
        return str(getattr(model.module, "original_name", type(model.module).__name__))
    if model.kind == EXPORT:
        for node in model.program.graph.nodes:
            stack = node.meta.get("nn_module_stack")
            if stack:
                _, root = next(iter(stack.values()))
                return str(root).rsplit(".", 1)[-1]
        return "ExportedProgram"
    return type(model.module).__name__


def leaf_types(model: TorchModel) -> list[str]:
    """Class names of the model's leaf layers, in order."""
    if model.kind == EXPORT:
        seen: dict[str, str] = {}
        for node in model.program.graph.nodes:
            stack = node.meta.get("nn_module_stack")
            if stack:
                path, cls = list(stack.values())[-1]
                seen.setdefault(path, str(cls).rsplit(".", 1)[-1])
        return list(seen.values())
    leaves = []
    for sub in model.module.modules():
        if next(iter(sub.children()), None) is None:
            leaves.append(str(getattr(sub, "original_name", type(sub).__name__)))
    return leaves


def layer_counts(model: TorchModel) -> Counter[str]:
    try:
        return Counter(leaf_types(model))
    except Exception:  # noqa: BLE001 - a description, never a reason to fail
        return Counter()


def first_layer_width(module: Any) -> int | None:
    """The first leaf layer's ``in_features`` (a Linear's), when it has one."""
    for sub in module.modules():
        if next(iter(sub.children()), None) is not None:
            continue
        width = getattr(sub, "in_features", None)
        return int(width) if isinstance(width, int) else None
    return None
