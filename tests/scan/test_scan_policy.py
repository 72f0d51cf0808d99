"""The safety judgement: real model files are SAFE under their framework's
allow-list, code-carrying files are never SAFE, the deny list always wins."""

from __future__ import annotations

import json
import pickle

import pytest

from mdreg.scan import ALLOW, DENY, GlobalRef, Verdict, judge, scan_path
from mdreg.scan.policy import classify, expand_frameworks


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
@pytest.mark.parametrize("name", ["random_forest", "logistic", "pipeline"])
def test_sklearn_pickles_are_safe(tmp_path, sklearn_models, name, protocol):
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(sklearn_models[name], protocol=protocol))
    report = scan_path(path, ["sklearn"])
    assert report.verdict is Verdict.SAFE, report.findings
    assert report.reports[0].protocol == (None if protocol == 0 else protocol)
    assert any(g.module.startswith("sklearn.") for g in report.reports[0].globals)


def test_sklearn_model_is_unknown_without_its_allow_list(tmp_path, sklearn_models):
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(sklearn_models["logistic"]))
    report = scan_path(path, ["torch"])
    assert report.verdict is Verdict.UNKNOWN
    assert all(f.severity is Verdict.UNKNOWN for f in report.findings)
    assert "sklearn.linear_model._logistic.LogisticRegression" in {
        f.ref.dotted for f in report.findings
    }


def test_boosters_are_safe_under_their_lists(tmp_path, xy):
    import joblib
    import lightgbm
    import xgboost

    X, y = xy
    xgb = xgboost.XGBClassifier(n_estimators=2, max_depth=2).fit(X, y)
    lgb = lightgbm.LGBMClassifier(n_estimators=2, verbose=-1).fit(X, y)
    for model, framework in ((xgb, "xgboost"), (xgb.get_booster(), "xgboost"), (lgb, "lightgbm")):
        path = tmp_path / f"{framework}.joblib"
        joblib.dump(model, path)
        assert scan_path(path, [framework]).verdict is Verdict.SAFE
        assert scan_path(path, ["torch"]).verdict is Verdict.UNKNOWN


def test_pandas_numpy_scipy_data_is_safe(tmp_path):
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp

    data = {
        "frame": pd.DataFrame({"a": [1, 2], "b": ["x", "y"], "c": pd.Categorical(["u", "v"])}),
        "dates": pd.to_datetime(["2020-01-01", "2021-06-01"]),
        "sparse": sp.csr_matrix(np.eye(3)),
        "rng": np.random.default_rng(0),
        "ufunc": np.log1p,
        "scalars": (np.float32(1), np.int64(2), np.datetime64("2020-01-01")),
    }
    path = tmp_path / "data.pkl"
    path.write_bytes(pickle.dumps(data, protocol=5))
    assert scan_path(path, ["numpy"]).verdict is Verdict.SAFE


@pytest.mark.security
def test_cloudpickle_code_is_never_safe(tmp_path):
    import cloudpickle

    class Scaler:
        def __init__(self, k):
            self.k = k

        def __call__(self, x):
            return x * self.k

    for obj in (lambda x: x + 1, Scaler(3), Scaler):
        path = tmp_path / "fn.pkl"
        path.write_bytes(cloudpickle.dumps(obj))
        report = scan_path(path)  # every allow-list
        assert report.verdict is Verdict.UNKNOWN
        assert any("cloudpickle" in f.reason for f in report.findings)


@pytest.mark.parametrize(
    ("module", "name", "verdict"),
    [
        ("sklearn.tree._tree", "Tree", Verdict.SAFE),
        ("copy_reg", "_reconstructor", Verdict.SAFE),  # Python 2 names, mapped
        ("__builtin__", "object", Verdict.SAFE),
        ("__builtin__", "eval", Verdict.DANGEROUS),
        ("builtins", "getattr", Verdict.DANGEROUS),
        ("builtins", "type", Verdict.UNKNOWN),
        ("os", "path", Verdict.DANGEROUS),
        ("nt", "system", Verdict.DANGEROUS),
        ("subprocess", "run", Verdict.DANGEROUS),
        ("commands", "getoutput", Verdict.DANGEROUS),
        ("socket", "create_connection", Verdict.DANGEROUS),
        ("shutil", "rmtree", Verdict.DANGEROUS),
        ("importlib", "import_module", Verdict.DANGEROUS),
        ("runpy", "run_path", Verdict.DANGEROUS),
        ("pickle", "loads", Verdict.DANGEROUS),
        ("_pickle", "loads", Verdict.DANGEROUS),
        ("marshal", "loads", Verdict.DANGEROUS),
        ("types", "CodeType", Verdict.DANGEROUS),
        ("types", "FunctionType", Verdict.DANGEROUS),
        ("operator", "attrgetter", Verdict.DANGEROUS),
        ("operator", "methodcaller", Verdict.DANGEROUS),
        ("operator", "itemgetter", Verdict.UNKNOWN),
        ("functools", "partial", Verdict.SAFE),  # binds only callables named (and judged) too
        ("webbrowser", "open", Verdict.DANGEROUS),
        ("numpy", "load", Verdict.DANGEROUS),
        ("numpy.core", "_ufunc_reconstruct", Verdict.DANGEROUS),  # getattr(import(m), n)
        ("numpy.testing._private.utils", "runstring", Verdict.DANGEROUS),
        ("numpy", "log1p", Verdict.SAFE),
        ("numpy._core.multiarray", "_reconstruct", Verdict.SAFE),
        ("numpy.random._pickle", "__randomstate_ctor", Verdict.SAFE),
        ("torch", "load", Verdict.DANGEROUS),
        ("torch.nn.modules.linear", "Linear", Verdict.SAFE),
        ("torch.hub", "load", Verdict.DANGEROUS),
        ("sklearn.utils._testing", "assert_run_python_script_without_output", Verdict.DANGEROUS),
        ("sklearn.datasets._base", "load_iris", Verdict.UNKNOWN),
        ("sklearn.utils", "os", Verdict.DANGEROUS),  # a re-exported module
        ("sklearn.base", "BaseEstimator.__reduce__", Verdict.DANGEROUS),
        ("sklearn.base", "BaseEstimator.clone", Verdict.UNKNOWN),  # attribute walk
        ("pandas", "DataFrame", Verdict.SAFE),
        ("pandas", "read_pickle", Verdict.DANGEROUS),
        ("pandas", "eval", Verdict.DANGEROUS),
        ("cloudpickle.cloudpickle", "_make_function", Verdict.UNKNOWN),
        ("cloudpickle.cloudpickle", "subimport", Verdict.UNKNOWN),
        ("__main__", "MyModel", Verdict.UNKNOWN),
        ("?", "?", Verdict.DANGEROUS),
    ],
)
def test_classify(module, name, verdict):
    got, reason = classify(module, name, expand_frameworks(None))
    assert got is verdict, reason
    assert reason


def test_judge_keeps_first_occurrence_and_worst_verdict():
    refs = [
        GlobalRef("sklearn.linear_model._logistic", "LogisticRegression", 2),
        GlobalRef("operator", "itemgetter", 10),
        GlobalRef("operator", "itemgetter", 50),
        GlobalRef("posix", "system", 80),
    ]
    verdict, findings = judge(refs, ["sklearn"])
    assert verdict is Verdict.DANGEROUS
    assert [(f.ref.dotted, f.ref.offset, f.severity) for f in findings] == [
        ("operator.itemgetter", 10, Verdict.UNKNOWN),
        ("posix.system", 80, Verdict.DANGEROUS),
    ]
    assert judge([], ["sklearn"]) == (Verdict.SAFE, [])


def test_deny_wins_over_any_allow():
    assert all(classify("os", "system", frozenset(ALLOW))[0] is Verdict.DANGEROUS for _ in ALLOW)
    assert "os:*" in DENY
    assert "builtins:eval" in DENY


def test_frameworks_imply_their_data_lists():
    assert expand_frameworks(["sklearn"]) == {"sklearn", "numpy", "generic"}
    assert expand_frameworks(["keras"]) == {"keras", "generic"}  # no list: adds nothing
    assert expand_frameworks(None) == set(ALLOW)


def test_report_to_dict_is_json(tmp_path, runs_shell, sklearn_models):
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps([sklearn_models["logistic"], runs_shell, runs_shell]))
    doc = json.loads(json.dumps(scan_path(path, ["sklearn"]).to_dict()))
    assert doc["verdict"] == "dangerous"
    (finding,) = doc["findings"]
    assert finding["global"] == "posix.system"
    assert finding["severity"] == "dangerous"
    (file_doc,) = doc["reports"]
    assert file_doc["container"] == "pickle"
    counts = {g["global"]: g["count"] for g in file_doc["globals"]}
    assert counts["posix.system"] == 1  # memoized: imported once
