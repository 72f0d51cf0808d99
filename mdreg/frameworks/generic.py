"""Any other pickle (plain, joblib or cloudpickle): the fallback plugin.

It claims every pickle with the lowest confidence, so a framework plugin wins whenever
it recognises the file. Such a model is user code: loading it needs ``--trust``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from mdreg.errors import FrameworkNotInstalledError, InputError
from mdreg.frameworks.base import Detection, Framework, LoadOptions, ModelFacts
from mdreg.frameworks.probe import Probe


class GenericPickleFramework(Framework):
    name = "generic"
    display_name = "other"
    model_file_name = "model.pkl"
    serialization_format = "pickle"
    template = "score_generic.py.jinja2"
    inference_modules = ("joblib", "cloudpickle")
    allow = ("numpy", "scipy", "pandas")
    guessed = True  # score.py calls predict() or the model itself: prepare warns

    def sniff(self, probe: Probe) -> Detection | None:
        report = probe.pickle
        if report is None or report.container in ("not-pickle", "zip") or not report.streams:
            return None
        names = [n for n in probe.global_names() if not n.startswith(("builtins.", "copyreg."))]
        what = f"references {names[0]}" if names else "holds plain Python data"
        return Detection(self.name, 0.1, f"{report.container} stream {what}")

    def _loader(self, source: Path) -> str:
        # joblib's format interleaves raw array bytes with the pickle: plain pickle can't read it.
        report = Probe.of(source).pickle
        return (
            "joblib" if report is not None and report.container.startswith("joblib") else "pickle"
        )

    def load(self, path: Path, options: LoadOptions) -> Any:
        from mdreg.scan.gate import load_joblib, load_pickle

        if self._loader(path) == "joblib":
            try:
                import joblib  # noqa: F401 - a clear error when it is missing
            except ImportError as exc:
                raise FrameworkNotInstalledError("joblib", "joblib") from exc
            return load_joblib(path, options.cleared)
        with path.open("rb") as f:
            try:
                return load_pickle(f, options.cleared)
            except ModuleNotFoundError as exc:
                raise InputError(
                    f"{path}: the pickle needs module {exc.name!r}, which is not "
                    "installed or not on the Python path"
                ) from exc

    def save(self, model: Any, source: Path, dest_dir: Path, options: LoadOptions) -> str:
        # Keep the user's bytes: re-pickling could change how their classes are referenced.
        name = "model.joblib" if self._loader(source) == "joblib" else self.model_file_name
        shutil.copyfile(source, dest_dir / name)
        return name

    def describe(self, model: Any) -> ModelFacts:
        cls = type(model)
        return ModelFacts(
            algorithm=cls.__qualname__, n_features=getattr(model, "n_features_in_", None)
        )

    def template_context(self, model: Any, source: Path) -> dict[str, Any]:
        call = "model.predict(features)" if hasattr(model, "predict") else "model(features)"
        return {"predict_call": call, "loader": self._loader(source)}
