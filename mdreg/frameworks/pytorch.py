"""PyTorch: TorchScript archives, ``torch.export`` programs (``.pt2``), whole pickled
modules (``torch.save(model)``) and state_dicts rebuilt through ``--model-class``.

What goes into the artifact, and how score.py gets the model back:

=================  ===============================  =========================================
input              artifact                         score.py
=================  ===============================  =========================================
TorchScript        ``model.pt`` (the user's bytes)  ``torch.jit.load(map_location=device)``
``.pt2``           ``model.pt2`` (the user's bytes) ``torch.export.load`` + move to device
pickled module     ``model.pt`` + the model's code  ``torch.load(weights_only=True)`` with the
                                                    pickle's classes allow-listed by name
state_dict         ``model.pt`` + the model's code  ``Class()`` then
                                                    ``load_state_dict(torch.load(weights_only=True))``
=================  ===============================  =========================================

A pickled module needs the module that defines its class. ``--model-code FILE.py`` copies
that file next to score.py (under its own name, so ``import FILE`` works there) and maps
the pickle's references onto it, including classes that were defined in the training
script itself: those are pickled as ``__main__.Class``, a name that no other process can
resolve, so without ``--model-code`` such a file is refused with a message saying so.

Loading never unpickles more than it must: state_dicts and pickled modules are read with
``weights_only=True`` (torch's restricted unpickler), the module's classes passed to it by
the names the pickle uses. Only a module that holds other objects (a function stored as
an attribute, say) falls back to ``weights_only=False`` -- after mdreg's safety gate has
judged the pickle's globals, or the user passed ``--trust``. A ``.pt2`` archive can hold
nested ``torch.save`` files that ``torch.export.load`` unpickles with
``weights_only=False``; they are scanned here before anything is loaded.

Inputs are tensors. A tabular sample gets the usual one-column-per-feature schema; a
sample of higher rank (images: ``(N, C, H, W)``) is described by ``schema.tensor_schema``: one
column for the whole tensor, whose constraint ``$x.shape[1:] == (C, H, W)`` score.py
reads to accept a single item without its batch axis.
"""

from __future__ import annotations

import _compat_pickle
import contextlib
import importlib
import importlib.util
import shutil
import sys
import warnings
import zipfile
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mdreg.errors import InputError, UnsafeModelError
from mdreg.frameworks._params import json_safe
from mdreg.frameworks.base import Detection, Framework, LoadOptions, ModelFacts
from mdreg.frameworks.code import ModelCode
from mdreg.frameworks.probe import Probe

TORCHSCRIPT = "torchscript"
EXPORT = "export"
MODULE = "module"
STATE_DICT = "state_dict"

#: Keys under which training checkpoints commonly keep the weights.
CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model")
#: Top-level modules whose globals are never "the user's code".
_LIBRARY_MODULES = frozenset({"torch", "numpy", "__builtin__", "copy_reg"}) | frozenset(
    sys.stdlib_module_names)


@dataclass
class TorchModel:
    """A loaded PyTorch model and what score.py needs to load it again."""

    kind: str  # TORCHSCRIPT, EXPORT, MODULE or STATE_DICT
    module: Any  # what is called: a ScriptModule, the exported program's module, an nn.Module
    program: Any = None  # the ExportedProgram of a .pt2
    code: ModelCode | None = None
    #: MODULE: each global of the pickle as [pickled module, pickled name, module, attribute]
    pickle_globals: list[list[str]] = field(default_factory=list)
    #: STATE_DICT: [module, attribute] of the class (or factory) that builds the model
    model_class: list[str] | None = None
    #: STATE_DICT: the weights, when they came from inside a checkpoint dict (re-saved alone)
    state_dict: Any = None
    state_dict_key: str | None = None
    #: modules score.py imports to find the model's classes
    user_modules: list[str] = field(default_factory=list)


class PyTorchFramework(Framework):
    name = "pytorch"
    takes_model_class = True
    display_name = "PyTorch"
    taxonomy_framework = "pytorch"
    module = "torch"
    distribution = "torch"
    extra = "torch"
    model_file_name = "model.pt"
    serialization_format = "pt"
    template = "score_pytorch.py.jinja2"
    inference_modules = ("torch",)
    allow = ("torch",)

    # -- detection (bytes only) -------------------------------------------------------
    def sniff(self, probe: Probe) -> Detection | None:
        report = probe.pickle
        if report is None:
            return None
        container = report.container
        if container == "torchscript-zip":
            return Detection(self.name, 0.99, "TorchScript archive (code/ and data.pkl, "
                                              "written by torch.jit.save)")
        if container == "torch-legacy":
            return Detection(self.name, 0.95, "torch.save file in the legacy (pre-1.6) format")
        if container == "torch-zip":
            ref = _first_model_global(probe.global_names())
            what = f"data.pkl references {ref}" if ref else \
                "data.pkl holds tensors only (a state_dict: needs --model-class)"
            return Detection(self.name, 0.95, f"torch.save archive: {what}")
        if container == "zip":
            kind = _pt2_kind(probe.path)
            if kind:
                return Detection(self.name, 0.99, f"{kind}: its archive_format entry says pt2")
        return None

    # -- the model --------------------------------------------------------------------
    def load(self, path: Path, options: LoadOptions) -> TorchModel:
        self.require()
        if path.is_dir():
            raise InputError(f"{path}: a folder; PyTorch models are single files")
        kind = _file_kind(path)
        if kind in (TORCHSCRIPT, EXPORT):
            for flag, value in (("--model-code", options.model_code),
                                ("--model-class", options.model_class)):
                if value:
                    raise InputError(f"{flag} is for pickled modules and state_dicts; "
                                     f"{path.name} carries its own code: leave {flag} out")
        if kind == TORCHSCRIPT:
            return TorchModel(TORCHSCRIPT, _load_torchscript(path))
        if kind == EXPORT:
            _scan_pt2_members(path)
            import torch  # noqa: PLC0415 - frameworks load only when needed

            program = torch.export.load(str(path))
            return TorchModel(EXPORT, program.module(), program=program)
        code = options.code or (ModelCode.load(options.model_code) if options.model_code
                                else None)
        if options.model_class:
            return _load_state_dict(path, options.model_class, code)
        return _load_pickled_module(path, code, options.cleared)

    def save(self, model: TorchModel, source: Path, dest_dir: Path, options: LoadOptions) -> str:
        name = "model.pt2" if model.kind == EXPORT else self.model_file_name
        if model.state_dict_key is not None:  # keep the weights, not the optimizer state
            import torch  # noqa: PLC0415

            torch.save(model.state_dict, dest_dir / name)
        else:
            shutil.copyfile(source, dest_dir / name)
        if model.code is not None:
            shutil.copyfile(model.code.path, dest_dir / f"{model.code.name}.py")
        return name

    def describe(self, model: TorchModel) -> ModelFacts:
        module = model.module
        params = list(module.parameters())
        floats = [p for p in params if p.is_floating_point()]
        hyper: dict[str, Any] = {"parameters": int(sum(p.numel() for p in params))}
        if floats:
            hyper["dtype"] = str(floats[0].dtype).removeprefix("torch.")
        layers = _layer_counts(model)
        if layers:
            hyper["layers"] = dict(layers.most_common(12))
        return ModelFacts(
            algorithm=_algorithm(model),
            framework_version=self.version(),
            hyperparameters=json_safe(hyper),
            n_features=_n_features(model),
            input_names=several_inputs(model) or None,
        )

    def predict(self, model: TorchModel, data: Any) -> Any:
        import numpy as np  # noqa: PLC0415
        import torch  # noqa: PLC0415

        # One tensor, or (several inputs) one per forward argument, by name, in its order.
        xs = [_as_tensor(data[name], model, name) for name in several_inputs(model)] \
            if isinstance(data, dict) else [_as_tensor(data, model)]
        n = xs[0].shape[0]
        size = static_batch(model)
        if size:  # a .pt2 exported for batches of exactly `size` items
            n = (n // size) * size
            if not n:
                raise InputError(f"the model was exported for batches of exactly {size} items; "
                                 f"the sample has {xs[0].shape[0]}")
        batches = zip(*(torch.split(x[:n], size or n) for x in xs), strict=True)
        parts = []
        with torch.inference_mode():
            for batch in batches:
                out = _first_tensor(model.module(*batch))
                if out is None:
                    raise InputError("the model returned no tensor")
                parts.append(np.asarray(_tensor_to_numpy(out)))
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def template_context(self, model: TorchModel, source: Path) -> dict[str, Any]:
        return {
            "kind": model.kind,
            "model_code_module": model.code.name if model.code else None,
            "user_modules": model.user_modules,
            "pickle_globals": model.pickle_globals,
            "model_class": model.model_class,
            "input_dtype": input_dtype(model),
            "static_batch": static_batch(model),
            "forward_inputs": several_inputs(model),
            "input_dtypes": input_dtypes(model),
        }


# -- schemas ---------------------------------------------------------------------------


# -- reading the file --------------------------------------------------------------------


def _file_kind(path: Path) -> str:
    from mdreg.scan import read_pickle_globals  # noqa: PLC0415

    report = read_pickle_globals(path)
    if report.container == "torchscript-zip":
        return TORCHSCRIPT
    if report.container in ("torch-zip", "torch-legacy"):
        return MODULE
    if report.container == "zip" and _pt2_kind(path):
        return EXPORT
    raise InputError(f"{path}: not a PyTorch file (TorchScript, .pt2, or torch.save output)")


def _pt2_kind(path: Path) -> str | None:
    """What a zip that ``torch.export.save`` (or AOTInductor) wrote is, from its names."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            marker = next((n for n in names if n.rsplit("/", 1)[-1] == "archive_format"), None)
            if marker is None or zf.getinfo(marker).file_size > 64:
                return None
            if zf.read(marker).strip() != b"pt2":
                return None
    except (zipfile.BadZipFile, OSError, KeyError):
        return None
    if any("/data/aotinductor/" in f"/{n}" for n in names):
        return "AOTInductor .pt2 package"
    return "torch.export .pt2 archive"


def _scan_pt2_members(path: Path) -> None:
    """Judge the torch.save files nested in a .pt2 before torch.export.load unpickles them.

    ``torch.export.load`` reads the sample inputs, and weights or constants stored "pickled",
    with ``torch.load`` -- falling back to ``weights_only=False``. mdreg's scan of the outer
    zip does not look inside those members, so each member that starts like a zip or a
    pickle is written out and scanned here: one that references anything outside the torch
    allow-list is refused; one that cannot be parsed is refused if torch would load it
    (and skipped otherwise: raw tensor bytes can start with any byte).
    """
    from mdreg.scan import judge, read_pickle_globals  # noqa: PLC0415

    if _pt2_kind(path) != "torch.export .pt2 archive":
        raise InputError(f"{path}: an AOTInductor package holds compiled code mdreg does not "
                         "load; save the ExportedProgram with torch.export.save instead")
    import tempfile  # noqa: PLC0415 - not needed to sniff

    with zipfile.ZipFile(path) as zf, tempfile.TemporaryDirectory(prefix="mdreg-pt2-") as tmp:
        loaded = _pt2_pickled_members(zf)
        for info in zf.infolist():
            if info.is_dir():
                continue
            with zf.open(info) as member:
                head = member.read(4)
            zip_or_pickle = head.startswith(b"PK\x03\x04") or (
                head[:1] == b"\x80" and head[1:2] < b"\x06")
            if not zip_or_pickle:
                continue  # raw tensor bytes, JSON, text
            nested = Path(tmp, "member")
            with zf.open(info) as member, nested.open("wb") as out:
                shutil.copyfileobj(member, out)
            report = read_pickle_globals(nested)
            if report.error:
                if info.filename in loaded:
                    raise UnsafeModelError(f"{path}: the nested file {info.filename} cannot be "
                                           f"checked ({report.error}); refusing to load it")
                continue
            verdict, findings = judge(report.globals, ["torch"])
            if verdict.value != "safe":
                names = ", ".join(sorted({f.ref.dotted for f in findings if f.ref}))
                raise UnsafeModelError(f"{path}: the nested file {info.filename} references "
                                       f"{names}, which torch.export.load would unpickle; "
                                       "refusing to load it")


def _pt2_pickled_members(zf: zipfile.ZipFile) -> set[str]:
    """The members of a .pt2 that torch.export.load passes to torch.load."""
    import json  # noqa: PLC0415

    names = zf.namelist()
    loaded = {n for n in names if "/data/sample_inputs/" in f"/{n}"}
    for name in names:
        folder, _, base = name.rpartition("/")
        if folder.endswith(("data/weights", "data/constants")):
            if base.endswith(".pt"):  # the legacy layout: one pickled file per model
                loaded.add(name)
            if base.endswith("_config.json"):
                try:
                    config = json.loads(zf.read(name)).get("config", {})
                    loaded |= {f"{folder}/{entry['path_name']}" for entry in config.values()
                               if isinstance(entry, dict) and entry.get("use_pickle")}
                except (ValueError, AttributeError, KeyError, TypeError):
                    continue
    return loaded


@contextlib.contextmanager
def _quiet_jit() -> Iterator[None]:
    # torch 2.13 marks torch.jit deprecated; the warning is for authors, not for loading.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        yield


def _load_torchscript(path: Path) -> Any:
    import torch  # noqa: PLC0415

    with _quiet_jit():
        module = torch.jit.load(str(path), map_location="cpu")
    return module.eval()


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
            raise InputError(f"--model-code {code.path} does not define {name}, which the "
                             f"pickle needs (as {module}.{name})")
        return code.name, name
    if module == "__main__":
        raise InputError(f"the model's class {name} was defined in the training script itself "
                         f"(pickled as __main__.{name}), so no other program can find it: pass "
                         "--model-code FILE.py, a file that defines it (mdreg copies it into "
                         "the artifact; keep any training under `if __name__ == \"__main__\":`)")
    try:
        _resolve(module, name)
    except (ImportError, AttributeError) as exc:
        if code is not None and hasattr(code.module, name.split(".")[0]):
            return code.name, name  # the class moved: the user's file defines it
        hint = f"--model-code {code.path} does not define it either" if code else \
            "pass --model-code FILE.py, a file that defines it"
        raise InputError(f"the pickle needs {module}.{name}, which cannot be imported "
                         f"({type(exc).__name__}: {exc}); {hint}") from exc
    return module, name


def _load_pickled_module(path: Path, code: ModelCode | None,
                         cleared: frozenset[tuple[str, str]] | None) -> TorchModel:
    import pickle  # noqa: PLC0415

    import torch  # noqa: PLC0415

    from mdreg.scan import read_pickle_globals  # noqa: PLC0415
    from mdreg.scan.gate import torch_pickle_module  # noqa: PLC0415

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
    classes = [(obj, key) for key, obj in targets.items() if isinstance(obj, type)]
    with warnings.catch_warnings():  # the legacy format's "Couldn't retrieve source code"
        warnings.filterwarnings("ignore", message="Couldn't retrieve source code")
        try:
            with torch.serialization.safe_globals(classes):
                loaded = torch.load(str(path), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            # More than classes and tensors (a function kept as an attribute, ...): the
            # safety gate judged these globals (or the user passed --trust) before this.
            loaded = torch.load(str(path), map_location="cpu", weights_only=False,
                                pickle_module=torch_pickle_module(cleared, targets))
    if isinstance(loaded, torch.nn.Module):
        return TorchModel(MODULE, loaded.eval(), code=code, pickle_globals=pickle_globals,
                          user_modules=user_modules)
    if _state_dict_of(loaded)[0] is not None:
        raise InputError(f"{path}: holds a state_dict (weights only): pass --model-class "
                         "module:Class, the class to build before loading them (with "
                         "--model-code FILE.py when the module is not installed)")
    raise InputError(f"{path}: holds a {type(loaded).__name__}, not a torch.nn.Module")


def _resolve_in(module: Any, attribute: str) -> Any:
    obj = module
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


def _state_dict_of(obj: Any) -> tuple[Mapping[str, Any] | None, str | None]:
    """The weights in ``obj``: itself when it maps names to tensors, else the one under a
    common checkpoint key ("state_dict", "model_state_dict", "model"); and that key."""
    import torch  # noqa: PLC0415

    def weights(value: Any) -> bool:
        return (isinstance(value, Mapping) and bool(value)
                and all(isinstance(k, str) and isinstance(v, torch.Tensor)
                        for k, v in value.items()))

    if weights(obj):
        return obj, None
    if isinstance(obj, Mapping):
        for key in CHECKPOINT_KEYS:
            if weights(obj.get(key)):
                return obj[key], key
    return None, None


def _load_state_dict(path: Path, model_class: str, code: ModelCode | None) -> TorchModel:
    import pickle  # noqa: PLC0415

    import torch  # noqa: PLC0415

    module_name, _, attribute = model_class.partition(":")
    if not module_name or not attribute:
        raise InputError(f"--model-class {model_class!r}: write it as module:Class")
    if code is not None:
        if not code.owns(module_name):
            raise InputError(f"--model-class {model_class}: the module should be the "
                             f"--model-code file's, {code.name} (write {code.name}:{attribute})")
        if not hasattr(code.module, attribute.split(".")[0]):
            raise InputError(f"--model-code {code.path} does not define {attribute}")
        factory, target = _resolve_in(code.module, attribute), [code.name, attribute]
    else:
        try:
            factory = _resolve(module_name, attribute)
        except (ImportError, AttributeError) as exc:
            raise InputError(f"--model-class {model_class}: cannot import it "
                             f"({type(exc).__name__}: {exc}); pass --model-code FILE.py, "
                             "the file that defines it") from exc
        target = [module_name, attribute]
    try:
        loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[-1][:200]
        raise InputError(f"{path}: not a plain state_dict: torch's weights-only reader refused "
                         f"it ({first}); a whole pickled module needs no --model-class") from exc
    weights, key = _state_dict_of(loaded)
    if weights is None:
        where = f", or a checkpoint dict with one under {', '.join(CHECKPOINT_KEYS)}" \
            if isinstance(loaded, Mapping) else ""
        raise InputError(f"{path}: holds a {type(loaded).__name__}, not a state_dict "
                         f"(a mapping of names to tensors{where})")
    try:
        model = factory()
    except TypeError as exc:
        raise InputError(f"--model-class {model_class}: calling it with no arguments failed "
                         f"({exc}); give its arguments defaults, or name a function that "
                         "builds the model") from exc
    if not isinstance(model, torch.nn.Module):
        raise InputError(f"--model-class {model_class} built a {type(model).__name__}, "
                         "not a torch.nn.Module")
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:300]
        raise InputError(f"{path}: the weights do not fit {model_class}: {detail}") from exc
    imports = [target[0]] if code is not None or _is_user_module(target[0]) else []
    return TorchModel(STATE_DICT, model.eval(), code=code, model_class=target,
                      state_dict=weights if key is not None else None, state_dict_key=key,
                      user_modules=imports)


# -- describing --------------------------------------------------------------------------


def _first_model_global(names: list[str]) -> str | None:
    """The global that makes a torch.save file a model: a module class or user class."""
    for name in names:
        if name.startswith("torch.nn.modules.") or _is_user_module(name.rsplit(".", 1)[0]):
            return name
    return None


def _algorithm(model: TorchModel) -> str:
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


def _leaf_types(model: TorchModel) -> list[str]:
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


def _layer_counts(model: TorchModel) -> Counter[str]:
    try:
        return Counter(_leaf_types(model))
    except Exception:  # noqa: BLE001 - a description, never a reason to fail
        return Counter()


def _n_features(model: TorchModel) -> int | None:
    """Features per row, when the model says: the first layer's ``in_features`` (Linear),
    or a .pt2's one 2-D input of fixed width."""
    try:
        if model.kind == EXPORT:
            specs = list(_user_inputs(model).values())
            if len(specs) == 1:
                shape = specs[0].shape
                if len(shape) == 2 and isinstance(shape[1], int):
                    return int(shape[1])
            return None
        for sub in model.module.modules():
            if next(iter(sub.children()), None) is not None:
                continue
            width = getattr(sub, "in_features", None)
            return int(width) if isinstance(width, int) else None
    except Exception:  # noqa: BLE001
        return None
    return None


# -- predicting at prepare time (for the output schema) -------------------------------------


def forward_inputs(model: TorchModel) -> list[str] | None:
    """The names of the arguments the model's forward requires (those without a default),
    or None when the model does not say."""
    import inspect  # noqa: PLC0415

    try:
        if model.kind == EXPORT:
            return list(model.program.graph_signature.user_inputs)
        if model.kind == TORCHSCRIPT:  # its schema starts with self
            return [a.name for a in model.module.forward.schema.arguments[1:]
                    if not a.has_default_value()]
        positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        return [p.name for p in inspect.signature(model.module.forward).parameters.values()
                if p.kind in positional and p.default is inspect.Parameter.empty]
    except Exception:  # noqa: BLE001 - a forward mdreg cannot read: assume one input
        return None


def several_inputs(model: TorchModel) -> list[str]:
    """The forward's tensor arguments when it takes several (score.py then reads one
    array per name from the request); [] for a model of one input."""
    names = forward_inputs(model)
    return names if names and len(names) > 1 else []


def _user_inputs(model: TorchModel) -> dict[str, Any]:
    """A .pt2's inputs by name, in order, as the fake tensors its graph records (shape,
    dtype); {} for other kinds. Raises what torch raises for a graph it cannot describe."""
    if model.kind != EXPORT:
        return {}
    placeholders = {n.name: n for n in model.program.graph.nodes if n.op == "placeholder"}
    return {name: placeholders[name].meta["val"]
            for name in model.program.graph_signature.user_inputs}


def input_dtypes(model: TorchModel) -> dict[str, str]:
    """Each input's dtype when the model fixes it (a .pt2's placeholders), by name."""
    try:
        return {name: str(val.dtype).removeprefix("torch.")
                for name, val in _user_inputs(model).items()}
    except Exception:  # noqa: BLE001 - then the float default applies
        return {}


def _model_dtype(module: Any) -> Any:
    import torch  # noqa: PLC0415

    for p in module.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def input_dtype(model: TorchModel) -> str | None:
    """The dtype the model's input must have when the model says (a .pt2's input, or
    int64 before an embedding layer); None: the model's floating-point dtype."""
    try:
        if model.kind == EXPORT:
            dtypes = set(input_dtypes(model).values())
            return dtypes.pop() if len(dtypes) == 1 else None
        leaves = _leaf_types(model)
    except Exception:  # noqa: BLE001 - then the float default applies
        return None
    return "int64" if leaves and leaves[0] in ("Embedding", "EmbeddingBag") else None


def static_batch(model: TorchModel) -> int | None:
    """The batch size a .pt2 was exported for when it is fixed (exported without
    ``dynamic_shapes``); None when any size goes."""
    if model.kind != EXPORT:
        return None
    try:
        shapes = [val.shape for val in _user_inputs(model).values()]
    except Exception:  # noqa: BLE001
        return None
    firsts = [shape[0] for shape in shapes if len(shape)]  # SymInts for a dynamic batch
    if firsts and all(isinstance(f, int) for f in firsts) and len(set(firsts)) == 1:
        return int(firsts[0])
    return None


def _as_tensor(data: Any, model: TorchModel, name: str | None = None) -> Any:
    """The sample (of input ``name``, for a model of several) as a tensor of the dtype the
    model takes: the one it fixes, integers kept for integer samples of a named input (ids),
    else its floating-point dtype."""
    import numpy as np  # noqa: PLC0415
    import torch  # noqa: PLC0415

    if hasattr(data, "to_numpy"):
        data = data.to_numpy()
    array = np.asarray(data)
    if array.dtype.kind not in "biuf":
        raise InputError(f"a PyTorch model takes numbers; the sample holds {array.dtype} values")
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    wanted = input_dtypes(model).get(name) if name else input_dtype(model)
    if wanted:
        return tensor.to(getattr(torch, wanted))
    if name and array.dtype.kind in "iu":
        return tensor.to(torch.int64)
    return tensor.to(_model_dtype(model.module))


def _first_tensor(out: Any) -> Any:
    import torch  # noqa: PLC0415

    if isinstance(out, torch.Tensor):
        return out
    values = out.values() if isinstance(out, Mapping) else out if isinstance(out, (list, tuple)) \
        else ()
    for value in values:
        found = _first_tensor(value)
        if found is not None:
            return found
    return None


def _tensor_to_numpy(tensor: Any) -> Any:
    import torch  # noqa: PLC0415

    tensor = tensor.detach().cpu()
    if tensor.dtype == torch.bfloat16:
        tensor = tensor.float()
    return tensor.numpy()


__all__ = ["ModelCode", "PyTorchFramework", "TorchModel"]
