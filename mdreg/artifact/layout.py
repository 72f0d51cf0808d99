"""Names of the files in a model artifact, in one place."""

from __future__ import annotations

from pathlib import Path

from mdreg.errors import InputError

SCORE_PY = "score.py"
RUNTIME_YAML = "runtime.yaml"
INPUT_SCHEMA = "input_schema.json"
OUTPUT_SCHEMA = "output_schema.json"
MODEL_IGNORE = ".model-ignore"
MANIFEST = "model_artifact_manifest.json"

# mdreg's own files live in a hidden folder: it cannot shadow an importable module
# when the deployment server puts the artifact folder on sys.path.
MDREG_DIR = ".mdreg"
METADATA = f"{MDREG_DIR}/metadata.json"  # mutable (introspection results, catalog edits): not in the manifest
SAMPLE = f"{MDREG_DIR}/sample.json"  # a few input rows, the default payload of `mdreg verify`
SAMPLE_PREDICTION = f"{MDREG_DIR}/sample_prediction.json"  # the model's answer to them (parity)
HYPERPARAMETERS = f"{MDREG_DIR}/hyperparameters.json"  # when too large for the catalog

# ADS writes its introspection results here; it must never travel in a zip.
ADS_TEST_RESULTS = "test_json_output.json"


def existing_artifact(artifact: str | Path) -> Path:
    """``artifact`` as a Path, or the one InputError every command gives for an artifact
    folder or zip that is not there (introspect, verify, save)."""
    path = Path(artifact)
    if not path.exists():
        raise InputError(f"{artifact}: no such artifact folder or zip")
    return path
