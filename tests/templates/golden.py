"""Golden score.py files: each framework's template rendered from a fixed context.

The contexts are what ``mdreg.flows.prepare._write_score_py`` hands the template (the
plugin's ``template_context`` plus the build's own keys), written out once from real
models and kept fixed here, mdreg's version string included, so a golden file changes
only when a template does. ``tests/templates/test_golden.py`` compares each rendering
with its file in ``tests/golden/score/``. After changing a template:

    make golden        # python -m tests.templates.golden --write

and review the diff (``git diff tests/golden/score``) as part of the change.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path
from typing import Any

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "golden" / "score"
#: Fixed, so that a release does not change every golden file.
VERSION = "0.0.0+golden"

_SPARK_CONF = (
    "{'spark.master': 'local[1]',\n 'spark.app.name': 'mdreg',\n 'spark.ui.enabled': 'false',\n"
    " 'spark.ui.showConsoleProgress': 'false',\n 'spark.sql.shuffle.partitions': '1',\n"
    " 'spark.driver.host': '127.0.0.1',\n 'spark.driver.bindAddress': '127.0.0.1',\n"
    " 'spark.driver.extraJavaOptions': '-XX:TieredStopAtLevel=1 -XX:+UseSerialGC '\n"
    "                                  '-Ddev.ludovic.netlib.blas.allowNative=false'}"
)
_LOG4J2 = (
    "rootLogger.level = error\nlogger.repl.name = org.apache.spark.repl.Main\n"
    "logger.repl.level = error\nlogger.gateway.name = org.apache.spark.api.python.PythonGatewayServer\n"
    "logger.gateway.level = error\nrootLogger.appenderRef.stderr.ref = console\n"
    "appender.console.type = Console\nappender.console.name = console\n"
    "appender.console.target = SYSTEM_ERR\nappender.console.layout.type = PatternLayout\n"
    "appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n\n"
)


def _torch(algorithm: str, model_file_name: str, **context: Any) -> dict[str, Any]:
    defaults = {
        "model_code_module": None,
        "user_modules": [],
        "pickle_globals": [],
        "model_class": None,
        "input_dtype": None,
        "static_batch": None,
        "forward_inputs": [],
        "input_dtypes": {},
    }
    return {
        "display_name": "PyTorch",
        "algorithm": algorithm,
        "model_file_name": model_file_name,
        "unpickle": None,
        **defaults,
        **context,
    }


#: name -> (template, context without mdreg_version). One model per framework, plus the
#: PyTorch kinds whose score.py differ most.
CONTEXTS: dict[str, tuple[str, dict[str, Any]]] = {
    "sklearn": (
        "score_sklearn.py.jinja2",
        {
            "display_name": "scikit-learn",
            "algorithm": "RandomForestClassifier",
            "model_file_name": "model.joblib",
            "predict_call": "model.predict(features)",
            "loader": "joblib",
            "unpickle": {
                "loader": "joblib",
                "globals": [
                    ["joblib.numpy_pickle", "NumpyArrayWrapper"],
                    ["numpy", "dtype"],
                    ["numpy", "ndarray"],
                    ["numpy._core.multiarray", "_reconstruct"],
                    ["numpy._core.multiarray", "scalar"],
                    ["sklearn.ensemble._forest", "RandomForestClassifier"],
                    ["sklearn.tree._classes", "DecisionTreeClassifier"],
                    ["sklearn.tree._tree", "Tree"],
                ],
            },
        },
    ),
    "xgboost": (
        "score_xgboost.py.jinja2",
        {
            "display_name": "XGBoost",
            "algorithm": "XGBClassifier",
            "model_file_name": "model.json",
            "unpickle": None,
            "predict_call": "_predict(model, features)",
            "loader": "json",
            "estimator_class": "XGBClassifier",
        },
    ),
    "lightgbm": (
        "score_lightgbm.py.jinja2",
        {
            "display_name": "LightGBM",
            "algorithm": "LGBMClassifier",
            "model_file_name": "model.txt",
            "unpickle": None,
            "predict_call": "_predict(model, features)",
            "loader": "text",
            "classes_json": '["setosa", "versicolor", "virginica"]',
        },
    ),
    "pytorch_module": (
        "score_pytorch.py.jinja2",
        _torch(
            "Net",
            "model.pt",
            kind="module",
            model_code_module="net",
            user_modules=["net"],
            pickle_globals=[
                ["net", "Net", "net", "Net"],
                ["__builtin__", "set", "builtins", "set"],
                ["collections", "OrderedDict", "collections", "OrderedDict"],
                ["torch.nn.modules.linear", "Linear", "torch.nn.modules.linear", "Linear"],
                ["torch._utils", "_rebuild_parameter", "torch._utils", "_rebuild_parameter"],
                ["torch._utils", "_rebuild_tensor_v2", "torch._utils", "_rebuild_tensor_v2"],
                ["torch", "FloatStorage", "torch", "FloatStorage"],
            ],
        ),
    ),
    "pytorch_pt2": (
        "score_pytorch.py.jinja2",
        _torch(
            "CNN", "model.pt2", kind="export", input_dtype="float32", input_dtypes={"x": "float32"}
        ),
    ),
    "pytorch_state_dict": (
        "score_pytorch.py.jinja2",
        _torch(
            "TwoTower",
            "model.pt",
            kind="state_dict",
            model_code_module="net",
            user_modules=["net"],
            model_class=["net", "TwoTower"],
            forward_inputs=["x", "ids"],
        ),
    ),
    "keras": (
        "score_tensorflow.py.jinja2",
        {
            "display_name": "TensorFlow",
            "algorithm": "Sequential",
            "model_file_name": "model.keras",
            "unpickle": None,
            "predict_call": "run_model(model, features)",
            "model_kind": "keras",
            "signature_literal": "None",
            "model_inputs": "[('input_layer', [None, 4], 'float32')]",
            "inputs_by_name": False,
            "several_inputs": [],
            "safe_mode": True,
            "model_code_module": None,
        },
    ),
    "spark": (
        "score_spark.py.jinja2",
        {
            "display_name": "PySpark",
            "algorithm": "LogisticRegressionModel",
            "model_file_name": "model",
            "unpickle": None,
            "prediction_column": "'prediction'",
            "pipeline_inputs": "['colour', 'a', 'b']",
            "type_hints": "{'colour': 'string', 'a': 'double', 'b': 'double'}",
            "session_conf": _SPARK_CONF,
            "log4j2_properties": _LOG4J2,
        },
    ),
    "generic": (
        "score_generic.py.jinja2",
        {
            "display_name": "other",
            "algorithm": "ChurnModel",
            "model_file_name": "model.pkl",
            "predict_call": "model.predict(features)",
            "loader": "pickle",
            "unpickle": {
                "loader": "pickle",
                "globals": [
                    ["churn_model", "ChurnModel"],
                    ["numpy", "dtype"],
                    ["numpy", "ndarray"],
                    ["numpy._core.multiarray", "_reconstruct"],
                ],
            },
        },
    ),
    "other": (
        "score_other.py.jinja2",
        {
            "display_name": "other",
            "algorithm": "unknown",
            "model_file_name": "model.onnx",
            "unpickle": None,
            "predict_call": "model.predict(features)",
        },
    ),
}


def path_of(name: str) -> Path:
    return GOLDEN_DIR / f"{name}.py"


def render_golden(name: str) -> str:
    from mdreg.templates import render

    template, context = CONTEXTS[name]
    return render(template, mdreg_version=VERSION, **context)


def diff(name: str) -> str:
    """The unified diff from the golden file to today's rendering ("" when equal)."""
    path = path_of(name)
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    new = render_golden(name)
    rel = path.relative_to(GOLDEN_DIR.parents[2]).as_posix()
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            f"{rel} (golden)",
            f"{rel} (rendered now)",
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--write", action="store_true", help="rewrite the golden files (default: show what differs)"
    )
    args = parser.parse_args(argv)
    changed = [name for name in CONTEXTS if diff(name)]
    if args.write:
        GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
        for name in changed:
            path_of(name).write_text(render_golden(name), encoding="utf-8")
        stale = sorted(p.name for p in GOLDEN_DIR.glob("*.py") if p.stem not in CONTEXTS)
        for name in stale:
            (GOLDEN_DIR / name).unlink()
        print(
            f"{len(changed)} golden score.py file(s) rewritten, {len(stale)} removed: "
            "review them with `git diff tests/golden/score`"
        )
        return 0
    for name in changed:
        sys.stdout.write(diff(name))
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
