"""``mdreg prepare``: write a model artifact from a model file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mdreg.cli._app import app
from mdreg.cli._help import choices_in_help, framework_names, use_case_types
from mdreg.cli._output import emit_json, note, warn


@app.command(
    "prepare", cls=choices_in_help(framework=framework_names, use_case_type=use_case_types)
)
def prepare_cmd(
    model: Annotated[
        Path,
        typer.Argument(help="Serialized model file (or folder, for formats that are folders)."),
    ],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Artifact folder to write [default: MODEL-artifact]."),
    ] = None,
    framework: Annotated[
        str | None,
        typer.Option("--framework", help="Framework plugin to use instead of detecting it."),
    ] = None,
    x_sample: Annotated[
        Path | None,
        typer.Option(
            "--x-sample", help="Input sample (CSV, JSON, Parquet, .npy) for the input schema."
        ),
    ] = None,
    y_sample: Annotated[
        Path | None, typer.Option("--y-sample", help="Output sample for the output schema.")
    ] = None,
    use_case_type: Annotated[
        str | None,
        typer.Option(
            "--use-case-type",
            help="Catalog UseCaseType [default: read from the model, else other].",
        ),
    ] = None,
    inference_conda_env: Annotated[
        str | None,
        typer.Option(
            "--inference-conda-env",
            help="Service pack slug or oci:// path of the inference conda pack.",
        ),
    ] = None,
    inference_python_version: Annotated[
        str | None,
        typer.Option(
            "--inference-python-version",
            help="Python of the inference environment [default: the pack's].",
        ),
    ] = None,
    score_py: Annotated[
        Path | None,
        typer.Option("--score-py", help="Use this score.py instead of generating one."),
    ] = None,
    model_code: Annotated[
        Path | None,
        typer.Option(
            "--model-code",
            help="Python file defining the model's class; copied into the artifact.",
        ),
    ] = None,
    model_class: Annotated[
        str | None,
        typer.Option(
            "--model-class", help="module:Class to build before loading a PyTorch state_dict."
        ),
    ] = None,
    training_script: Annotated[
        Path | None,
        typer.Option("--training-script", help="Training script, recorded in the provenance."),
    ] = None,
    trust: Annotated[
        bool,
        typer.Option("--trust", help="Load a pickle that references code outside the allow-list."),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a non-empty artifact folder.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Detect the model's framework from its bytes and write an OCI model artifact."""
    from mdreg.flows.prepare import prepare

    result = prepare(
        model,
        output,
        framework=framework,
        x_sample=x_sample,
        y_sample=y_sample,
        use_case_type=use_case_type,
        inference_conda_env=inference_conda_env,
        inference_python_version=inference_python_version,
        score_py=score_py,
        model_code=model_code,
        model_class=model_class,
        training_script=training_script,
        trust=trust,
        force=force,
    )
    if as_json:
        emit_json(result.to_dict())
        return
    note(f"framework: {result.framework} ({result.detection.evidence})")
    for w in result.warnings:
        warn(w)
    note(f"wrote {len(result.files)} files")
    typer.echo(str(result.artifact_dir))  # stdout: the one thing a script wants
