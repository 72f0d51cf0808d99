"""What a saved Spark ML folder says, read from its ``metadata/part-*`` JSON files without
pyspark or a JVM: the class, the stages, every class the folder names."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mdreg.errors import InputError

PIPELINE_MODEL = "org.apache.spark.ml.PipelineModel"
PIPELINE = "org.apache.spark.ml.Pipeline"
SPARK_ML_PREFIX = "org.apache.spark.ml."
PYSPARK_ML_PREFIX = "pyspark.ml."
_METADATA_MAX_BYTES = 1 << 20  # one JSON line; a stage's params are small


def read_metadata(folder: Path) -> dict[str, Any] | None:
    """The JSON document of a Spark ML folder's ``metadata/part-*`` file, or None when
    the folder is not a saved Spark ML object."""
    meta_dir = folder / "metadata"
    try:
        parts = sorted(p for p in meta_dir.iterdir() if p.name.startswith("part-") and p.is_file())
    except OSError:
        return None
    if not parts:
        return None
    try:
        with parts[0].open("rb") as f:
            text = f.read(_METADATA_MAX_BYTES).decode("utf-8")
        doc = json.loads(text.splitlines()[0] if text.strip() else "")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, IndexError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("class"), str) else None


def pipeline_model_dir(artifact: Path) -> Path | None:
    """The PipelineModel folder of a prepared artifact (prepare's metadata names the
    model file; Spark's own metadata says it is a PipelineModel), else None: what both
    scoring engines ask before they start."""
    from mdreg.artifact.layout import METADATA

    try:
        meta = json.loads((artifact / METADATA).read_text(encoding="utf-8")).get("mdreg", {})
    except (OSError, ValueError, AttributeError):
        meta = {}
    name = meta.get("model_file") if meta.get("framework") == "spark" else None
    model_dir = artifact / (name if isinstance(name, str) else "model")
    doc = read_metadata(model_dir)
    return model_dir if doc is not None and doc["class"] == PIPELINE_MODEL else None


_Stage = tuple[Path | None, dict[str, Any] | None]


def stage_metadata(folder: Path, doc: dict[str, Any]) -> list[_Stage]:
    """Each stage of a saved (Pipeline|PipelineModel) in order: its folder and metadata.

    Spark names stage folders ``<index>_<uid>`` (the index zero-padded in older versions)
    and lists the uids, in order, in the pipeline's ``paramMap.stageUids``."""
    uids = (doc.get("paramMap") or {}).get("stageUids")
    stages_dir = folder / "stages"
    try:
        folders = {p.name.split("_", 1)[-1]: p for p in stages_dir.iterdir() if p.is_dir()}
    except OSError:
        folders = {}
    if not isinstance(uids, list):
        return []
    out: list[_Stage] = []
    for uid in uids:
        path = folders.get(str(uid))
        out.append((path, read_metadata(path) if path is not None else None))
    return out


def _saved_classes(folder: Path) -> Iterator[tuple[Path, str]]:
    """(metadata file, class name) of every Spark ML object saved under ``folder``."""
    for meta_dir in sorted(folder.rglob("metadata")):
        if meta_dir.is_dir():
            doc = read_metadata(meta_dir.parent)
            if doc is not None:
                yield meta_dir / "part-*", doc["class"]


def short_class(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _is_spark_class(name: str) -> bool:
    return name.startswith((SPARK_ML_PREFIX, PYSPARK_ML_PREFIX))


def check_folder(path: Path) -> dict[str, Any]:
    """The model folder's metadata, once it is known to hold only Spark's own classes;
    InputError saying what to do otherwise (nothing is loaded)."""
    if not path.is_dir():
        raise InputError(
            f"{path}: a Spark model is a folder written by model.write().save(path), not a file"
        )
    doc = read_metadata(path)
    if doc is None:
        raise InputError(f"{path}: no readable metadata/part-* file: not a saved Spark ML model")
    cls = doc["class"]
    if cls == PIPELINE:
        raise InputError(
            f"{path}: an unfitted Spark Pipeline: fit it "
            "(model = pipeline.fit(df)) and save the PipelineModel "
            "(model.write().save(path))"
        )
    if not cls.startswith(SPARK_ML_PREFIX):
        raise InputError(f"{path}: {cls} is not a Spark ML model class")
    if cls == PIPELINE_MODEL:
        for stage_dir, meta in stage_metadata(path, doc):
            if meta is None:
                raise InputError(
                    f"{path}: a stage listed in the metadata has no readable "
                    f"folder ({stage_dir or 'missing'}): the model folder is "
                    "incomplete"
                )
    # Every object saved in the folder (stages, nested pipelines, a tuning model's
    # estimator and best model) names its class; pyspark imports what it names.
    for meta_file, name in _saved_classes(path):
        if not _is_spark_class(name):
            where = meta_file.parent.parent.relative_to(path).as_posix()
            raise InputError(
                f"{path}: {where if where != '.' else 'the model'} is {name}, "
                "not a Spark ML class: mdreg loads only Spark's own stages "
                "(loading a custom stage would run its code)"
            )
    return doc
