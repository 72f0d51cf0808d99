"""What ``PyTorchFramework.load`` returns: the module that is called, and what score.py
needs to load it again."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mdreg.frameworks.code import ModelCode
from mdreg.frameworks.inputs import ModelInputs

TORCHSCRIPT = "torchscript"
EXPORT = "export"
MODULE = "module"
STATE_DICT = "state_dict"


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

    #: the model's inputs, read once by ``inputs.model_inputs`` (use that, not this)
    _inputs: ModelInputs | None = field(default=None, init=False, repr=False, compare=False)
