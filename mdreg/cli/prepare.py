"""``mdreg prepare``: write a model artifact from a model file."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from mdreg.cli._app import app
from mdreg.cli._help import choices_in_help, framework_names, use_case_types
from mdreg.cli._output import emit_json, note, warn


@app.command(
    "prepare", cls=choices_in_help(framework=framework_names, use_case_type=use_case_types)
)
def prepare_cmd(
    model: Path = typer.Argument(
        ..., help="Serialized model file (or folder, for formats that are folders)."
    ),
    output: Optional[Path] = typer.Option(
        None, "-o", "--output", help="Artifact folder to write [default: MODEL-artifact]."
    ),
    framework: Optional[str] = typer.Option(
        None, "--framework", help="Framework plugin to use instead of detecting it."
    ),
    x_sample: Optional[Path] = typer.Option(
        None, "--x-sample", help="Input sample (CSV, JSON, Parquet, .npy) for the input schema."
    ),
    y_sample: Optional[Path] = typer.Option(
        None, "--y-sample", help="Output sample for the output schema."
    ),
    use_case_type: Optional[str] = typer.Option(
        None,
        "--use-case-type",
        help="Catalog UseCaseType [default: read from the model, else other].",
    ),
    inference_conda_env: Optional[str] = typer.Option(
        None,
        "--inference-conda-env",
        help="Service pack slug or oci:// path of the inference conda pack.",
    ),
    inference_python_version: Optional[str] = typer.Option(
        None,
        "--inference-python-version",
        help="Python of the inference environment [default: the pack's].",
    ),
    score_py: Optional[Path] = typer.Option(
        None, "--score-py", help="Use this score.py instead of generating one."
    ),
    model_code: Optional[Path] = typer.Option(
        None,
        "--model-code",
        help="Python file defining the model's class; copied into the artifact.",
    ),
    model_class: Optional[str] = typer.Option(
        None, "--model-class", help="module:Class to build before loading a PyTorch state_dict."
    ),
    training_script: Optional[Path] = typer.Option(
        None, "--training-script", help="Training script, recorded in the provenance."
    ),
    trust: bool = typer.Option(
        False, "--trust", help="Load a pickle that references code outside the allow-list."
    ),
    force: bool = typer.Option(False, "--force", help="Replace a non-empty artifact folder."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
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
