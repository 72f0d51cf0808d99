"""The PyTorch plugin: what the other modules of this package read and do, put together
behind the Framework interface (see the package's docstring for what goes into the
artifact)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from mdreg.errors import InputError
from mdreg.frameworks._params import json_safe
from mdreg.frameworks.base import Detection, Framework, LoadOptions, ModelFacts
from mdreg.frameworks.code import ModelCode
from mdreg.frameworks.probe import Probe
from mdreg.frameworks.pytorch.files import file_kind, load_torchscript, pt2_kind, scan_pt2_members
from mdreg.frameworks.pytorch.inputs import model_inputs, n_features
from mdreg.frameworks.pytorch.layers import algorithm, layer_counts
from mdreg.frameworks.pytorch.model import EXPORT, TORCHSCRIPT, TorchModel
from mdreg.frameworks.pytorch.pickled import (
    first_model_global,
    load_pickled_module,
    load_state_dict,
)


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
            return Detection(
                self.name,
                0.99,
                "TorchScript archive (code/ and data.pkl, written by torch.jit.save)",
            )
        if container == "torch-legacy":
            return Detection(self.name, 0.95, "torch.save file in the legacy (pre-1.6) format")
        if container == "torch-zip":
            ref = first_model_global(probe.global_names())
            what = (
                f"data.pkl references {ref}"
                if ref
                else "data.pkl holds tensors only (a state_dict: needs --model-class)"
            )
            return Detection(self.name, 0.95, f"torch.save archive: {what}")
        if container == "zip":
            kind = pt2_kind(probe.path)
            if kind:
                return Detection(self.name, 0.99, f"{kind}: its archive_format entry says pt2")
        return None

    # -- the model --------------------------------------------------------------------
    def load(self, path: Path, options: LoadOptions) -> TorchModel:
        self.require()
        if path.is_dir():
            raise InputError(f"{path}: a folder; PyTorch models are single files")
        kind = file_kind(path)
        if kind in (TORCHSCRIPT, EXPORT):
            for flag, value in (
                ("--model-code", options.model_code),
                ("--model-class", options.model_class),
            ):
                if value:
                    raise InputError(
                        f"{flag} is for pickled modules and state_dicts; "
                        f"{path.name} carries its own code: leave {flag} out"
                    )
        if kind == TORCHSCRIPT:
            return TorchModel(TORCHSCRIPT, load_torchscript(path))
        if kind == EXPORT:
            scan_pt2_members(path)
            import torch  # frameworks load only when needed

            program = torch.export.load(str(path))
            return TorchModel(EXPORT, program.module(), program=program)
        code = options.code or (ModelCode.load(options.model_code) if options.model_code else None)
        if options.model_class:
            return load_state_dict(path, options.model_class, code)
        return load_pickled_module(path, code, options.cleared)

    def save(self, model: TorchModel, source: Path, dest_dir: Path, options: LoadOptions) -> str:
        name = "model.pt2" if model.kind == EXPORT else self.model_file_name
        if model.state_dict_key is not None:  # keep the weights, not the optimizer state
            import torch

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
        layers = layer_counts(model)
        if layers:
            hyper["layers"] = dict(layers.most_common(12))
        return ModelFacts(
            algorithm=algorithm(model),
            framework_version=self.version(),
            hyperparameters=json_safe(hyper),
            n_features=n_features(model),
            input_names=model_inputs(model).input_names or None,
        )

    def template_context(self, model: TorchModel, source: Path) -> dict[str, Any]:
        inputs = model_inputs(model)
        return {
            "kind": model.kind,
            "model_code_module": model.code.name if model.code else None,
            "user_modules": model.user_modules,
            "pickle_globals": model.pickle_globals,
            "model_class": model.model_class,
            "input_dtype": inputs.dtype,
            "static_batch": inputs.static_batch,
            "forward_inputs": inputs.input_names,
            "input_dtypes": inputs.dtypes,
        }
