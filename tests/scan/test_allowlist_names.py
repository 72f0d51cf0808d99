"""The allow-lists name classes and reviewed reconstructors only, never a native-call
primitive (issue 14: ``lightgbm.basic.callback`` is a ctypes function type, and the old
``lightgbm.*:*`` wildcard let a pickle call it), and real model pickles still pass."""

from __future__ import annotations

import ctypes
import importlib
import inspect
import pickle
import sys
import warnings

import pytest

from mdreg.scan import ALLOW, Verdict, judge, read_pickle_globals, scan_path
from mdreg.scan.policy import RECONSTRUCTORS, VALUE_FUNCTIONS, classify, expand_frameworks

CTYPES = (
    ctypes._CFuncPtr,
    ctypes._SimpleCData,
    ctypes.Structure,
    ctypes.Union,
    ctypes.Array,
    ctypes._Pointer,
)

# pickletools-style: GLOBAL lightgbm.basic callback; callback(0) -> a function pointer to
# address 0; calling it with b"hi" would jump there. Never loaded here, only scanned.
LIGHTGBM_CALLBACK = b"clightgbm.basic\ncallback\n(K\x00tR(C\x02hitR."

_MISSING = object()
FRAMEWORK_PACKAGES = (
    "numpy",
    "scipy",
    "pandas",
    "pyarrow",
    "joblib",
    "sklearn",
    "xgboost",
    "lightgbm",
    "torch",
)


def _resolve(entry: str) -> object:
    """The object an allow-list entry names, or _MISSING when this environment lacks it
    (a framework that is not installed, or another version's path)."""
    module, _, name = entry.partition(":")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy.core.* shims warn on import
        try:
            obj: object = importlib.import_module(module)
        except ImportError:
            return _MISSING
        for part in name.split("."):
            obj = getattr(obj, part, _MISSING)
            if obj is _MISSING:
                return _MISSING
    return obj


def _reviewed_functions() -> dict[int, str]:
    reviewed = {}
    for entry in RECONSTRUCTORS | VALUE_FUNCTIONS:
        obj = _resolve(entry)
        if obj is not _MISSING:
            reviewed[id(obj)] = entry
    return reviewed


def _problem(entry: str, reviewed: dict[int, str]) -> str | None:
    obj = _resolve(entry)
    if obj is _MISSING:
        return None
    if inspect.isclass(obj):
        if issubclass(obj, CTYPES):
            return f"{entry} is a ctypes type ({obj!r}): calling it reaches native code"
        return None
    if inspect.ismodule(obj):
        return f"{entry} is a module: a pickle would reach its attributes"
    if isinstance(obj, (*CTYPES, ctypes.CDLL)):
        return f"{entry} is a ctypes object ({obj!r}): a handle on native code"
    if id(obj) in reviewed:  # an alias path of a reviewed function counts as reviewed
        return None
    if type(obj).__name__ == "ufunc" and type(obj).__module__ == "numpy":
        return None
    if not callable(obj):  # a constant (torch.float32, pandas.NA): a pickle cannot call it
        return None
    return (
        f"{entry} resolves to {type(obj).__name__} {obj!r}: not a class; review it and list "
        "it in mdreg.scan.policy.RECONSTRUCTORS or VALUE_FUNCTIONS, or drop it"
    )


def test_allow_lists_have_no_wildcards():
    for group, entries in ALLOW.items():
        for entry in entries:
            module, sep, name = entry.partition(":")
            assert sep and module and name, f"{group}: malformed entry {entry!r}"
            assert not any(c in entry for c in "*?["), f"{group}: wildcard in {entry!r}"


@pytest.mark.parametrize("group", sorted(ALLOW))
def test_allow_listed_names_are_classes_or_reviewed_functions(group):
    reviewed = _reviewed_functions()
    problems = [p for p in map(lambda e: _problem(e, reviewed), sorted(ALLOW[group])) if p]
    assert not problems, "\n".join(problems)


def test_reviewed_functions_are_allow_listed_functions():
    allowed = set().union(*ALLOW.values())
    for entry in RECONSTRUCTORS | VALUE_FUNCTIONS:
        assert entry in allowed, f"{entry} is reviewed but on no allow-list"
        obj = _resolve(entry)
        assert obj is _MISSING or (callable(obj) and not inspect.isclass(obj)), entry


def _native(value: object) -> bool:
    if inspect.isclass(value):
        return issubclass(value, CTYPES)
    return isinstance(value, (ctypes._CFuncPtr, ctypes.CDLL))


@pytest.mark.filterwarnings("ignore")  # deprecated attributes warn when read
def test_ctypes_objects_of_loaded_frameworks_are_never_safe():
    """Every ctypes type, function pointer or library handle that the installed
    frameworks' modules hold is outside every allow-list."""
    for name in ("numpy", "scipy.sparse", "pandas", "sklearn", "xgboost", "lightgbm", "torch"):
        try:
            importlib.import_module(name)
        except ImportError:
            continue
    everything = expand_frameworks(None)
    found = []
    for modname, module in list(sys.modules.items()):
        if modname.split(".", 1)[0] not in FRAMEWORK_PACKAGES:
            continue
        for attr, value in list(vars(module).items()):
            if _native(value):
                found.append(f"{modname}.{attr}")
                verdict, reason = classify(modname, attr, everything)
                assert verdict is not Verdict.SAFE, f"{modname}.{attr}: {reason}"
    if "lightgbm" in sys.modules:
        assert "lightgbm.basic.callback" in found


def test_lightgbm_callback_payload_is_not_safe(tmp_path):
    pytest.importorskip("lightgbm")
    path = tmp_path / "model.pkl"
    path.write_bytes(LIGHTGBM_CALLBACK)
    report = read_pickle_globals(path)
    assert [(g.module, g.name) for g in report.globals] == [("lightgbm.basic", "callback")]
    verdict, findings = judge(report.globals, ["lightgbm"])
    assert verdict is not Verdict.SAFE
    assert [f.ref.dotted for f in findings] == ["lightgbm.basic.callback"]
    assert scan_path(path, ["lightgbm"]).verdict is not Verdict.SAFE
    assert scan_path(path).verdict is not Verdict.SAFE  # every allow-list


# -- real models still pass ------------------------------------------------------------------


def _assert_safe(path, frameworks):
    report = scan_path(path, frameworks)
    assert report.verdict is Verdict.SAFE, [
        (f.ref and f.ref.dotted, f.reason) for f in report.findings
    ]


@pytest.fixture(scope="module")
def iris():
    from sklearn.datasets import load_iris

    return load_iris(return_X_y=True, as_frame=True)


def _sklearn_models(iris):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    from sklearn.model_selection import GridSearchCV
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, SplineTransformer, StandardScaler

    X, y = iris
    frame = X.assign(kind=(y % 2).map({0: "even", 1: "odd"}).astype("category"))
    ct = ColumnTransformer(
        [
            ("num", StandardScaler(), list(X.columns)),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["kind"]),
        ]
    )
    return {
        "forest": RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y),
        "hgb": HistGradientBoostingClassifier(max_iter=3).fit(X, y),
        "hgb_categorical": HistGradientBoostingClassifier(
            max_iter=3, categorical_features=["kind"]
        ).fit(frame, y),
        "column_transformer": make_pipeline(ct, LogisticRegression(max_iter=300)).fit(frame, y),
        "knn": KNeighborsClassifier(algorithm="kd_tree").fit(X, y),
        "sgd": SGDClassifier(loss="log_loss").fit(X, y),
        "mlp": MLPClassifier(hidden_layer_sizes=(3,), max_iter=5).fit(X, y),
        "spline": make_pipeline(SplineTransformer(), LogisticRegression()).fit(X, y),
        "search": GridSearchCV(LogisticRegression(), {"C": [1.0]}, scoring="accuracy", cv=2).fit(
            X, y
        ),
    }


@pytest.mark.filterwarnings("ignore")
def test_real_sklearn_models_are_safe(tmp_path, iris):
    import joblib

    for name, model in _sklearn_models(iris).items():
        for protocol in (2, 4, 5):
            path = tmp_path / f"{name}-{protocol}.pkl"
            path.write_bytes(pickle.dumps(model, protocol=protocol))
            _assert_safe(path, ["sklearn"])
        path = tmp_path / f"{name}.joblib"
        joblib.dump(model, path, compress=3)
        _assert_safe(path, ["sklearn"])


def test_real_boosters_are_safe(tmp_path, iris):
    import joblib

    lightgbm = pytest.importorskip("lightgbm")
    xgboost = pytest.importorskip("xgboost")
    X, y = iris
    lgb = lightgbm.LGBMClassifier(n_estimators=3, verbose=-1).fit(X, y)
    xgb = xgboost.XGBClassifier(n_estimators=3, max_depth=2).fit(X, y)
    models = {
        "lightgbm": [
            lgb,
            lgb.booster_,
            lightgbm.LGBMRegressor(n_estimators=2, verbose=-1).fit(X, y),
        ],
        "xgboost": [xgb, xgb.get_booster(), xgboost.XGBRegressor(n_estimators=2).fit(X, y)],
    }
    for framework, objs in models.items():
        for i, obj in enumerate(objs):
            path = tmp_path / f"{framework}-{i}.pkl"
            path.write_bytes(pickle.dumps(obj, protocol=4))
            _assert_safe(path, [framework])
            joblib.dump(obj, path.with_suffix(".joblib"))
            _assert_safe(path.with_suffix(".joblib"), [framework])


def test_real_torch_files_are_safe(tmp_path):
    torch = pytest.importorskip("torch")
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv1d(1, 2, 3),
        nn.BatchNorm1d(2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(8, 3),
        nn.Dropout(0.1),
    )
    layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
    opt = torch.optim.Adam(model.parameters())
    model(torch.ones(2, 1, 6)).sum().backward()
    opt.step()
    objects = {
        "state_dict": model.state_dict(),
        "module": model,
        "transformer": layer,
        "lstm": nn.LSTM(4, 4, batch_first=True),
        "embedding": nn.Embedding(10, 4),
        "checkpoint": {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 1},
        "half": nn.Linear(2, 2).half().state_dict(),
    }
    for name, obj in objects.items():
        path = tmp_path / f"{name}.pt"
        torch.save(obj, path)
        _assert_safe(path, ["torch"])


def test_real_data_is_safe(tmp_path):
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp

    data = {
        "frame": pd.DataFrame(
            {
                "i": pd.array([1, None], dtype="Int64"),
                "f": [1.5, np.nan],
                "s": ["a", None],
                "c": pd.Categorical(["x", "y"]),
                "d": pd.to_datetime(["2020-01-01", "2021-01-01"]).tz_localize("UTC"),
                "p": pd.period_range("2020-01", periods=2, freq="M"),
            }
        ),
        "index": pd.date_range("2020", periods=3, freq="D"),
        "csr": sp.csr_matrix(np.eye(3)),
        "csc_array": sp.csc_array(np.eye(3)),
        "masked": np.ma.masked_array([1.0, 2.0], mask=[0, 1]),
        "structured": np.zeros(2, dtype=[("a", "<i4"), ("b", "<M8[ns]")]),
        "rng": np.random.default_rng(0),
        "legacy": np.random.RandomState(0),
    }
    for protocol in (2, 5):
        path = tmp_path / f"data-{protocol}.pkl"
        path.write_bytes(pickle.dumps(data, protocol=protocol))
        _assert_safe(path, ["numpy"])
