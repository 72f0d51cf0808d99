"""The OCI Data Science service's artifact checks, under ADS's keys, categories and order."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable

from mdreg.artifact import layout
from mdreg.artifact.runtime import MODEL_ARTIFACT_VERSION, lookup
from mdreg.checks.base import CheckList, Outcome, failed, passed, skipped
from mdreg.checks.context import ArtifactContext, Unavailable

SERVICE_CHECKS = CheckList()
check = SERVICE_CHECKS

_FILES = "Mandatory Files Check"
_SCORE = "score.py"
_RUNTIME = "runtime.yaml"
_CONDA = "conda_env"
_ENV = ("MODEL_DEPLOYMENT", "INFERENCE_CONDA_ENV")


@check(
    "score_py",
    _FILES,
    "Check that the file score.py exists and is in the top level directory of the artifact directory",
)
def _score_py(ctx: ArtifactContext) -> Outcome:
    if ctx.path(layout.SCORE_PY).is_file():
        return passed()
    return failed(
        "score.py is missing at the top level: add one with load_model() and predict(data)"
    )


@check(
    "runtime_yaml",
    _FILES,
    "Check that the file runtime.yaml exists and is in the top level directory of the artifact directory",
)
def _runtime_yaml(ctx: ArtifactContext) -> Outcome:
    if ctx.path(layout.RUNTIME_YAML).is_file():
        return passed()
    return failed("runtime.yaml is missing at the top level: run `mdreg prepare` or write one")


def _needs_score(fn: Callable[[ArtifactContext], Outcome]) -> Callable[[ArtifactContext], Outcome]:
    """Checks of score.py's content skip when there is no score.py to read."""

    def run(ctx: ArtifactContext) -> Outcome:
        try:
            ctx.score_source  # noqa: B018 - read for its Unavailable
        except Unavailable as exc:
            return skipped(str(exc))
        try:
            return fn(ctx)
        except Unavailable as exc:
            return failed(str(exc))

    run.__name__ = fn.__name__
    return run


@check("score_syntax", _SCORE, "Check for Python syntax errors")
@_needs_score
def _score_syntax(ctx: ArtifactContext) -> Outcome:
    ctx.score_tree  # noqa: B018 - parsing it is the check
    return passed()


@check("score_load_model", _SCORE, "Check that load_model() is defined")
@_needs_score
def _score_load_model(ctx: ArtifactContext) -> Outcome:
    if ctx.score_function("load_model"):
        return passed()
    return failed("score.py has no top-level function load_model(): define it to return the model")


def _predict(ctx: ArtifactContext) -> ast.FunctionDef | ast.AsyncFunctionDef:
    fn = ctx.score_function("predict")
    if fn is None:
        raise Unavailable("score.py has no top-level function predict(data, ...)")
    return fn


@check("score_predict", _SCORE, "Check that predict() is defined")
@_needs_score
def _score_predict(ctx: ArtifactContext) -> Outcome:
    _predict(ctx)
    return passed()


@check(
    "score_predict_data",
    _SCORE,
    'Check that the only required argument for predict() is named "data"',
)
@_needs_score
def _score_predict_data(ctx: ArtifactContext) -> Outcome:
    args = _predict(ctx).args
    positional = [*args.posonlyargs, *args.args]
    if positional and positional[0].arg == "data":
        return passed()
    got = positional[0].arg if positional else "nothing"
    return failed(f"predict()'s first argument is {got!r}: name it 'data'")


@check(
    "score_predict_arg",
    _SCORE,
    "Check that all other arguments in predict() are optional and have default values",
)
@_needs_score
def _score_predict_arg(ctx: ArtifactContext) -> Outcome:
    args = _predict(ctx).args
    positional = [*args.posonlyargs, *args.args]
    without = positional[1 : len(positional) - len(args.defaults)]
    without += [a for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is None]
    if not without:
        return passed()
    names = ", ".join(a.arg for a in without)
    return failed(f"predict() arguments without a default: {names}; give each a default value")


def _runtime_value(ctx: ArtifactContext, *keys: str) -> object:
    try:
        return lookup(ctx.runtime, keys)
    except KeyError:
        raise Unavailable(f"runtime.yaml has no {'.'.join(keys)}") from None


def _needs_runtime(
    fn: Callable[[ArtifactContext], Outcome],
) -> Callable[[ArtifactContext], Outcome]:
    def run(ctx: ArtifactContext) -> Outcome:
        if not ctx.path(layout.RUNTIME_YAML).is_file():
            return skipped("runtime.yaml is missing")
        try:
            return fn(ctx)
        except Unavailable as exc:
            return failed(str(exc))

    run.__name__ = fn.__name__
    return run


@check("runtime_version", _RUNTIME, "Check that field MODEL_ARTIFACT_VERSION is set to 3.0")
@_needs_runtime
def _runtime_version(ctx: ArtifactContext) -> Outcome:
    value = _runtime_value(ctx, "MODEL_ARTIFACT_VERSION")
    if str(value) == MODEL_ARTIFACT_VERSION:
        return passed()
    return failed(f"MODEL_ARTIFACT_VERSION is {value!r}: set it to '3.0'")


@check(
    "runtime_env_python",
    _CONDA,
    "Check that field MODEL_DEPLOYMENT.INFERENCE_CONDA_ENV.INFERENCE_PYTHON_VERSION is set to a value of 3.6 or higher",
)
@_needs_runtime
def _runtime_env_python(ctx: ArtifactContext) -> Outcome:
    value = _runtime_value(ctx, *_ENV, "INFERENCE_PYTHON_VERSION")
    m = re.fullmatch(r"(\d+)\.(\d+)(\.\d+)?", str(value).strip())
    if not m:
        return failed(
            f"INFERENCE_PYTHON_VERSION is {value!r}: write it as a quoted string like '3.11'"
        )
    if isinstance(value, float):  # YAML reads 3.10 as the number 3.1
        return failed(
            f"INFERENCE_PYTHON_VERSION is the number {value}: quote it ('3.10' is not 3.1)"
        )
    if (int(m.group(1)), int(m.group(2))) < (3, 6):
        return failed(f"INFERENCE_PYTHON_VERSION is {value}: the service needs 3.6 or higher")
    return passed()


@check(
    "runtime_env_path",
    _CONDA,
    "Check that field MODEL_DEPLOYMENT.INFERENCE_CONDA_ENV.INFERENCE_ENV_PATH is set",
)
@_needs_runtime
def _runtime_env_path(ctx: ArtifactContext) -> Outcome:
    value = _runtime_value(ctx, *_ENV, "INFERENCE_ENV_PATH")
    if isinstance(value, str) and value.strip():
        return passed()
    return failed(
        "INFERENCE_ENV_PATH is empty: set the oci:// path of the inference conda pack "
        "(mdreg prepare --inference-conda-env)"
    )


@check(
    "runtime_path_exist",
    _CONDA,
    "Check that the file path in MODEL_DEPLOYMENT.INFERENCE_CONDA_ENV.INFERENCE_ENV_PATH is correct.",
)
@_needs_runtime
def _runtime_path_exist(ctx: ArtifactContext) -> Outcome:
    if not ctx.online:
        return skipped(
            "needs the network: run with --online and OCI credentials to check that "
            "the conda pack exists"
        )
    from mdreg.checks.online import conda_pack_exists

    return conda_pack_exists(str(_runtime_value(ctx, *_ENV, "INFERENCE_ENV_PATH")))
