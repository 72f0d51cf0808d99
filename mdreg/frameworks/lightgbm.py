"""LightGBM: text model files (``Booster.save_model``) and pickled or joblib-dumped
scikit-learn-API estimators (LGBMClassifier, LGBMRegressor, LGBMRanker).

The artifact always holds the native text model (``model.txt``). For a classifier the
class labels are written into score.py, which turns the booster's probabilities into
labels exactly as ``LGBMClassifier.predict`` does (argmax; ``p > 0.5`` for two
classes), so the artifact predicts what the estimator did. A pickled object that only
contains LightGBM (a scikit-learn Pipeline ending in an LGBMClassifier) is kept as a pickle.

Sniffing reads bytes only: a text model begins ``tree`` then ``version=v<N>``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mdreg.errors import InputError
from mdreg.frameworks import boosting
from mdreg.frameworks._params import json_safe
from mdreg.frameworks.base import Detection, Framework, LoadOptions, ModelFacts
from mdreg.frameworks.probe import Probe

_TEXT_HEAD = re.compile(rb"\Atree\r?\nversion=(v\d+)\r?\n")
_HEADER_LINE = re.compile(r"^(\w+)=(.*?)\r?$", re.MULTILINE)
#: The scikit-learn-API classes whose predict() score.py reproduces from model.txt.
ESTIMATOR_CLASSES = ("LGBMClassifier", "LGBMRegressor", "LGBMRanker")
_REGRESSION_OBJECTIVES = {
    "regression",
    "regression_l2",
    "l2",
    "mean_squared_error",
    "mse",
    "l2_root",
    "root_mean_squared_error",
    "rmse",
    "regression_l1",
    "l1",
    "mean_absolute_error",
    "mae",
    "huber",
    "fair",
    "poisson",
    "quantile",
    "mape",
    "mean_absolute_percentage_error",
    "gamma",
    "tweedie",
    "cross_entropy",
    "xentropy",
    "cross_entropy_lambda",
    "xentlambda",
}


class LightGBMFramework(Framework):
    name = "lightgbm"
    display_name = "LightGBM"
    taxonomy_framework = "lightgbm"
    module = "lightgbm"
    distribution = "lightgbm"
    extra = "lightgbm"
    model_file_name = "model.txt"
    serialization_format = "txt"
    template = "score_lightgbm.py.jinja2"
    inference_modules = ("lightgbm",)
    allow = ("lightgbm",)  # implies sklearn and numpy (mdreg.scan.policy.IMPLIES)

    def feature_key(self, column: str) -> str:
        """How LightGBM stores a column name: spaces become underscores ("a b" -> "a_b"),
        so prepare matches --x-sample's columns to the model's names
        (mdreg.artifact.schema_facts)."""
        return column.replace(" ", "_")

    # -- detection (bytes only) -----------------------------------------------------
    def sniff(self, probe: Probe) -> Detection | None:
        if probe.is_dir or not probe.head:
            return None
        match = _TEXT_HEAD.match(probe.head)
        if match:
            header = _header(probe.head.decode("utf-8", "replace"))
            objective = header.get("objective")
            what = f", objective={objective}" if objective else ""
            return Detection(
                self.name,
                0.95,
                f"LightGBM text model (tree, version={match.group(1).decode()}{what})",
            )
        return probe.claim_pickle(self.name, "lightgbm")

    # -- the model ------------------------------------------------------------------
    def load(self, path: Path, options: LoadOptions) -> Any:
        self.require()
        if _is_text_model(path):
            _check_trees(path)
            import lightgbm as lgb  # frameworks load only when needed

            try:
                with _native_stderr_held():
                    return lgb.Booster(model_file=str(path))
            except lgb.basic.LightGBMError as exc:
                raise InputError(f"{path}: LightGBM could not read the model: {exc}") from exc
        from mdreg.scan.gate import load_joblib

        model = load_joblib(path, options.cleared)  # also reads plain pickles
        import lightgbm as lgb

        boosting.check_loaded(
            path, model, (lgb.Booster, lgb.LGBMModel), "a LightGBM Booster or estimator"
        )
        return model

    def save(self, model: Any, source: Path, dest_dir: Path, options: LoadOptions) -> str:
        import lightgbm as lgb

        if _storage(model) == boosting.PICKLE:
            return boosting.save_pickle(model, dest_dir)
        target = dest_dir / self.model_file_name
        if isinstance(model, lgb.Booster) and _is_text_model(source):
            shutil.copyfile(source, target)  # the user's own bytes: nothing to convert
        else:
            booster = model if isinstance(model, lgb.Booster) else model.booster_
            booster.save_model(str(target))  # up to best_iteration, as predict() uses
        return self.model_file_name

    def describe(self, model: Any) -> ModelFacts:
        import lightgbm as lgb

        estimator = boosting.final_estimator(model)
        if isinstance(estimator, lgb.LGBMModel):
            booster = estimator.booster_
            params = {k: v for k, v in estimator.get_params(deep=False).items() if v is not None}
        else:
            booster, params = estimator, dict(estimator.params)
        header = _header(booster.model_to_string(num_iteration=1))
        objective = header.get("objective", "").split(" ")[0] or str(params.get("objective", ""))
        if isinstance(estimator, lgb.LGBMModel):
            algorithm = type(estimator).__name__
            names = getattr(estimator, "feature_names_in_", None)  # the names before LightGBM
            names = list(names) if names is not None else _named(booster.feature_name())
        else:
            kind = params.get("boosting") or params.get("boosting_type") or "gbdt"
            algorithm = f"Booster({kind}, {objective or 'custom objective'})"
            names = _named(booster.feature_name())
        return boosting.facts(
            model,
            estimator,
            algorithm=algorithm,
            params=params,
            use_case_type=boosting.use_case(
                estimator, lgb.LGBMClassifier, lgb.LGBMRegressor, _use_case(objective)
            ),
            feature_names=names,
            n_features=booster.num_feature(),
            version=self.version(),
        )

    def template_context(self, model: Any, source: Path) -> dict[str, Any]:
        import lightgbm as lgb

        storage = _storage(model)
        classes = None
        if (
            storage == "text"
            and isinstance(model, lgb.LGBMClassifier)
            and not callable(model.objective)
        ):  # a custom objective predicts raw scores
            classes = json_safe(list(model.classes_))
        return {
            "predict_call": "_predict(model, features)",
            "loader": storage,
            "classes_json": json.dumps(classes),
        }


# -- helpers -------------------------------------------------------------------------------


def _header(text: str) -> dict[str, str]:
    """``key=value`` lines of a text model's header (up to the first tree)."""
    end = text.find("\nTree=")
    return dict(_HEADER_LINE.findall(text if end < 0 else text[:end]))


def _is_text_model(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return bool(_TEXT_HEAD.match(f.read(64)))
    except OSError:
        return False


# What LightGBM's tree parser insists on (tree.cpp). It parses the trees in an OpenMP
# loop, where its "format error" exceptions cannot propagate: a malformed tree aborts the
# whole process (SIGABRT) instead of raising. So each tree is checked here first: the
# fields it must have and how many values each holds (per leaf, or per split: leaves - 1).
@contextlib.contextmanager
def _native_stderr_held() -> Iterator[None]:
    """Hold what LightGBM's C++ code writes to file descriptor 2 while it reads a model.

    On failure it prints "[LightGBM] [Fatal] <reason>" there before raising the same
    reason as an exception, which becomes mdreg's one error line: the native copy is
    dropped. On success its warnings are passed on to stderr.
    """
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        held.seek(0)
        sys.stderr.write(held.read().decode("utf-8", "replace"))  # reached only on success


_TREE_ALWAYS = ("num_leaves", "num_cat", "leaf_value")
_PER_SPLIT_REQUIRED = ("left_child", "right_child", "split_feature", "threshold")
_PER_SPLIT = (
    *_PER_SPLIT_REQUIRED,
    "split_gain",
    "decision_type",
    "internal_value",
    "internal_weight",
    "internal_count",
)
_PER_LEAF = ("leaf_value", "leaf_weight", "leaf_count")


def _check_trees(path: Path) -> None:
    """Raise InputError for a tree LightGBM's native parser would abort the process on.
    Read line by line: a text model can be hundreds of MB, and LightGBM reads it next."""
    name: str | None = None  # the tree being read
    fields: dict[str, str] = {}
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.rstrip("\r\n")
                if line.startswith("Tree=") or line == "end of trees":
                    if name is not None:
                        _check_tree(path, name, fields)
                    if line == "end of trees":
                        return
                    name, fields = line.strip(), {}
                elif name is not None and "=" in line:
                    key, value = line.split("=", 1)
                    fields[key] = value
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from exc
    if name is not None:
        _check_tree(path, name, fields)


def _check_tree(path: Path, name: str, fields: dict[str, str]) -> None:
    problem = _tree_problem(fields)
    if problem:
        raise InputError(
            f"{path}: LightGBM text model, {name}: {problem} (the file is "
            "corrupt or was edited; LightGBM's loader would abort on it)"
        )


def _tree_problem(fields: dict[str, str]) -> str | None:
    missing = [k for k in _TREE_ALWAYS if k not in fields]
    if missing:
        return f"no {', '.join(missing)} field"
    try:
        leaves, n_cat = int(fields["num_leaves"]), int(fields["num_cat"])
    except ValueError:
        return "num_leaves and num_cat must be whole numbers"
    if leaves < 1 or n_cat < 0:
        return f"num_leaves={leaves}, num_cat={n_cat} are out of range"
    is_linear = fields.get("is_linear", "0").strip() not in ("0", "")
    counts = {"leaf_value": leaves}
    if leaves > 1 or is_linear:  # a single plain leaf: LightGBM reads its leaf_value alone
        needs = [
            *_PER_SPLIT_REQUIRED,
            *(("cat_boundaries", "cat_threshold") if n_cat else ()),
            *(("leaf_const", "num_features", "leaf_features", "leaf_coeff") if is_linear else ()),
        ]
        missing = [k for k in needs if k not in fields]
        if missing:
            return f"no {', '.join(missing)} field"
        counts.update({**{k: leaves for k in _PER_LEAF}, **{k: leaves - 1 for k in _PER_SPLIT}})
        if n_cat:
            counts["cat_boundaries"] = n_cat + 1
    for key, want in counts.items():
        if key in fields and len(fields[key].split()) != want:
            return f"{key} holds {len(fields[key].split())} values, not {want}"
    return None


def _storage(model: Any) -> str:
    """ "text" when model.txt (plus the class labels) carries everything predict needs."""
    import lightgbm as lgb

    return boosting.storage(model, lgb, ESTIMATOR_CLASSES, "text")


def _named(names: list[str]) -> list[str] | None:
    """LightGBM calls the features of a model fitted on an array Column_0, Column_1, ...:
    those are positions, not names."""
    if names and names != [f"Column_{i}" for i in range(len(names))]:
        return names
    return None


def _use_case(objective: str) -> str | None:
    if objective == "binary":
        return "binary_classification"
    if objective in ("multiclass", "softmax", "multiclassova", "multiclass_ova", "ova", "ovr"):
        return "multinomial_classification"
    if objective in _REGRESSION_OBJECTIVES:
        return "regression"
    return None  # ranking and custom objectives
