"""Collect the exact globals that real model pickles import, per allow-list group.

Builds many real model pickles with the installed framework versions (scikit-learn
estimators and pipelines, XGBoost and LightGBM models and boosters, PyTorch state dicts,
whole modules and optimizers, numpy / scipy.sparse / pandas / pyarrow data), walks each
with ``mdreg.scan.read_pickle_globals`` (never loading it), and prints the union of
``module:name`` per group. Public classes that a model can hold but this script cannot
fit (every scikit-learn estimator, the Cython classes of trees, losses and neighbors,
torch's nn.Module classes, numpy's DType classes...) are added by enumeration.

    .venv/bin/python scripts/collect_allowlist.py            # print what it found
    .venv/bin/python scripts/collect_allowlist.py --write    # regenerate mdreg/scan/allowlists.py

Names that resolve to a function are listed for review: each must be added by hand to
``mdreg.scan.policy.RECONSTRUCTORS`` or ``VALUE_FUNCTIONS`` (tests/scan/test_allowlist_names.py
fails until it is). Names that the policy denies, and names outside the framework groups
("generic": the standard library), are reported, never written.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import io
import os
import pickle  # noqa: S403 - only dumps: the point is to write real model pickles
import sys
import tempfile
import textwrap
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import joblib
import lightgbm
import numpy as np
import pandas as pd
import pyarrow as pa
import scipy
import scipy.sparse as sp
import sklearn
import torch
import xgboost

from mdreg.scan import policy
from mdreg.scan.containers import read_pickle_globals

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "mdreg" / "scan" / "allowlists.py"

#: Allow-list group of a global, by its top-level module; anything else is "generic".
GROUP_OF_TOP = {
    "sklearn": "sklearn",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "torch": "torch",
    "numpy": "numpy",
    "scipy": "numpy",
    "pandas": "numpy",
    "pyarrow": "numpy",
    "joblib": "numpy",
}
GROUPS = ("numpy", "sklearn", "xgboost", "lightgbm", "torch")

Sample = tuple[str, object]  # (label, object to pickle)


def group_of(module: str) -> str:
    return GROUP_OF_TOP.get(module.split(".", 1)[0], "generic")


# -- scikit-learn -------------------------------------------------------------------------


def _data() -> dict[str, object]:
    from sklearn.datasets import load_iris, make_regression

    Xc, yc = load_iris(return_X_y=True)
    Xr, yr = make_regression(n_samples=80, n_features=4, noise=0.1, random_state=0)
    return {
        "Xc": Xc,
        "yc": yc,
        "yb": (yc == 0).astype(int),
        "Xr": Xr,
        "yr": yr,
        "Ymulti": np.column_stack([yc == 0, yc == 1, yc == 2]).astype(int),
        "Yreg2": np.column_stack([yr, yr * 2]),
        "text": ["the cat sat", "a dog ran far", "cats and dogs", "the end"] * 5,
        "dicts": [{"a": 1, "b": 2.0}, {"a": 3, "c": "x"}] * 5,
    }


def _meta_estimators(d: dict) -> dict[str, Callable[[], object]]:
    """Fitted instances of the estimators whose constructors need arguments."""
    from sklearn.compose import ColumnTransformer
    from sklearn.cross_decomposition import PLSSVD
    from sklearn.decomposition import PCA, SparseCoder
    from sklearn.ensemble import (
        RandomForestClassifier,
        StackingClassifier,
        StackingRegressor,
        VotingClassifier,
        VotingRegressor,
    )
    from sklearn.feature_selection import RFE, RFECV, SelectFromModel, SequentialFeatureSelector
    from sklearn.frozen import FrozenEstimator
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
    from sklearn.model_selection import (
        FixedThresholdClassifier,
        GridSearchCV,
        HalvingGridSearchCV,
        HalvingRandomSearchCV,
        RandomizedSearchCV,
        TunedThresholdClassifierCV,
    )
    from sklearn.multiclass import OneVsOneClassifier, OneVsRestClassifier, OutputCodeClassifier
    from sklearn.multioutput import (
        ClassifierChain,
        MultiOutputClassifier,
        MultiOutputRegressor,
        RegressorChain,
    )
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.random_projection import GaussianRandomProjection, SparseRandomProjection
    from sklearn.semi_supervised import SelfTrainingClassifier
    from sklearn.tree import DecisionTreeClassifier

    Xc, yc, yb, Xr, yr = d["Xc"], d["yc"], d["yb"], d["Xr"], d["yr"]

    def lr():
        return LogisticRegression(max_iter=500)

    clfs = [("lr", lr()), ("dt", DecisionTreeClassifier(max_depth=2))]
    regs = [("ridge", Ridge()), ("lin", LinearRegression())]
    return {
        "ClassifierChain": lambda: ClassifierChain(lr()).fit(Xc, d["Ymulti"]),
        "ColumnTransformer": lambda: ColumnTransformer(
            [("scale", StandardScaler(), [0, 1]), ("pca", PCA(1), [2, 3])]
        ).fit(Xc),
        "FeatureUnion": lambda: FeatureUnion([("s", StandardScaler()), ("p", PCA(2))]).fit(Xc),
        "FixedThresholdClassifier": lambda: FixedThresholdClassifier(lr()).fit(Xc, yb),
        "FrozenEstimator": lambda: FrozenEstimator(lr().fit(Xc, yc)),
        "GridSearchCV": lambda: GridSearchCV(lr(), {"C": [0.1, 1.0]}, cv=2).fit(Xc, yc),
        "HalvingGridSearchCV": lambda: HalvingGridSearchCV(
            DecisionTreeClassifier(), {"max_depth": [1, 2, 3]}, cv=2
        ).fit(Xc, yc),
        "HalvingRandomSearchCV": lambda: HalvingRandomSearchCV(
            DecisionTreeClassifier(), {"max_depth": [1, 2, 3]}, cv=2, random_state=0
        ).fit(Xc, yc),
        "MultiOutputClassifier": lambda: MultiOutputClassifier(lr()).fit(Xc, d["Ymulti"]),
        "MultiOutputRegressor": lambda: MultiOutputRegressor(Ridge()).fit(Xr, d["Yreg2"]),
        "OneVsOneClassifier": lambda: OneVsOneClassifier(lr()).fit(Xc, yc),
        "OneVsRestClassifier": lambda: OneVsRestClassifier(lr()).fit(Xc, yc),
        "OutputCodeClassifier": lambda: OutputCodeClassifier(lr(), random_state=0).fit(Xc, yc),
        "Pipeline": lambda: Pipeline([("s", StandardScaler()), ("lr", lr())]).fit(Xc, yc),
        "GaussianRandomProjection": lambda: GaussianRandomProjection(2).fit(Xc),
        "PLSSVD": lambda: PLSSVD(1).fit(Xr, yr),
        "SelfTrainingClassifier": lambda: SelfTrainingClassifier(lr()).fit(
            Xc, np.where(np.arange(len(yc)) % 3 == 0, -1, yc)
        ),
        "SparseRandomProjection": lambda: SparseRandomProjection(2).fit(Xc),
        "RFE": lambda: RFE(lr(), n_features_to_select=2).fit(Xc, yc),
        "RFECV": lambda: RFECV(lr(), cv=2).fit(Xc, yc),
        "RandomizedSearchCV": lambda: RandomizedSearchCV(
            lr(), {"C": [0.1, 1.0, 10.0]}, n_iter=2, cv=2, random_state=0
        ).fit(Xc, yc),
        "RegressorChain": lambda: RegressorChain(Ridge()).fit(Xr, d["Yreg2"]),
        "SelectFromModel": lambda: SelectFromModel(RandomForestClassifier(5)).fit(Xc, yc),
        "SequentialFeatureSelector": lambda: SequentialFeatureSelector(
            lr(), n_features_to_select=2, cv=2
        ).fit(Xc, yc),
        "SparseCoder": lambda: SparseCoder(PCA(2).fit(Xc).components_).fit(Xc),
        "StackingClassifier": lambda: StackingClassifier(clfs, cv=2).fit(Xc, yc),
        "StackingRegressor": lambda: StackingRegressor(regs, cv=2).fit(Xr, yr),
        "TunedThresholdClassifierCV": lambda: TunedThresholdClassifierCV(lr(), cv=2).fit(Xc, yb),
        "VotingClassifier": lambda: VotingClassifier(clfs, voting="soft").fit(Xc, yc),
        "VotingRegressor": lambda: VotingRegressor(regs).fit(Xr, yr),
    }


def _fit_default(name: str, cls: type, d: dict) -> object:
    """``cls()`` fitted on data that suits it (the first that works)."""
    from sklearn.base import is_classifier, is_regressor

    Xc, yc, Xr, yr = d["Xc"], d["yc"], d["Xr"], d["yr"]
    special = {
        "CountVectorizer": [(d["text"],)],
        "TfidfVectorizer": [(d["text"],)],
        "HashingVectorizer": [(d["text"],)],
        "DictVectorizer": [(d["dicts"],)],
        "FeatureHasher": [(d["dicts"],)],
        "LabelEncoder": [(yc,)],
        "LabelBinarizer": [(yc,)],
        "MultiLabelBinarizer": [([[1, 2], [3], [2, 3]],)],
        "IsotonicRegression": [(Xr[:, 0], yr)],
        "KernelCenterer": [(Xc @ Xc.T,)],
        "PatchExtractor": [(np.random.default_rng(0).random((3, 8, 8)),)],
        "TfidfTransformer": [((Xc * 10).astype(int),)],
    }
    if name in special:
        tries = special[name]
    elif is_classifier(cls()):
        tries = [(Xc, yc), (Xc, d["yb"])]
    elif is_regressor(cls()):
        tries = [(Xr, yr), (np.abs(Xr), np.abs(yr) + 1), (Xr, d["Yreg2"])]
    else:
        tries = [(Xc,), (Xc, yc), (Xr, yr)]
    error: Exception | None = None
    for args in tries:
        try:
            return cls().fit(*args)
        except Exception as exc:  # noqa: BLE001 - try the next data set
            error = exc
    raise RuntimeError(f"{name}: {error}")


def _sklearn_variants(d: dict) -> Iterator[Sample]:
    """Common configurations beyond the defaults: losses, metrics, kernels, encoders."""
    from sklearn import (
        ensemble,
        gaussian_process,
        linear_model,
        neighbors,
        neural_network,
        preprocessing,
        svm,
        tree,
    )
    from sklearn.compose import ColumnTransformer, TransformedTargetRegressor, make_column_selector
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.feature_selection import (
        SelectKBest,
        SelectPercentile,
        chi2,
        f_classif,
        f_regression,
        mutual_info_classif,
        mutual_info_regression,
    )
    from sklearn.gaussian_process import kernels as k
    from sklearn.impute import KNNImputer, SimpleImputer
    from sklearn.metrics import get_scorer, get_scorer_names
    from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold
    from sklearn.pipeline import make_pipeline

    Xc, yc, yb, Xr, yr = d["Xc"], d["yc"], d["yb"], d["Xr"], d["yr"]
    for loss in (
        "hinge",
        "log_loss",
        "modified_huber",
        "squared_hinge",
        "perceptron",
        "squared_error",
        "huber",
        "epsilon_insensitive",
    ):
        yield f"SGDClassifier({loss})", linear_model.SGDClassifier(loss=loss).fit(Xc, yc)
    for loss in ("squared_error", "huber", "epsilon_insensitive", "squared_epsilon_insensitive"):
        yield f"SGDRegressor({loss})", linear_model.SGDRegressor(loss=loss).fit(Xr, yr)
    for loss in ("squared_error", "absolute_error", "huber", "quantile"):
        model = ensemble.GradientBoostingRegressor(loss=loss, n_estimators=3).fit(Xr, yr)
        yield f"GradientBoostingRegressor({loss})", model
    for loss in ("log_loss", "exponential"):
        model = ensemble.GradientBoostingClassifier(loss=loss, n_estimators=3).fit(Xc, yb)
        yield f"GradientBoostingClassifier({loss})", model
    yield (
        "GradientBoostingClassifier(multi)",
        ensemble.GradientBoostingClassifier(n_estimators=3).fit(Xc, yc),
    )
    for loss in ("squared_error", "absolute_error", "gamma", "poisson", "quantile"):
        yp = np.abs(yr) + 1 if loss in ("gamma", "poisson") else yr
        kwargs = {"quantile": 0.5} if loss == "quantile" else {}
        model = ensemble.HistGradientBoostingRegressor(loss=loss, max_iter=3, **kwargs)
        yield f"HistGradientBoostingRegressor({loss})", model.fit(Xr, yp)
    for y in (yb, yc):
        model = ensemble.HistGradientBoostingClassifier(max_iter=3, categorical_features=[0])
        yield "HistGradientBoostingClassifier(cat)", model.fit(Xc.round(), y)
    for crit in ("gini", "entropy", "log_loss"):
        yield f"tree({crit})", tree.DecisionTreeClassifier(criterion=crit).fit(Xc, yc)
    for crit in ("squared_error", "friedman_mse", "absolute_error", "poisson"):
        yield f"tree({crit})", tree.DecisionTreeRegressor(criterion=crit).fit(Xr, np.abs(yr))
    yield "ExtraTreesClassifier", ensemble.ExtraTreesClassifier(5).fit(Xc, yc)
    yield "IsolationForest", ensemble.IsolationForest(n_estimators=5).fit(Xc)
    metrics = (
        "euclidean",
        "manhattan",
        "chebyshev",
        "minkowski",
        "cosine",
        "haversine",
        "seuclidean",
        "mahalanobis",
        "hamming",
        "canberra",
        "braycurtis",
        "jaccard",
    )
    for metric in metrics:
        for algorithm in ("kd_tree", "ball_tree", "brute", "auto"):
            X = Xc[:, :2] if metric == "haversine" else Xc
            kw = {"V": np.cov(X.T)} if metric == "seuclidean" else {}
            kw = {"VI": np.linalg.inv(np.cov(X.T))} if metric == "mahalanobis" else kw
            with contextlib.suppress(ValueError):
                model = neighbors.KNeighborsClassifier(
                    3, algorithm=algorithm, metric=metric, metric_params=kw or None
                )
                yield (
                    f"KNN({metric},{algorithm})",
                    model.fit(X > 3 if metric in ("hamming", "jaccard") else X, yc),
                )
    for X32 in (Xc, Xc.astype(np.float32)):
        yield "KDTree", neighbors.KDTree(X32)
        yield "BallTree", neighbors.BallTree(X32)
    yield "KernelDensity", neighbors.KernelDensity().fit(Xc)
    yield "NearestNeighbors", neighbors.NearestNeighbors(metric="cosine").fit(Xc)
    yield "RadiusNeighbors", neighbors.RadiusNeighborsRegressor().fit(Xr, yr)
    for act in ("relu", "tanh", "logistic", "identity"):
        for solver in ("adam", "sgd", "lbfgs"):
            model = neural_network.MLPClassifier(
                hidden_layer_sizes=(4,), activation=act, solver=solver, max_iter=5
            )
            yield f"MLP({act},{solver})", model.fit(Xc, yc)
    yield (
        "MLPRegressor",
        neural_network.MLPRegressor(hidden_layer_sizes=(4,), max_iter=5).fit(Xr, yr),
    )
    for kernel in ("linear", "poly", "rbf", "sigmoid"):
        yield f"SVC({kernel})", svm.SVC(kernel=kernel, probability=True).fit(Xc, yc)
    yield "SVR", svm.SVR().fit(Xr, yr)
    for family in (linear_model.PoissonRegressor, linear_model.GammaRegressor):
        yield family.__name__, family().fit(Xr, np.abs(yr) + 1)
    for power in (0, 1, 1.5, 2, 3):
        model = linear_model.TweedieRegressor(power=power, link="auto")
        yield f"Tweedie({power})", model.fit(Xr, np.abs(yr) + 1)
    yield "QuantileRegressor", linear_model.QuantileRegressor(alpha=0).fit(Xr, yr)
    kernels = [
        k.ConstantKernel() * k.RBF() + k.WhiteKernel(),
        k.Matern(nu=1.5) + k.RationalQuadratic(),
        k.ExpSineSquared() * k.DotProduct() ** 2,
        k.PairwiseKernel(metric="rbf"),
        k.CompoundKernel([k.RBF(), k.Matern()]),
        k.RBF(length_scale=[1.0] * 4) + k.ConstantKernel(1.0, constant_value_bounds="fixed"),
        k.Exponentiation(k.RBF(), 2),
    ]
    for i, kernel in enumerate(kernels):
        yield f"kernel{i}", kernel
        with contextlib.suppress(Exception):
            reg = gaussian_process.GaussianProcessRegressor(kernel, optimizer=None)
            yield f"GPR(kernel{i})", reg.fit(Xr[:30], yr[:30])
    yield "GPC", gaussian_process.GaussianProcessClassifier(k.RBF()).fit(Xc, yc)
    for func in (chi2, f_classif, mutual_info_classif):
        yield f"SelectKBest({func.__name__})", SelectKBest(func, k=2).fit(Xc, yc)
    for func in (f_regression, mutual_info_regression):
        yield f"SelectPercentile({func.__name__})", SelectPercentile(func).fit(Xr, yr)
    for name in get_scorer_names():
        yield f"scorer({name})", get_scorer(name)
    for scoring in (
        "accuracy",
        "roc_auc_ovr",
        "f1_macro",
        "neg_log_loss",
        ["accuracy", "balanced_accuracy"],
    ):
        refit = "accuracy" if isinstance(scoring, list) else True
        search = GridSearchCV(
            linear_model.LogisticRegression(max_iter=300),
            {"C": [0.5, 1.0]},
            scoring=scoring,
            refit=refit,
            cv=StratifiedKFold(2, shuffle=True, random_state=0),
        )
        yield f"GridSearchCV({scoring})", search.fit(Xc, yc)
    search = GridSearchCV(linear_model.Ridge(), {"alpha": [1.0]}, cv=KFold(2), scoring="r2")
    yield "GridSearchCV(r2)", search.fit(Xr, yr)
    yield (
        "FunctionTransformer(log1p)",
        preprocessing.FunctionTransformer(np.log1p, inverse_func=np.expm1).fit(Xc),
    )
    yield (
        "TransformedTargetRegressor(log1p)",
        TransformedTargetRegressor(linear_model.Ridge(), func=np.log1p, inverse_func=np.expm1).fit(
            Xr, np.abs(yr)
        ),
    )
    yield (
        "TransformedTargetRegressor(scaler)",
        TransformedTargetRegressor(transformer=preprocessing.StandardScaler()).fit(Xr, yr),
    )
    frame = pd.DataFrame(
        {
            "num": Xc[:, 0],
            "num2": np.where(np.arange(150) % 7 == 0, np.nan, Xc[:, 1]),
            "cat": pd.Categorical(np.array(["a", "b", "c"])[yc]),
            "text": np.array(["red fox", "blue sky", "red sky"], dtype=object)[yc],
            "obj": np.array(["u", "v", "w"], dtype=object)[(yc + 1) % 3],
            "flag": yc == 1,
        }
    )
    numeric = make_pipeline(SimpleImputer(strategy="median"), preprocessing.StandardScaler())
    encoders = [
        preprocessing.OneHotEncoder(handle_unknown="ignore"),
        preprocessing.OneHotEncoder(sparse_output=False, drop="first"),
        preprocessing.OneHotEncoder(min_frequency=2, handle_unknown="infrequent_if_exist"),
        preprocessing.OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
        preprocessing.TargetEncoder(),
    ]
    for encoder in encoders:
        ct = ColumnTransformer(
            [
                ("num", numeric, ["num", "num2"]),
                ("cat", encoder, make_column_selector(dtype_include="category")),
                ("obj", preprocessing.OneHotEncoder(), ["obj"]),
                ("text", TfidfVectorizer(), "text"),
                ("flag", "passthrough", ["flag"]),
            ],
            remainder="drop",
        )
        pipe = make_pipeline(ct, linear_model.LogisticRegression(max_iter=300))
        yield f"ColumnTransformer({type(encoder).__name__})", pipe.fit(frame, yc)
    pandas_out = make_pipeline(
        ColumnTransformer(
            [("num", numeric, ["num", "num2"]), ("cat", encoders[1], ["cat", "obj"])],
            remainder="passthrough",
            verbose_feature_names_out=False,
        ),
        preprocessing.MinMaxScaler(),
    ).set_output(transform="pandas")
    yield "set_output(pandas)", pandas_out.fit(frame.drop(columns=["text"]), yc)
    transformers = [
        preprocessing.KBinsDiscretizer(n_bins=3),
        preprocessing.PolynomialFeatures(2),
        preprocessing.SplineTransformer(),
        preprocessing.QuantileTransformer(n_quantiles=20),
        preprocessing.PowerTransformer(),
        preprocessing.RobustScaler(),
        preprocessing.MaxAbsScaler(),
        preprocessing.Normalizer(),
        preprocessing.Binarizer(),
        KNNImputer(),
        SimpleImputer(strategy="most_frequent", add_indicator=True),
    ]
    for transformer in transformers:
        pipe = make_pipeline(transformer, linear_model.LogisticRegression(max_iter=300))
        yield f"Pipeline({type(transformer).__name__})", pipe.fit(Xc, yc)
    yield "unfitted", make_pipeline(preprocessing.StandardScaler(), svm.SVC())
    split = importlib.import_module("sklearn.model_selection._split")
    for name, cls in vars(split).items():
        if inspect.isclass(cls) and cls.__module__ == split.__name__ and name[0] != "_":
            if inspect.isabstract(cls) or name.startswith("Base") or name.endswith("Mixin"):
                continue
            try:
                yield f"splitter {name}", cls()
            except TypeError:
                pass  # needs arguments (PredefinedSplit, GroupShuffleSplit is fine)


def sklearn_samples() -> Iterator[Sample]:
    from sklearn.experimental import enable_halving_search_cv, enable_iterative_imputer  # noqa: F401
    from sklearn.utils import all_estimators

    d = _data()
    meta = _meta_estimators(d)
    for name, cls in all_estimators():
        try:
            model = meta[name]() if name in meta else _fit_default(name, cls, d)
        except Exception as exc:  # noqa: BLE001 - reported, the class is enumerated anyway
            FAILED.append(f"sklearn {name}: {type(exc).__name__}: {str(exc)[:120]}")
            continue
        yield name, model
    yield from _sklearn_variants(d)


def sklearn_classes() -> Iterator[tuple[str, str]]:
    """Every public estimator class, kernel, loss and link, and the Cython classes that
    trees, losses, neighbors and distance metrics pickle."""
    from sklearn.experimental import enable_halving_search_cv, enable_iterative_imputer  # noqa: F401
    from sklearn.gaussian_process import kernels
    from sklearn.utils import all_estimators

    for _, cls in all_estimators():
        yield cls.__module__, cls.__qualname__
    for module in (kernels, importlib.import_module("sklearn._loss.loss")):
        for cls in vars(module).values():
            public = inspect.isclass(cls) and not cls.__name__.startswith("_")
            if public and cls.__module__ == module.__name__:
                yield cls.__module__, cls.__qualname__
    link = importlib.import_module("sklearn._loss.link")
    for cls in vars(link).values():
        if inspect.isclass(cls) and issubclass(cls, (link.BaseLink, link.Interval)):
            yield cls.__module__, cls.__qualname__
    cython = {
        "sklearn.tree._tree": ("Tree",),
        "sklearn._loss._loss": ("Cy",),
        "sklearn.neighbors._kd_tree": ("KDTree",),
        "sklearn.neighbors._ball_tree": ("BallTree",),
        "sklearn.metrics._dist_metrics": ("",),
        "sklearn.linear_model._sgd_fast": ("",),
        "sklearn.ensemble._hist_gradient_boosting.predictor": ("TreePredictor",),
    }
    for modname, prefixes in cython.items():
        module = importlib.import_module(modname)
        for name, cls in vars(module).items():
            if not (inspect.isclass(cls) and cls.__module__ == modname):
                continue
            if name.startswith("_") or "PyFunc" in name or name in ("Enum", "array", "memoryview"):
                continue  # Cython's own helpers; PyFuncDistance calls a stored Python function
            if name.startswith(prefixes):
                yield modname, cls.__qualname__


# -- XGBoost, LightGBM --------------------------------------------------------------------


def xgboost_samples() -> Iterator[Sample]:
    d = _data()
    Xc, yc, Xr, yr = d["Xc"], d["yc"], d["Xr"], d["yr"]
    kw = {"n_estimators": 3, "max_depth": 2}
    yield "XGBClassifier", xgboost.XGBClassifier(**kw).fit(Xc, yc)
    yield "XGBClassifier(binary)", xgboost.XGBClassifier(**kw).fit(Xc, d["yb"])
    yield "XGBRegressor", xgboost.XGBRegressor(**kw).fit(Xr, yr)
    yield "XGBRFClassifier", xgboost.XGBRFClassifier(**kw).fit(Xc, yc)
    yield "XGBRFRegressor", xgboost.XGBRFRegressor(**kw).fit(Xr, yr)
    yield (
        "XGBRanker",
        xgboost.XGBRanker(**kw).fit(Xr, (yr > 0).astype(int), qid=np.repeat(np.arange(8), 10)),
    )
    stop = xgboost.callback.EarlyStopping(rounds=2, save_best=True)
    model = xgboost.XGBClassifier(**kw, callbacks=[stop], eval_metric="mlogloss")
    yield "XGBClassifier(EarlyStopping)", model.fit(Xc, yc, eval_set=[(Xc, yc)], verbose=False)
    frame = pd.DataFrame({"a": Xc[:, 0], "c": pd.Categorical(np.array(["x", "y", "z"])[yc])})
    model = xgboost.XGBClassifier(**kw, enable_categorical=True, tree_method="hist")
    yield "XGBClassifier(categorical)", model.fit(frame, yc)
    yield "XGBClassifier(unfitted)", xgboost.XGBClassifier()
    booster = xgboost.train({"max_depth": 2}, xgboost.DMatrix(Xr, yr), num_boost_round=3)
    yield "Booster", booster
    yield "Booster(dict)", {"booster": booster, "features": ["a", "b", "c", "d"]}


def xgboost_classes() -> Iterator[tuple[str, str]]:
    for cls in vars(xgboost.sklearn).values():
        if inspect.isclass(cls) and issubclass(cls, xgboost.XGBModel):
            yield cls.__module__, cls.__qualname__
    yield xgboost.Booster.__module__, xgboost.Booster.__qualname__


def lightgbm_samples() -> Iterator[Sample]:
    d = _data()
    Xc, yc, Xr, yr = d["Xc"], d["yc"], d["Xr"], d["yr"]
    kw = {"n_estimators": 3, "verbose": -1, "min_child_samples": 2}
    yield "LGBMClassifier", lightgbm.LGBMClassifier(**kw).fit(Xc, yc)
    yield "LGBMClassifier(binary)", lightgbm.LGBMClassifier(**kw).fit(Xc, d["yb"])
    yield "LGBMRegressor", lightgbm.LGBMRegressor(**kw).fit(Xr, yr)
    yield "LGBMRanker", lightgbm.LGBMRanker(**kw).fit(Xr, (yr > 0).astype(int), group=[10] * 8)
    frame = pd.DataFrame({"a": Xc[:, 0], "c": pd.Categorical(np.array(["x", "y", "z"])[yc])})
    yield "LGBMClassifier(categorical)", lightgbm.LGBMClassifier(**kw).fit(frame, yc)
    model = lightgbm.LGBMClassifier(**kw).fit(
        Xc, yc, eval_set=[(Xc, yc)], callbacks=[lightgbm.early_stopping(2, verbose=False)]
    )
    yield "LGBMClassifier(early_stopping)", model
    yield "LGBMClassifier(unfitted)", lightgbm.LGBMClassifier()
    booster = lightgbm.train({"verbose": -1}, lightgbm.Dataset(Xr, yr), num_boost_round=3)
    yield "Booster", booster
    booster = lightgbm.train(
        {"verbose": -1, "objective": "multiclass", "num_class": 3},
        lightgbm.Dataset(frame, yc),
        num_boost_round=3,
    )
    yield "Booster(pandas categorical)", booster


def lightgbm_classes() -> Iterator[tuple[str, str]]:
    for cls in vars(lightgbm.sklearn).values():
        if inspect.isclass(cls) and issubclass(cls, lightgbm.LGBMModel):
            yield cls.__module__, cls.__qualname__
    yield lightgbm.Booster.__module__, lightgbm.Booster.__qualname__


# -- PyTorch ------------------------------------------------------------------------------


def _torch_modules() -> Iterator[tuple[str, torch.nn.Module]]:
    nn = torch.nn
    yield "Linear", nn.Linear(4, 3)
    yield "Bilinear", nn.Bilinear(2, 2, 2)
    for conv in (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d):
        yield conv.__name__, conv(2, 3, 3)
    for rnn in (nn.LSTM, nn.GRU, nn.RNN):
        yield rnn.__name__, rnn(4, 8, num_layers=2, batch_first=True, bidirectional=True)
    yield "LSTMCell", nn.LSTMCell(4, 4)
    yield "GRUCell", nn.GRUCell(4, 4)
    yield "TransformerEncoderLayer", nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
    yield "TransformerEncoderLayer(gelu)", nn.TransformerEncoderLayer(8, 2, 16, activation="gelu")
    yield "TransformerEncoder", nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 2)
    yield "TransformerDecoderLayer", nn.TransformerDecoderLayer(8, 2, 16)
    yield "Transformer", nn.Transformer(8, 2, 1, 1, 16)
    yield "MultiheadAttention", nn.MultiheadAttention(8, 2)
    for norm in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.InstanceNorm2d):
        yield norm.__name__, norm(4)
    yield "LayerNorm", nn.LayerNorm(4)
    yield "GroupNorm", nn.GroupNorm(2, 4)
    yield "RMSNorm", nn.RMSNorm(4)
    yield "Embedding", nn.Embedding(10, 4, padding_idx=0)
    yield "EmbeddingBag", nn.EmbeddingBag(10, 4, mode="mean")
    no_args = [
        "ReLU",
        "ReLU6",
        "GELU",
        "SiLU",
        "Tanh",
        "Sigmoid",
        "LeakyReLU",
        "ELU",
        "SELU",
        "CELU",
        "Softplus",
        "Softsign",
        "Mish",
        "Hardswish",
        "Hardsigmoid",
        "Hardtanh",
        "PReLU",
        "LogSigmoid",
        "Tanhshrink",
        "Softmin",
        "Softmax",
        "LogSoftmax",
        "Softmax2d",
        "Identity",
        "Flatten",
        "Dropout",
        "Dropout1d",
        "Dropout2d",
        "AlphaDropout",
        "CrossEntropyLoss",
        "MSELoss",
        "L1Loss",
        "BCELoss",
        "BCEWithLogitsLoss",
        "NLLLoss",
        "HuberLoss",
        "SmoothL1Loss",
        "KLDivLoss",
        "CosineSimilarity",
        "PairwiseDistance",
        "ChannelShuffle",
    ]
    for name in no_args:
        with contextlib.suppress(TypeError):
            yield name, getattr(nn, name)() if name != "ChannelShuffle" else nn.ChannelShuffle(2)
    yield "GLU", nn.GLU()
    yield "Threshold", nn.Threshold(0.1, 0.0)
    yield "Unflatten", nn.Unflatten(1, (2, 2))
    for pool in (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d, nn.LPPool2d):
        yield pool.__name__, pool(2) if pool is not nn.LPPool2d else pool(2, 2)
    for pool in (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d):
        yield pool.__name__, pool(1)
    yield "Upsample", nn.Upsample(scale_factor=2, mode="nearest")
    yield "PixelShuffle", nn.PixelShuffle(2)
    yield "ZeroPad2d", nn.ZeroPad2d(1)
    yield "ReflectionPad2d", nn.ReflectionPad2d(1)
    yield "ConstantPad1d", nn.ConstantPad1d(1, 0.0)
    yield "Fold", nn.Fold((4, 4), 2)
    yield "Unfold", nn.Unfold(2)
    yield "Sequential", nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.1), nn.Linear(8, 2))
    yield "ModuleList", nn.ModuleList([nn.Linear(2, 2), nn.Tanh()])
    yield "ModuleDict", nn.ModuleDict({"a": nn.Linear(2, 2)})
    yield "ParameterList", nn.ParameterList([nn.Parameter(torch.ones(2))])
    yield "ParameterDict", nn.ParameterDict({"w": nn.Parameter(torch.ones(2))})
    seq = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten())
    seq.register_buffer("scale", torch.ones(1))
    seq.register_buffer("tmp", torch.zeros(1), persistent=False)
    yield "Sequential(buffers)", seq


def torch_samples() -> Iterator[Sample]:
    modules = list(_torch_modules())
    for name, module in modules:
        yield f"{name}.state_dict", module.state_dict()
        yield name, module
    half = torch.nn.Linear(4, 4).to(torch.bfloat16)
    yield "Linear(bfloat16)", half
    yield "Linear(double).state_dict", torch.nn.Linear(4, 4).double().state_dict()
    params = list(torch.nn.Linear(4, 2).parameters())
    optimizers = [
        "SGD",
        "Adam",
        "AdamW",
        "RMSprop",
        "Adagrad",
        "Adadelta",
        "Adamax",
        "NAdam",
        "RAdam",
        "ASGD",
        "Rprop",
        "LBFGS",
        "Adafactor",
    ]
    for name in optimizers:
        if not hasattr(torch.optim, name):
            continue
        opt = getattr(torch.optim, name)(params, lr=0.1)

        def closure(opt=opt):
            opt.zero_grad()
            loss = sum(p.sum() ** 2 for p in params)
            loss.backward()
            return loss

        opt.step(closure)
        yield f"{name}.state_dict", opt.state_dict()
        yield name, opt
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9)
    for sched in (
        torch.optim.lr_scheduler.StepLR(opt, 2),
        torch.optim.lr_scheduler.CosineAnnealingLR(opt, 10),
        torch.optim.lr_scheduler.ReduceLROnPlateau(opt),
        torch.optim.lr_scheduler.OneCycleLR(opt, 1.0, total_steps=10),
    ):
        yield f"{type(sched).__name__}.state_dict", sched.state_dict()
    tensors = {}
    for name in dir(torch):
        dtype = getattr(torch, name)
        if isinstance(dtype, torch.dtype) and name not in tensors:
            with contextlib.suppress(Exception):  # sub-byte dtypes cannot be created or saved
                tensor = torch.zeros(3, dtype=dtype)
                torch.save(tensor, io.BytesIO())
                tensors[name] = tensor
    for name, tensor in tensors.items():
        yield f"tensor {name}", {name: tensor}
    extras = {
        "param": torch.nn.Parameter(torch.ones(2)),
        "frozen": torch.nn.Parameter(torch.ones(2), requires_grad=False),
        "size": torch.Size([2, 3]),
        "device": torch.device("cpu"),
        "dtype": torch.float32,
        "channels_last": torch.zeros(1, 2, 3, 3).to(memory_format=torch.channels_last),
        "view": torch.arange(10)[2:5],
        "coo": torch.eye(3).to_sparse(),
        "csr": torch.eye(3).to_sparse_csr(),
        "csc": torch.eye(3).to_sparse_csc(),
        "bsr": torch.eye(4).to_sparse_bsr((2, 2)),
        "qint8": torch.quantize_per_tensor(torch.ones(4), 0.1, 0, torch.qint8),
        "quint8": torch.quantize_per_tensor(torch.ones(4), 0.1, 0, torch.quint8),
        "qint32": torch.quantize_per_tensor(torch.ones(4), 0.1, 0, torch.qint32),
        "per_channel": torch.quantize_per_channel(
            torch.ones(2, 2), torch.tensor([0.1, 0.2]), torch.tensor([0, 0]), 0, torch.quint8
        ),
        "nested": torch.nested.nested_tensor([torch.ones(2), torch.ones(3)]),
        "meta": torch.empty(3, device="meta"),
    }
    tagged = torch.ones(2)
    tagged.note = "an attribute"
    extras["tagged"] = tagged
    tagged_param = torch.nn.Parameter(torch.ones(2))
    tagged_param.note = "an attribute"
    extras["tagged_param"] = tagged_param
    yield "tensor kinds", extras
    yield from extras.items()


def torchscript_samples() -> Iterator[Sample]:
    nn = torch.nn
    modules = {
        "Sequential": nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)),
        "LSTM": nn.LSTM(4, 8, batch_first=True),
        "Conv2d": nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten()),
        "TransformerEncoderLayer": nn.TransformerEncoderLayer(8, 2, 16, batch_first=True),
        "Embedding": nn.EmbeddingBag(10, 4),
    }
    for name, module in modules.items():
        yield f"script({name})", torch.jit.script(module.eval())
    yield "trace(Linear)", torch.jit.trace(nn.Linear(4, 2), torch.ones(1, 4))


def torch_classes() -> Iterator[tuple[str, str]]:
    """nn.Module classes defined under torch.nn.modules, optimizers, legacy storages."""
    for name in dir(torch.nn):
        cls = getattr(torch.nn, name)
        module_class = inspect.isclass(cls) and issubclass(cls, torch.nn.Module)
        if module_class and cls.__module__.startswith("torch.nn.modules.") and name[0] != "_":
            yield cls.__module__, cls.__qualname__
    for name in dir(torch.optim):
        cls = getattr(torch.optim, name)
        if inspect.isclass(cls) and issubclass(cls, torch.optim.Optimizer):
            yield cls.__module__, cls.__qualname__
    for name in dir(torch):
        if name.endswith("Storage") and inspect.isclass(getattr(torch, name)):
            yield "torch", name


# -- numpy, scipy, pandas, pyarrow --------------------------------------------------------


def numpy_samples() -> Iterator[Sample]:
    arrays = {}
    for code in np.typecodes["All"].replace("V", "") + "U":
        with contextlib.suppress(TypeError):
            arrays[code] = np.zeros(3, dtype=code)
    for unit in ("D", "s", "ms", "ns"):
        arrays[f"M8[{unit}]"] = np.array(["2020-01-01", "NaT"], dtype=f"M8[{unit}]")
        arrays[f"m8[{unit}]"] = np.array([1, 2], dtype=f"m8[{unit}]")
    arrays["S5"] = np.array([b"ab", b"c"], dtype="S5")
    arrays["V4"] = np.zeros(2, dtype="V4")
    arrays["object"] = np.array([1, "a", None, 2.5], dtype=object)
    nested = np.dtype([("x", "<f4"), ("y", ">i8", (2,)), ("z", [("a", "U3"), ("b", "?")])])
    arrays["structured"] = np.zeros(3, dtype=nested)
    arrays["aligned"] = np.zeros(
        2,
        dtype=np.dtype(
            {"names": ["a", "b"], "formats": ["u1", "f8"], "titles": ["A", "B"]}, align=True
        ),
    )
    arrays["StringDType"] = np.array(["a", "bc"], dtype=np.dtypes.StringDType())
    arrays["StringDType(na)"] = np.array(["a", None], dtype=np.dtypes.StringDType(na_object=None))
    arrays["0d"] = np.array(3.5)
    arrays["fortran"] = np.asfortranarray(np.ones((2, 3)))
    arrays["big"] = np.arange(100_000, dtype=np.float64)  # joblib's out-of-band wrapper
    yield "arrays", arrays
    for key, value in arrays.items():
        yield f"array {key}", value
        yield f"dtype {key}", value.dtype
        yield f"dtype class {key}", type(value.dtype)
        if value.size:
            yield f"scalar {key}", value.flat[0]
    yield "scalar types", [np.float64, np.int32, np.bool_, np.str_, np.datetime64]
    yield "recarray", np.rec.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")])
    yield "record", np.rec.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")])[0]
    yield "matrix", np.asmatrix(np.eye(2))
    yield "masked", np.ma.masked_array([1.0, 2.0, 3.0], mask=[0, 1, 0], fill_value=-1)
    yield "masked structured", np.ma.masked_array(np.zeros(2, dtype=nested))
    yield "masked constant", np.ma.masked
    yield "masked object", np.ma.masked_array(np.array(["a", "b"], dtype=object), mask=[1, 0])
    yield "ufuncs", [np.log1p, np.exp, np.add, np.sqrt]
    yield "RandomState", np.random.RandomState(0)
    yield "RandomState(legacy global)", np.random.mtrand._rand
    yield "SeedSequence", np.random.SeedSequence(0)
    for bit in (
        np.random.PCG64,
        np.random.PCG64DXSM,
        np.random.MT19937,
        np.random.Philox,
        np.random.SFC64,
    ):
        yield bit.__name__, bit(0)
        yield f"Generator({bit.__name__})", np.random.Generator(bit(0))
    yield "default_rng", np.random.default_rng(0)
    yield "finfo", np.finfo(np.float32)
    yield "iinfo", np.iinfo(np.int16)


def scipy_samples() -> Iterator[Sample]:
    dense = np.array([[1.0, 0, 2], [0, 0, 3], [4, 5, 0]])
    for fmt in ("csr", "csc", "coo", "bsr", "dia", "lil", "dok"):
        for kind in ("matrix", "array"):
            yield f"{fmt}_{kind}", getattr(sp, f"{fmt}_{kind}")(dense)
    yield "sparse int", sp.csr_array(dense.astype(np.int32))
    yield "sparse bool", sp.csr_matrix(dense > 0)
    yield "random", sp.random(4, 4, density=0.5, format="csr", random_state=0)
    yield "1d coo_array", sp.coo_array(np.array([0.0, 1.0, 0.0]))


def pandas_samples() -> Iterator[Sample]:
    idx_dt = pd.date_range("2020-01-01", periods=4, freq="D")
    samples: dict[str, object] = {
        "frame": pd.DataFrame(
            {
                "i": [1, 2, 3, 4],
                "f": [1.0, np.nan, 3.0, 4.0],
                "s": ["a", "b", None, "d"],
                "o": pd.Series([1, "x", None, 2.5], dtype=object),
                "b": [True, False, True, False],
                "c": pd.Categorical(["x", "y", "x", "z"]),
                "co": pd.Categorical(
                    ["lo", "hi", "lo", "hi"], categories=["lo", "hi"], ordered=True
                ),
                "d": idx_dt,
                "dtz": idx_dt.tz_localize("UTC"),
                "dtz2": idx_dt.tz_localize("Europe/Paris"),
                "td": pd.to_timedelta([1, 2, 3, 4], unit="h"),
                "p": pd.period_range("2020-01", periods=4, freq="M"),
                "iv": pd.interval_range(0, 4),
                "I64": pd.array([1, None, 3, 4], dtype="Int64"),
                "I8": pd.array([1, None, 3, 4], dtype="Int8"),
                "U32": pd.array([1, None, 3, 4], dtype="UInt32"),
                "F64": pd.array([1.5, None, 3, 4], dtype="Float64"),
                "F32": pd.array([1.5, None, 3, 4], dtype="Float32"),
                "B": pd.array([True, None, False, True], dtype="boolean"),
                "S": pd.array(["a", None, "c", "d"], dtype="string"),
                "Spy": pd.array(["a", None, "c", "d"], dtype=pd.StringDtype("python")),
                "Spa": pd.array(["a", None, "c", "d"], dtype=pd.StringDtype("pyarrow")),
                "sparse": pd.arrays.SparseArray([0, 0, 1, 0]),
                "sparse_f": pd.arrays.SparseArray([0.0, np.nan, 1.0, 0.0]),
                "arrow_i": pd.array([1, None, 3, 4], dtype=pd.ArrowDtype(pa.int64())),
                "arrow_s": pd.array(["a", None, "c", "d"], dtype=pd.ArrowDtype(pa.string())),
                "arrow_ts": pd.array(
                    [datetime(2020, 1, 1)] * 4, dtype=pd.ArrowDtype(pa.timestamp("ms"))
                ),
                "arrow_list": pd.array(
                    [[1], [2, 3], None, []], dtype=pd.ArrowDtype(pa.list_(pa.int64()))
                ),
                "arrow_dict": pd.array(
                    ["a", "b", "a", "b"],
                    dtype=pd.ArrowDtype(pa.dictionary(pa.int8(), pa.string())),
                ),
                "arrow_struct": pd.array(
                    [{"x": 1}] * 4, dtype=pd.ArrowDtype(pa.struct([("x", pa.int32())]))
                ),
            }
        ),
        "series": pd.Series([1.0, 2.0], index=["a", "b"], name="s"),
        "series str": pd.Series(["a", "b"]),
        "categorical": pd.Categorical(["a", "b", "a"]),
        "range index": pd.RangeIndex(5),
        "int index": pd.Index([1, 2, 3]),
        "uint index": pd.Index(np.array([1, 2], dtype=np.uint64)),
        "float index": pd.Index([1.5, 2.5]),
        "object index": pd.Index(["a", 1], dtype=object),
        "str index": pd.Index(["a", "b"]),
        "bool index": pd.Index([True, False]),
        "categorical index": pd.CategoricalIndex(["a", "b", "a"]),
        "datetime index": idx_dt,
        "datetime index tz": pd.date_range("2020", periods=3, freq="h", tz="America/New_York"),
        "datetime index freqs": [
            pd.date_range("2020", periods=3, freq=f)
            for f in ("min", "s", "ms", "W", "ME", "MS", "QE", "YE", "B", "BME", "SME", "h")
        ],
        "timedelta index": pd.timedelta_range("1 day", periods=3),
        "period index": pd.period_range("2020", periods=3, freq="Q"),
        "interval index": pd.IntervalIndex.from_breaks([0, 1, 2]),
        "multi index": pd.MultiIndex.from_product([["a", "b"], [1, 2]], names=["l", "n"]),
        "multi columns": pd.DataFrame(
            np.ones((2, 4)), columns=pd.MultiIndex.from_product([["a", "b"], [1, 2]])
        ),
        "nullable index": pd.Index(pd.array([1, None], dtype="Int64")),
        "timestamp": pd.Timestamp("2020-01-01 12:00"),
        "timestamp tz": pd.Timestamp("2020-01-01", tz="UTC"),
        "timestamp zoneinfo": pd.Timestamp("2020-01-01", tz="Asia/Tokyo"),
        "timedelta": pd.Timedelta("1 day"),
        "period": pd.Period("2020-01", freq="M"),
        "interval": pd.Interval(0, 1, closed="left"),
        "NaT": pd.NaT,
        "NA": pd.NA,
        "offsets": [
            pd.offsets.Day(2),
            pd.offsets.MonthEnd(),
            pd.offsets.BusinessDay(),
            pd.DateOffset(months=1),
            pd.offsets.Week(weekday=0),
            pd.offsets.Hour(3),
        ],
        "dtypes": [
            pd.CategoricalDtype(["a"]),
            pd.Int64Dtype(),
            pd.BooleanDtype(),
            pd.StringDtype(),
            pd.SparseDtype(float),
            pd.DatetimeTZDtype(tz="UTC"),
            pd.PeriodDtype("D"),
            pd.IntervalDtype("int64"),
            pd.Float64Dtype(),
        ],
        "sparse frame": pd.DataFrame({"a": pd.arrays.SparseArray([0, 1, 0])}),
        "frame with flags": pd.DataFrame({"a": [1]}).set_flags(allows_duplicate_labels=False),
        "std datetimes": [
            datetime(2020, 1, 1, tzinfo=UTC),
            date(2020, 1, 1),
            timedelta(1),
        ],
    }
    frame = samples["frame"]
    assert isinstance(frame, pd.DataFrame)
    with_attrs = frame.copy()
    with_attrs.attrs = {"source": "collect_allowlist"}
    samples["frame with attrs"] = with_attrs
    for dtype in [
        "Int8",
        "Int16",
        "Int32",
        "Int64",
        "UInt8",
        "UInt16",
        "UInt32",
        "UInt64",
        "Float32",
        "Float64",
    ]:
        samples[f"nullable {dtype}"] = pd.array([1, None], dtype=dtype)
    for name in dir(pd.offsets):
        offset = getattr(pd.offsets, name)
        if (
            inspect.isclass(offset)
            and issubclass(offset, pd.offsets.BaseOffset)
            and name != "BaseOffset"
        ):
            with contextlib.suppress(Exception):
                samples[f"offset {name}"] = offset()
    yield from samples.items()
    for name in frame.columns:
        yield f"column {name}", frame[name]
        yield f"array {name}", frame[name].array


def pyarrow_samples() -> Iterator[Sample]:
    table = pa.table({"a": [1, 2], "b": ["x", None], "c": [[1.0], []]})
    yield "table", table
    yield "record batch", table.to_batches()[0]
    yield "array", pa.array([1, 2, None])
    yield "chunked", pa.chunked_array([[1, 2], [3]])
    yield "schema", table.schema
    types = [
        pa.int64(),
        pa.float16(),
        pa.bool_(),
        pa.null(),
        pa.date32(),
        pa.large_string(),
        pa.binary(4),
        pa.timestamp("us", tz="UTC"),
        pa.time32("s"),
        pa.time64("us"),
        pa.duration("ms"),
        pa.decimal128(10, 2),
        pa.decimal256(40, 2),
        pa.dictionary(pa.int32(), pa.string()),
        pa.list_(pa.int8()),
        pa.list_(pa.int8(), 2),
        pa.large_list(pa.int8()),
        pa.map_(pa.string(), pa.int32()),
        pa.struct([("x", pa.int32())]),
    ]
    yield "types", types
    for t in types:
        yield f"type {t}", t


# -- walking ------------------------------------------------------------------------------

FAILED: list[str] = []
PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)


def dumps(label: str, obj: object, tmp: Path, kind: str) -> Iterator[Path]:
    """Files that hold ``obj``: plain pickles of every protocol, joblib with and
    without compression; for torch, torch.save in both formats (a plain pickle of a
    tensor goes through torch.storage._load_from_bytes, a torch.load: denied, not collected)."""
    path = tmp / "sample"
    if kind == "torchscript":
        torch.jit.save(obj, path)
        yield path
        return
    if kind == "torch":
        for zipfile in (True, False):
            try:
                torch.save(obj, path, _use_new_zipfile_serialization=zipfile)
            except Exception as exc:  # noqa: BLE001 - some objects refuse a format
                FAILED.append(f"torch.save {label} (zip={zipfile}): {exc!s:.120}")
                continue
            yield path
        return
    for protocol in PROTOCOLS:
        try:
            path.write_bytes(pickle.dumps(obj, protocol=protocol))
        except Exception as exc:  # noqa: BLE001 - e.g. protocol 0 and Cython objects
            FAILED.append(f"pickle {label} (protocol {protocol}): {exc!s:.120}")
            continue
        yield path
    for compress in (0, 3):
        try:
            joblib.dump(obj, path, compress=compress)
        except Exception as exc:  # noqa: BLE001 - reported
            FAILED.append(f"joblib {label} (compress={compress}): {exc!s:.120}")
            continue
        yield path


def collect(
    samples: Iterator[Sample], kind: str, found: dict[tuple[str, str], str], tmp: Path
) -> int:
    count = 0
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        for label, obj in samples:
            count += 1
            for path in dumps(label, obj, tmp, kind):
                report = read_pickle_globals(path)
                if report.error:
                    FAILED.append(f"scan {kind} {label}: {report.error}")
                for ref in report.globals:
                    key = policy.normalize(ref.module, ref.name)
                    found.setdefault(key, f"{kind}: {label}")
    return count


def resolve(module: str, name: str) -> object:
    obj: object = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def kind_of(module: str, name: str) -> str:
    """ "class", "ufunc", "constant", "function" (needs review) or "missing"."""
    try:
        obj = resolve(module, name)
    except (ImportError, AttributeError):
        return "missing"
    if inspect.isclass(obj):
        return "class"
    if isinstance(obj, np.ufunc):
        return "ufunc"
    if not callable(obj):
        return "constant"
    return "function"


def source_modules(cls: type) -> Iterator[str]:
    """Modules that define ``cls`` when its ``__module__`` names a package that re-exports
    it: pandas 3 and numpy 2 set ``__module__`` to the public package ("pandas",
    "numpy.ma"), while older versions pickled the defining module ("pandas.core.frame")."""
    source = vars(cls).get("_module_source")  # pandas' and numpy's set_module keep it
    if isinstance(source, str):
        yield source
    top = cls.__module__.split(".", 1)[0]
    for attr in vars(cls).values():
        code = getattr(getattr(attr, "__func__", attr), "__code__", None)
        filename = getattr(code, "co_filename", "")
        if filename.endswith(".pyx"):  # Cython: a path relative to the source tree
            start = filename.rfind(f"{top}/")
            if start >= 0:
                yield filename[start:-4].replace("/", ".")


def aliases(module: str, name: str, obj: object) -> Iterator[str]:
    """Other paths of the same object that older framework versions pickled."""
    if inspect.isclass(obj) and "." not in name:
        for source in dict.fromkeys(source_modules(obj)):
            if source == module:
                continue
            try:
                same = getattr(importlib.import_module(source), name, None) is obj
            except ImportError:
                continue
            if same:
                yield source
    if module.startswith("numpy._core."):  # numpy < 2 named the package numpy.core
        yield "numpy.core." + module[len("numpy._core.") :]


def versions() -> str:
    mods = (np, scipy, pd, pa, joblib, sklearn, xgboost, lightgbm, torch)
    return ", ".join(f"{m.__name__} {m.__version__}" for m in mods)


def render(groups: dict[str, set[str]]) -> str:
    py = ".".join(map(str, sys.version_info[:3]))
    lines = [
        '"""Exact globals that real model pickles import, per allow-list group (generated).',
        "",
        *textwrap.wrap(
            f"Generated by scripts/collect_allowlist.py from pickles it built with Python {py}, "
            f"{versions()}.",
            width=88,
        ),
        "Regenerate after a framework upgrade with",
        "",
        "    .venv/bin/python scripts/collect_allowlist.py --write",
        "",
        "and review the diff: every function it adds must be listed in",
        "mdreg.scan.policy.RECONSTRUCTORS or VALUE_FUNCTIONS (tests/scan/test_allowlist_names.py).",
        "Do not edit by hand; old-version aliases live in mdreg/scan/policy.py.",
        '"""',
        "",
    ]
    for group in GROUPS:
        lines.append(f"{group.upper()}: frozenset[str] = frozenset(")
        lines.append("    {")
        lines.extend(f'        "{entry}",' for entry in sorted(groups[group]))
        lines.append("    }")
        lines.append(")")
    lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help=f"write {OUT.relative_to(ROOT)}")
    parser.add_argument("--only", nargs="*", help="collect only these sample kinds (debugging)")
    args = parser.parse_args()

    torch.manual_seed(0)
    kinds: dict[str, Callable[[], Iterator[Sample]]] = {
        "sklearn": sklearn_samples,
        "xgboost": xgboost_samples,
        "lightgbm": lightgbm_samples,
        "torch": torch_samples,
        "torchscript": torchscript_samples,
        "numpy": numpy_samples,
        "scipy": scipy_samples,
        "pandas": pandas_samples,
        "pyarrow": pyarrow_samples,
    }
    found: dict[tuple[str, str], str] = {}
    with tempfile.TemporaryDirectory(prefix="mdreg-allowlist-") as tmp:
        for kind, samples in kinds.items():
            if args.only and kind not in args.only:
                continue
            count = collect(samples(), kind, found, Path(tmp))
            print(f"# {kind}: {count} objects", file=sys.stderr)
    for source, classes in (
        ("sklearn classes", sklearn_classes),
        ("xgboost classes", xgboost_classes),
        ("lightgbm classes", lightgbm_classes),
        ("torch classes", torch_classes),
    ):
        for key in classes():
            found.setdefault(key, source)
    for cls in vars(np.dtypes).values():
        if inspect.isclass(cls) and issubclass(cls, np.dtype):
            found.setdefault(("numpy.dtypes", cls.__name__), "numpy.dtypes classes")

    groups: dict[str, set[str]] = {g: set() for g in GROUPS}
    reviewed = getattr(policy, "RECONSTRUCTORS", frozenset()) | getattr(
        policy, "VALUE_FUNCTIONS", frozenset()
    )
    generic = policy.ALLOW["generic"]
    report: dict[str, list[str]] = {"review": [], "denied": [], "generic": [], "missing": []}
    for (module, name), source in sorted(found.items()):
        entry = f"{module}:{name}"
        group = group_of(module)
        verdict, reason = policy.classify(module, name, frozenset())
        if verdict is policy.Verdict.DANGEROUS or not reason.startswith("not on the allow"):
            report["denied"].append(f"{entry}  ({reason}; from {source})")
            continue
        if group == "generic":
            if entry not in generic:
                report["generic"].append(f"{entry}  (from {source})")
            continue
        kind = kind_of(module, name)
        if kind == "missing":
            report["missing"].append(f"{entry}  (from {source})")
            continue
        if kind == "function" and entry not in reviewed:
            report["review"].append(f"{entry}  (from {source})")
        groups[group].add(entry)
        for alias in aliases(module, name, resolve(module, name)):
            alias_entry = f"{alias}:{name}"
            if alias_entry not in groups[group]:
                groups[group].add(alias_entry)
                found.setdefault((alias, name), f"alias of {entry}")

    for group in GROUPS:
        print(f"[{group}] {len(groups[group])} names")
        if not args.write:
            for entry in sorted(groups[group]):
                print(f"  {entry}  <- {found[tuple(entry.split(':', 1))]}")
    titles = {
        "review": "functions to review (add to policy.RECONSTRUCTORS or VALUE_FUNCTIONS)",
        "denied": "denied or untrusted by the policy (not written)",
        "generic": "standard-library names outside the generic list (not written)",
        "missing": "names that do not resolve here (not written)",
    }
    for key, title in titles.items():
        if report[key]:
            print(f"\n{title}:")
            print("\n".join(f"  {line}" for line in report[key]))
    if FAILED:
        print(f"\n{len(FAILED)} samples or formats skipped:")
        print("\n".join(f"  {line}" for line in FAILED))
    if args.write:
        OUT.write_text(render(groups), encoding="utf-8")
        print(f"\nwrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
