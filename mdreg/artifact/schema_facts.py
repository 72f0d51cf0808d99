"""What prepare learns from the samples and the model's facts: the input and output
schemas (``input_schema.json``, ``output_schema.json``), the checks that the samples fit
the model (columns, rows, one array per named input), and the expected answer kept for
verify's parity check.

pandas and numpy come in with the samples; nothing here imports them itself.
"""

from __future__ import annotations

from typing import Any

from mdreg.errors import InputError
from mdreg.frameworks.base import Framework, ModelFacts

SAMPLE_ROWS = 5  # rows of --x-sample kept in the artifact (.mdreg/sample.json)


def schemas(
    plugin: Framework, facts: ModelFacts, X: Any, y: Any, predicted: Any, warnings: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Input and output schemas: from the samples, the model's answer to --x-sample
    (``predicted``, None when it cannot run here) and what the model says of itself."""
    from mdreg.artifact import schema

    if X is not None:
        input_schema = schema.describe(X)
    elif facts.feature_names:
        input_schema = schema.schema_from_feature_names(facts.feature_names)
        warnings.append(
            "no --x-sample: the input schema has the model's feature names but "
            "no dtypes or statistics"
        )
    elif facts.n_features:
        input_schema = schema.schema_from_count(facts.n_features)
        warnings.append("no --x-sample: the input schema has only the feature count")
    elif facts.input_names:
        input_schema = {"schema": [], "version": schema.SCHEMA_VERSION}
        warnings.append(
            f"no --x-sample: input_schema.json is empty; the model takes tensors "
            f"{', '.join(facts.input_names)}: an .npz of one array per input "
            "describes them"
        )
    else:
        input_schema = {"schema": [], "version": schema.SCHEMA_VERSION}
        warnings.append(
            "no --x-sample and the model does not know its inputs: input_schema.json is empty"
        )
    if y is not None:
        if predicted is not None:
            check_y_sample(y, predicted)
        output_schema = schema.describe(y, "output")
    elif predicted is not None:
        output_schema = schema.describe(predicted, "output")
    elif X is not None:
        output_schema = schema.schema_from_count(1)
        warnings.append(
            "the model cannot be run here: output_schema.json is a placeholder; "
            "pass --y-sample to describe the predictions"
        )
    else:
        output_schema = schema.schema_from_count(facts.n_outputs or 1)
    return input_schema, output_schema


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
