"""What the gradient-boosting plugins (XGBoost, LightGBM) share.

Both read a native model file or a pickled (or joblib-dumped) object: their own
scikit-learn-API estimator, or a wrapper around one (a scikit-learn Pipeline ending in
it). Both write the native file into the artifact when it carries everything ``predict``
needs, and keep anything else (a Pipeline, a user's subclass) as a plain pickle. The
framework module is passed in (``xgboost``, ``lightgbm``), so nothing here imports one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mdreg.errors import InputError
from mdreg.frameworks._params import json_safe
from mdreg.frameworks.base import ModelFacts

#: A pickled wrapper (a Pipeline) is kept as a pickle under this name.
PICKLE_FILE_NAME = "model.pkl"
PICKLE = "pickle"


def final_estimator(model: Any) -> Any:
    """The model itself, or the last step of a Pipeline-like wrapper (nested ones too)."""
    steps = getattr(model, "steps", None)
    if isinstance(steps, list) and steps and isinstance(steps[-1], tuple):
        return final_estimator(steps[-1][-1])
    return model


def check_loaded(path: Path, model: Any, kinds: tuple[type, ...], what: str) -> None:
    """Refuse an unpickled object whose (final) estimator is none of ``kinds``."""
    if isinstance(final_estimator(model), kinds):
        return
    raise InputError(
        f"{path}: the pickle holds a {type(model).__module__}."
        f"{type(model).__qualname__}, not {what}; "
        "pass --framework sklearn or generic"
    )


def storage(model: Any, module: Any, estimator_classes: tuple[str, ...], native: str) -> str:
    """``native`` (the model file's format) when the framework's own file carries
    everything predict needs: a ``Booster``, or one of the framework's own estimator
    classes, which score.py rebuilds by name; else "pickle" (a Pipeline, or a user's
    subclass whose predict() may differ)."""
    cls = type(model)
    if cls is module.Booster:
        return native
    if cls.__name__ in estimator_classes and getattr(module, cls.__name__, None) is cls:
        return native
    return PICKLE


def save_pickle(model: Any, dest_dir: Path) -> str:
    """``model`` as a plain pickle (score.py then needs no more than the standard
    library to read it); the file's name."""
    import pickle  # not needed to sniff

    with (dest_dir / PICKLE_FILE_NAME).open("wb") as f:
        pickle.dump(model, f, protocol=5)
    return PICKLE_FILE_NAME


def use_case(
    estimator: Any, classifier: type, regressor: type, by_objective: str | None
) -> str | None:
    """A classifier's by its classes, a regressor's, else what its objective says."""
    classes = getattr(estimator, "classes_", None)
    if isinstance(estimator, classifier) and classes is not None:
        return "binary_classification" if len(classes) == 2 else "multinomial_classification"
    if isinstance(estimator, regressor):
        return "regression"
    return by_objective


def facts(
    model: Any,
    estimator: Any,
    *,
    algorithm: str,
    params: dict[str, Any],
    use_case_type: str | None,
    feature_names: Any,
    n_features: int | None,
    version: str | None,
) -> ModelFacts:
    """The facts of ``model``, from those of its (final) ``estimator``: a Pipeline's
    inputs are its own, not the booster's, and its parameters are the Pipeline's."""
    classes = getattr(estimator, "classes_", None)
    if estimator is not model:
        algorithm = f"{type(model).__name__}({algorithm})"
        params = model.get_params(deep=False) if hasattr(model, "get_params") else params
        feature_names = getattr(model, "feature_names_in_", None)
        n_features = getattr(model, "n_features_in_", None)
    return ModelFacts(
        algorithm=algorithm,
        framework_version=version,
        hyperparameters=json_safe(params),
        use_case_type=use_case_type,
        feature_names=[str(n) for n in feature_names]
        if feature_names is not None and len(feature_names)
        else None,
        n_features=n_features,
        classes=json_safe(list(classes)) if classes is not None else None,
    )
