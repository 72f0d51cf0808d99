"""The columns a fitted pipeline reads from a request and the one it answers with, from
its stages' params."""

from __future__ import annotations

from typing import Any

# Params through which a stage reads columns of the incoming DataFrame at transform time.
_INPUT_PARAMS = ("inputCol", "inputCols", "featuresCol", "userCol", "itemCol")
# Params naming columns read only while fitting: not outputs, not needed to predict.
_FIT_ONLY_PARAMS = frozenset({"labelCol", "weightCol", "censorCol"})
# Stages whose inputs cannot be read from their params (an SQL statement, a formula).
_OPAQUE_STAGES = frozenset({"SQLTransformer", "RFormulaModel", "RFormula"})
# What a stage expects in an input column it reads, where the stage type says it.
_STRING_INPUT_STAGES = frozenset({"StringIndexerModel", "Tokenizer", "RegexTokenizer"})
_NUMERIC_INPUT_STAGES = frozenset(
    {
        "VectorAssembler",
        "ImputerModel",
        "Bucketizer",
        "OneHotEncoderModel",
        "Binarizer",
        "QuantileDiscretizer",
        "Interaction",
    }
)


def _param(stage: Any, name: str) -> Any:
    if not stage.hasParam(name):
        return None
    param = stage.getParam(name)
    return stage.getOrDefault(param) if stage.isDefined(param) else None


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


def pipeline_inputs(stages: list[Any]) -> tuple[list[str] | None, dict[str, str]]:
    """The columns a fitted pipeline reads from the request, in first-use order, and the
    Spark type its stages need in some of them ("string" or "double").

    A column one stage writes and a later one reads is internal, not an input. Returns
    None for the columns when a stage's inputs cannot be told from its params."""
    produced: set[str] = set()
    inputs: list[str] = []
    hints: dict[str, str] = {}
    for stage in stages:
        kind = type(stage).__name__
        if kind in _OPAQUE_STAGES:
            return None, hints
        for name in _INPUT_PARAMS:
            for column in _as_list(_param(stage, name)):
                if column in produced or column in inputs:
                    continue
                inputs.append(column)
                if kind in _STRING_INPUT_STAGES:
                    hints[column] = "string"
                elif kind in _NUMERIC_INPUT_STAGES:
                    hints[column] = "double"
        for param in stage.params:
            if (
                param.name.endswith(("Col", "Cols"))
                and param.name not in _INPUT_PARAMS
                and param.name not in _FIT_ONLY_PARAMS
            ):
                produced.update(_as_list(_param(stage, param.name)))
    return inputs, hints


def prediction_column(stages: list[Any]) -> str:
    """The column score.py returns: the last stage's ``predictionCol``, else its
    ``outputCol`` (e.g. an ``IndexToString`` turning indices back into labels)."""
    if not stages:
        return "prediction"
    last = stages[-1]
    for name in ("predictionCol", "outputCol"):
        value = _param(last, name)
        if isinstance(value, str) and value:
            return value
    return "prediction"


def model_stage(stages: list[Any]) -> Any:
    """The stage that is the model: the last one with a ``predictionCol``, else the last."""
    for stage in reversed(stages):
        if stage.hasParam("predictionCol"):
            return stage
    return stages[-1] if stages else None
