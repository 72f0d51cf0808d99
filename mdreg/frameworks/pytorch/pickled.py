"""Pickled modules (``torch.save(model)``) and state_dicts: the pickle's globals
remapped onto the user's ``--model-code`` file or the Python path, loaded through torch's
weights-only unpickler where it can, and the weights of a checkpoint found."""

from __future__ import annotations

import _compat_pickle
import importlib
import sys
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mdreg.errors import InputError
from mdreg.frameworks.code import ModelCode
from mdreg.frameworks.pytorch.model import MODULE, STATE_DICT, TorchModel

#: Keys under which training checkpoints commonly keep the weights.
CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model")
#: Top-level modules whose globals are never "the user's code".
_LIBRARY_MODULES = frozenset({"torch", "numpy", "__builtin__", "copy_reg"}) | frozenset(
    sys.stdlib_module_names
)


def _is_user_module(module: str) -> bool:
    return module.split(".", 1)[0] not in _LIBRARY_MODULES


def _normalize(module: str, name: str) -> tuple[str, str]:
    """The names a protocol 0-2 pickle really imports (``__builtin__`` -> ``builtins``)."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def _resolve(module: str, attribute: str) -> Any:
    obj: Any = importlib.import_module(module)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


def _target(module: str, name: str, code: ModelCode | None) -> tuple[str, str]:
    """Where the object a pickle calls ``module.name`` is found: in the user's code file
    or on the Python path. Raises InputError with the fix when it is nowhere."""
    if code is not None and code.owns(module):
        if not hasattr(code.module, name.split(".")[0]):
            raise InputError(
                f"--model-code {code.path} does not define {name}, which the "
                f"pickle needs (as {module}.{name})"
            )
        return code.name, name
    if module == "__main__":
        raise InputError(
            f"the model's class {name} was defined in the training script itself "
            f"(pickled as __main__.{name}), so no other program can find it: pass "
            "--model-code FILE.py, a file that defines it (mdreg copies it into "
            'the artifact; keep any training under `if __name__ == "__main__":`)'
        )
    try:
        _resolve(module, name)
    except (ImportError, AttributeError) as exc:
        if code is not None and hasattr(code.module, name.split(".")[0]):
            return code.name, name  # the class moved: the user's file defines it
        hint = (
            f"--model-code {code.path} does not define it either"
            if code
            else "pass --model-code FILE.py, a file that defines it"
        )
        raise InputError(
            f"the pickle needs {module}.{name}, which cannot be imported "
            f"({type(exc).__name__}: {exc}); {hint}"
        ) from exc
    return module, name


def load_pickled_module(
    path: Path, code: ModelCode | None, cleared: frozenset[tuple[str, str]] | None
) -> TorchModel:
    import pickle

    import torch

    from mdreg.scan import read_pickle_globals
    from mdreg.scan.gate import torch_pickle_module

    report = read_pickle_globals(path)
    pickle_globals: list[list[str]] = []
    user_modules: list[str] = []
    targets: dict[str, Any] = {}
    for pickled_module, pickled_name in dict.fromkeys((g.module, g.name) for g in report.globals):
        module, name = _normalize(pickled_module, pickled_name)
        if _is_user_module(module):
            module, name = _target(module, name, code)
            if module not in user_modules:
                user_modules.append(module)
        obj = code.module if code is not None and module == code.name else None
        obj = _resolve_in(obj, name) if obj is not None else _resolve(module, name)
        targets[f"{pickled_module}.{pickled_name}"] = obj
        pickle_globals.append([pickled_module, pickled_name, module, name])
    classes: list[Callable[..., Any] | tuple[Callable[..., Any], str]] = [
        (obj, key) for key, obj in targets.items() if isinstance(obj, type)
    ]
    with warnings.catch_warnings():  # the legacy format's "Couldn't retrieve source code"
        warnings.filterwarnings("ignore", message="Couldn't retrieve source code")
        try:
            with torch.serialization.safe_globals(classes):
                loaded = torch.load(str(path), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            # More than classes and tensors (a function kept as an attribute, ...): the
            # safety gate judged these globals (or the user passed --trust) before this.
            loaded = torch.load(
                str(path),
                map_location="cpu",
                weights_only=False,
                pickle_module=torch_pickle_module(cleared, targets),
            )
    if isinstance(loaded, torch.nn.Module):
        return TorchModel(
            MODULE,
            loaded.eval(),
            code=code,
            pickle_globals=pickle_globals,
            user_modules=user_modules,
        )
    if _state_dict_of(loaded)[0] is not None:
        raise InputError(
            f"{path}: holds a state_dict (weights only): pass --model-class "
            "module:Class, the class to build before loading them (with "
            "--model-code FILE.py when the module is not installed)"
        )
    raise InputError(f"{path}: holds a {type(loaded).__name__}, not a torch.nn.Module")


def _resolve_in(module: Any, attribute: str) -> Any:
    obj = module
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


def _state_dict_of(obj: Any) -> tuple[Mapping[str, Any] | None, str | None]:
    """The weights in ``obj``: itself when it maps names to tensors, else the one under a
    common checkpoint key ("state_dict", "model_state_dict", "model"); and that key."""
    import torch

    def weights(value: Any) -> bool:
        return (
            isinstance(value, Mapping)
            and bool(value)
            and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())
        )

    if weights(obj):
        return obj, None
    if isinstance(obj, Mapping):
        for key in CHECKPOINT_KEYS:
            if weights(obj.get(key)):
                return obj[key], key
    return None, None


def load_state_dict(path: Path, model_class: str, code: ModelCode | None) -> TorchModel:
    import pickle

    import torch

    module_name, _, attribute = model_class.partition(":")
    if not module_name or not attribute:
        raise InputError(f"--model-class {model_class!r}: write it as module:Class")
    if code is not None:
        if not code.owns(module_name):
            raise InputError(
                f"--model-class {model_class}: the module should be the "
                f"--model-code file's, {code.name} (write {code.name}:{attribute})"
            )
        if not hasattr(code.module, attribute.split(".")[0]):
            raise InputError(f"--model-code {code.path} does not define {attribute}")
        factory, target = _resolve_in(code.module, attribute), [code.name, attribute]
    else:
        try:
            factory = _resolve(module_name, attribute)
        except (ImportError, AttributeError) as exc:
            raise InputError(
                f"--model-class {model_class}: cannot import it "
                f"({type(exc).__name__}: {exc}); pass --model-code FILE.py, "
                "the file that defines it"
            ) from exc
        target = [module_name, attribute]
    try:
        loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[-1][:200]
        raise InputError(
            f"{path}: not a plain state_dict: torch's weights-only reader refused "
            f"it ({first}); a whole pickled module needs no --model-class"
        ) from exc
    weights, key = _state_dict_of(loaded)
    if weights is None:
        where = (
            f", or a checkpoint dict with one under {', '.join(CHECKPOINT_KEYS)}"
            if isinstance(loaded, Mapping)
            else ""
        )
        raise InputError(
            f"{path}: holds a {type(loaded).__name__}, not a state_dict "
            f"(a mapping of names to tensors{where})"
        )
    try:
        model = factory()
    except TypeError as exc:
        raise InputError(
            f"--model-class {model_class}: calling it with no arguments failed "
            f"({exc}); give its arguments defaults, or name a function that "
            "builds the model"
        ) from exc
    if not isinstance(model, torch.nn.Module):
        raise InputError(
            f"--model-class {model_class} built a {type(model).__name__}, not a torch.nn.Module"
        )
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:300]
        raise InputError(f"{path}: the weights do not fit {model_class}: {detail}") from exc
    imports = [target[0]] if code is not None or _is_user_module(target[0]) else []
    return TorchModel(
        STATE_DICT,
        model.eval(),
        code=code,
        model_class=target,
        state_dict=weights if key is not None else None,
        state_dict_key=key,
        user_modules=imports,
    )


def first_model_global(names: list[str]) -> str | None:
    """The global that makes a torch.save file a model: a module class or user class."""
    for name in names:
        if name.startswith("torch.nn.modules.") or _is_user_module(name.rsplit(".", 1)[0]):
            return name
    return None
