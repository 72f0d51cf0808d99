"""The metadata ``prepare`` writes for a model (``.mdreg/metadata.json``): from the
plugin, what the model says of itself, the conda environment and the git checkout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mdreg.artifact import conda, layout
from mdreg.artifact.metadata import custom, new_metadata
from mdreg.artifact.provenance import git_provenance
from mdreg.frameworks.base import Detection, Framework, ModelFacts


def model_metadata(
    plugin: Framework,
    detection: Detection,
    facts: ModelFacts,
    model_file: str,
    env: conda.CondaEnv,
    use_case_type: str | None,
    hyperparameters: Any,
    trust: bool,
    verdict: str,
    training_script: str | Path | None,
) -> dict[str, Any]:
    """``.mdreg/metadata.json`` for a prepared model: the taxonomy, the custom items ADS
    writes (serialization format, model file, conda environment), git provenance and
    mdreg's own facts (framework, detection evidence, scan verdict, trust)."""
    items = [
        custom(
            "ModelSerializationFormat",
            serialization_format(plugin, facts, model_file),
            "Training Profile",
        ),
        custom("ModelFileName", model_file, "Other"),
        custom("ClientLibrary", "mdreg", "Other"),
        custom("CondaEnvironment", env.slug, "Training Environment"),
        custom("CondaEnvironmentPath", env.path, "Training Environment"),
        custom("EnvironmentType", env.env_type, "Training Environment"),
        custom("SlugName", env.slug, "Training Environment"),
    ]
    where = Path(training_script).parent if training_script else Path.cwd()
    return new_metadata(
        taxonomy={
            "UseCaseType": use_case_type or facts.use_case_type or "other",
            "Framework": plugin.taxonomy_framework,
            "FrameworkVersion": facts.framework_version or plugin.version(),
            "Algorithm": facts.algorithm,
            "Hyperparameters": hyperparameters,
        },
        custom_items=items,
        provenance=git_provenance(where, Path(training_script) if training_script else None),
        extra={
            "framework": plugin.name,
            "model_file": model_file,
            "detection": detection.evidence,
            "scan_verdict": verdict,
            "trusted": trust,
            "hyperparameters_file": layout.HYPERPARAMETERS if hyperparameters is None else None,
            "features": facts.feature_names,
            "classes": facts.classes,
        },
    )


def serialization_format(plugin: Framework, facts: ModelFacts, model_file: str) -> str:
    """What the model says, else the plugin's native format, unless it fell back to
    another file (a Pipeline kept as a pickle by a framework whose format is JSON, say)."""
    if facts.serialization_format:
        return facts.serialization_format
    if model_file == plugin.model_file_name:
        return plugin.serialization_format
    suffix = Path(model_file).suffix.lstrip(".")
    return {"pkl": "pickle", "": plugin.serialization_format}.get(suffix, suffix)
