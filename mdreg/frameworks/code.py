"""The user's ``--model-code`` file: Python that defines the model's own classes or
functions (a custom transformer, an ``nn.Module``), shipped next to score.py.

The user vouches for the code they ship, so the safety gate admits the globals a pickle
names in that module: the top-level classes and functions the file defines (read from
its source, not by running it). Anything it merely imports (``from os import system``)
is not admitted, and the deny-list still wins.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import keyword
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mdreg.errors import InputError

#: Names a --model-code file may not take: score.py, or a module score.py itself imports.
RESERVED_MODULES = frozenset(
    {
        "score",
        "mdreg",
        "numpy",
        "pandas",
        "joblib",
        "sklearn",
        "xgboost",
        "lightgbm",
        "torch",
        "tensorflow",
        "keras",
        "h5py",
        "absl",
        "google",
        "ml_dtypes",
    }
) | frozenset(sys.stdlib_module_names)


@dataclass
class ModelCode:
    """The ``--model-code`` file, imported under its own name."""

    path: Path
    name: str
    module: Any

    @classmethod
    def load(cls, path: Path) -> ModelCode:
        name = path.stem
        if not name.isidentifier() or keyword.iskeyword(name):
            raise InputError(
                f"--model-code {path}: {name!r} is not a Python module name; "
                "rename the file (letters, digits, underscores)"
            )
        if name in RESERVED_MODULES:
            raise InputError(
                f"--model-code {path}: a module named {name!r} would shadow one "
                "that score.py needs; rename the file"
            )
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise InputError(f"--model-code {path}: cannot be imported as a Python module")
        module = importlib.util.module_from_spec(spec)
        with _registered(name, module):  # dataclasses and typing look it up while it runs
            try:
                spec.loader.exec_module(module)
            except Exception as exc:  # noqa: BLE001 - the user's code: report, don't crash
                raise InputError(
                    f"--model-code {path}: importing it failed: {type(exc).__name__}: {exc}"
                ) from exc
        return cls(path, name, module)

    def owns(self, module: str) -> bool:
        """Whether a pickle's module name stands for this file: ``__main__`` (a class
        defined in the training script), the file's name, or a package path ending in it."""
        return module in ("__main__", self.name) or module.endswith("." + self.name)

    def defined_names(self) -> frozenset[str]:
        """The classes and functions the file defines at its top level."""
        tree = ast.parse(self.path.read_bytes(), filename=str(self.path))
        return frozenset(
            node.name
            for node in tree.body
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        )

    def admitted(self) -> frozenset[tuple[str, str]]:
        """The (module, name) globals the gate admits because this file defines them."""
        return frozenset((self.name, n) for n in self.defined_names())

    @contextlib.contextmanager
    def importable(self) -> Iterator[None]:
        """While loading and running the model here: ``import NAME`` finds this module,
        as it will at deployment, where the file sits next to score.py."""
        with _registered(self.name, self.module):
            yield


@contextlib.contextmanager
def _registered(name: str, module: Any) -> Iterator[None]:
    previous = sys.modules.get(name)
    sys.modules[name] = module
    try:
        yield
    finally:
        if previous is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = previous
