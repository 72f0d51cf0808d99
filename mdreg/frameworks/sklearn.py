"""scikit-learn: estimators, Pipelines and ColumnTransformers, pickled or joblib-dumped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mdreg.frameworks._params import json_safe
from mdreg.frameworks.base import Detection, Framework, LoadOptions, ModelFacts
from mdreg.frameworks.probe import Probe


class SklearnFramework(Framework):
    name = "sklearn"
    display_name = "scikit-learn"
    taxonomy_framework = "scikit-learn"
    module = "sklearn"
    distribution = "scikit-learn"
    extra = "sklearn"
    model_file_name = "model.joblib"
    serialization_format = "joblib"
    template = "score_sklearn.py.jinja2"
    inference_modules = ("sklearn", "joblib", "scipy")
    allow = ("sklearn", "numpy", "scipy", "pandas")

    def sniff(self, probe: Probe) -> Detection | None:
        name = probe.first_global("sklearn")
        report = probe.pickle  # not None when a global was found
        if name is None or report is None:
            return None
        return Detection(self.name, 0.9, f"{report.container} stream references {name}")

    def load(self, path: Path, options: LoadOptions) -> Any:
        self.require()
        from mdreg.scan.gate import load_joblib

        return load_joblib(path, options.cleared)  # also reads plain pickles

    def template_context(self, model: Any, source: Path) -> dict[str, Any]:
        return {**super().template_context(model, source), "loader": "joblib"}

    def save(self, model: Any, source: Path, dest_dir: Path, options: LoadOptions) -> str:
        import joblib

        joblib.dump(model, dest_dir / self.model_file_name)
        return self.model_file_name

    def describe(self, model: Any) -> ModelFacts:
        from sklearn import base

        classes = getattr(model, "classes_", None)
        if base.is_classifier(model):
            use_case = (
                "binary_classification"
                if classes is not None and len(classes) == 2
                else "multinomial_classification"
            )
        elif base.is_regressor(model):
            use_case = "regression"
        elif getattr(base, "is_clusterer", lambda m: False)(model):
            use_case = "clustering"
        elif base.is_outlier_detector(model):
            use_case = "anomaly_detection"
        else:
            use_case = None
        names = getattr(model, "feature_names_in_", None)
        params = model.get_params(deep=False) if hasattr(model, "get_params") else {}
        return ModelFacts(
            algorithm=_algorithm(model),
            framework_version=self.version(),
            hyperparameters=json_safe(params),
            use_case_type=use_case,
            feature_names=[str(n) for n in names] if names is not None else None,
            n_features=getattr(model, "n_features_in_", None),
            classes=json_safe(list(classes)) if classes is not None else None,
        )


def _algorithm(model: Any) -> str:
    steps = getattr(model, "steps", None)
    if steps:  # a Pipeline is known by what it ends in
        return f"Pipeline({type(steps[-1][1]).__name__})"
    return type(model).__name__
