"""What prepare learns from the samples and the model's facts: the input and output
schemas (``input_schema.json``, ``output_schema.json``), the checks that the samples fit
the model (columns, rows, one array per named input), and the expected answer kept for
verify's parity check.

pandas and numpy come in with the samples: nothing here imports them unless there is a
sample (or score.py's answer to one) at hand.
"""

from __future__ import annotations

from typing import Any

from mdreg.errors import InputError
from mdreg.frameworks.base import Framework, ModelFacts

SAMPLE_ROWS = 5  # rows of --x-sample kept in the artifact (.mdreg/sample.json)


def input_schema(facts: ModelFacts, X: Any, warnings: list[str]) -> dict[str, Any]:
    """The input schema: from --x-sample, else from what the model says of itself."""
    from mdreg.artifact import schema

    if X is not None:
        return schema.describe(X)
    if facts.feature_names:
        warnings.append(
            "no --x-sample: the input schema has the model's feature names but "
            "no dtypes or statistics"
        )
        return schema.schema_from_feature_names(facts.feature_names)
    if facts.n_features:
        warnings.append("no --x-sample: the input schema has only the feature count")
        return schema.schema_from_count(facts.n_features)
    if facts.input_names:
        warnings.append(
            f"no --x-sample: input_schema.json is empty; the model takes tensors "
            f"{', '.join(facts.input_names)}: an .npz of one array per input "
            "describes them"
        )
    else:
        warnings.append(
            "no --x-sample and the model does not know its inputs: input_schema.json is empty"
        )
    return {"schema": [], "version": schema.SCHEMA_VERSION}


def output_schema(
    facts: ModelFacts, X: Any, y: Any, predicted: Any, warnings: list[str]
) -> dict[str, Any]:
    """The output schema: from --y-sample, else from score.py's answer to --x-sample
    (``predicted``, as ``as_output`` gives it; None when it was not run), else a
    placeholder of the model's output width."""
    from mdreg.artifact import schema

    if y is not None:
        if predicted is not None:
            check_y_sample(y, predicted)
        return schema.describe(y, "output")
    if predicted is not None:
        return schema.describe(predicted, "output")
    if X is not None:
        warnings.append(
            "the model cannot be run here: output_schema.json is a placeholder; "
            "pass --y-sample to describe the predictions"
        )
        return schema.schema_from_count(1)
    return schema.schema_from_count(facts.n_outputs or 1)


def as_output(answer: Any, facts: ModelFacts) -> Any:
    """score.py's answer (what its predict() serializes) as the output schema describes it.

    An array, a Series or a DataFrame is taken as it is (rank > 2: one tensor column). A
    list of values, one per row (Spark's, or JSON lists), becomes one array, or a Series
    named after the model's one output when it has a name (Spark's prediction column).
    Several outputs, batch first (a list or dict of arrays: a Keras or PyTorch model's),
    become one table of a column per output value: ``name``, or ``name[j]`` for an output
    of several values per row, named by the dict's keys, else ``facts.output_names``, else
    their positions; one output in a list or dict is that output. Text comes out as Python
    strings (object), as JSON gives it.
    """
    import numpy as np
    import pandas as pd

    names = facts.output_names
    if isinstance(answer, dict) and len(answer) == 1:
        answer = next(iter(answer.values()))
    if isinstance(answer, (list, tuple)) and len(answer) == 1 and hasattr(answer[0], "ndim"):
        answer = answer[0]
    if isinstance(answer, (pd.DataFrame, pd.Series)):
        return answer
    try:
        if isinstance(answer, dict) or (
            isinstance(answer, (list, tuple))
            and bool(answer)
            and all(isinstance(a, np.ndarray) for a in answer)
        ):
            return _columns(answer, names)
        if isinstance(answer, (list, tuple)) and names and len(names) == 1:
            return pd.Series(list(answer), name=names[0])
        return _text_as_objects(_array(answer))
    except ValueError as exc:  # ragged rows, outputs of different lengths, one value
        raise InputError(
            f"score.py's answer to --x-sample is not one row per sample row, which "
            f"output_schema.json could describe ({exc})"
        ) from None


def _columns(outputs: Any, names: list[str] | None) -> Any:
    """Several outputs, batch first, as one table of a column per output value."""
    import numpy as np
    import pandas as pd

    if not isinstance(outputs, dict):
        keys = names if names and len(names) == len(outputs) else range(len(outputs))
        outputs = dict(zip(keys, outputs, strict=True))
    columns: dict[Any, Any] = {}
    for name, value in outputs.items():
        value = _text_as_objects(np.asarray(value))
        if value.ndim == 0:
            raise ValueError(f"one value for {name!r}")
        value = value.reshape(len(value), -1)
        for j in range(value.shape[1]):
            columns[name if value.shape[1] == 1 else f"{name}[{j}]"] = value[:, j]
    return pd.DataFrame(columns)


def _array(values: Any) -> Any:
    """``values`` as an array; rows of different lengths as one column of lists."""
    import numpy as np

    try:
        return np.asarray(values)
    except ValueError:
        if not isinstance(values, (list, tuple)):
            raise
        column = np.empty(len(values), dtype=object)
        for i, value in enumerate(values):
            column[i] = value
        return column


def _text_as_objects(array: Any) -> Any:
    return array.astype(object) if array.dtype.kind in "US" else array


def check_y_sample(y: Any, predicted: Any) -> None:
    """--y-sample must look like the model's answer to --x-sample: as many rows, as many
    columns. Otherwise output_schema.json would describe something score.py never returns."""

    def shape(data: Any) -> tuple[int, int]:
        dims: tuple[int, ...] = getattr(data, "shape", None) or (len(data),)
        return int(dims[0]), int(dims[1]) if len(dims) > 1 else 1

    (y_rows, y_cols), (p_rows, p_cols) = shape(y), shape(predicted)
    if y_rows != p_rows:
        raise InputError(
            f"--y-sample has {y_rows} rows, but the model answers --x-sample with "
            f"{p_rows}: give the predictions for the same rows"
        )
    if y_cols != p_cols:
        raise InputError(
            f"--y-sample has {y_cols} column(s), but the model answers with "
            f"{p_cols}: give the model's predictions, not other data"
        )


def sample_prediction(predicted: Any) -> dict[str, Any] | None:
    """The model's answer to the sample rows kept in the artifact (the first rows of its
    answer to --x-sample), for verify's parity check (``mdreg.checks.parity``)."""
    from mdreg.artifact.sample import head_rows
    from mdreg.checks.parity import expected_document

    return expected_document(head_rows(predicted, SAMPLE_ROWS))


def by_input(X: Any, facts: ModelFacts) -> Any:
    """A model of several inputs takes one sample array per input, by name (returned in
    the model's order); any other model one table or array (returned as it is)."""
    names = facts.input_names
    if isinstance(X, dict) and not names:
        raise InputError(
            f"--x-sample holds {len(X)} arrays ({', '.join(list(X)[:5])}) and the "
            "model takes one input: save the one sample array alone"
        )
    if names and not isinstance(X, dict):
        raise InputError(
            f"the model takes {len(names)} tensors ({', '.join(names)}): give "
            "--x-sample as an .npz of one array per input, by name "
            f'(numpy.savez("x_sample.npz", {", ".join(f"{n}=..." for n in names)}))'
        )
    if names and set(X) != set(names):
        raise InputError(
            f"--x-sample holds arrays {', '.join(X)}; the model's inputs are "
            f"{', '.join(names)}: name the arrays after them"
        )
    return {name: X[name] for name in names} if names else X


def check_sample_columns(X: Any, facts: ModelFacts, plugin: Framework) -> None:
    columns = getattr(X, "columns", None)
    if facts.feature_names and columns is not None:
        have = {plugin.feature_key(str(c)) for c in columns}
        missing = [n for n in facts.feature_names if n not in have]
        if missing:
            raise InputError(f"--x-sample lacks the model's features {missing[:5]}")
