"""The model's catalog metadata, kept in the artifact until it is saved to a catalog.

Taxonomy ("defined") keys and custom keys as the OCI catalog knows them, plus
provenance. The service's limits are checked here so that a model that saves
locally also saves to OCI.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mdreg.artifact import layout
from mdreg.errors import ArtifactError, InputError

USE_CASE_TYPES = (
    "binary_classification",
    "multinomial_classification",
    "regression",
    "clustering",
    "recommender",
    "dimensionality_reduction/representation",
    "time_series_forecasting",
    "anomaly_detection",
    "topic_modeling",
    "ner",
    "sentiment_analysis",
    "image_classification",
    "object_localization",
    "other",
)
TAXONOMY_KEYS = (
    "UseCaseType",
    "Framework",
    "FrameworkVersion",
    "Algorithm",
    "Hyperparameters",
    "ArtifactTestResults",
)
CUSTOM_CATEGORIES = (
    "Performance",
    "Training Profile",
    "Training and Validation Datasets",
    "Training Environment",
    "Other",
)

MAX_CUSTOM_VALUE_CHARS = 255
MAX_DESCRIPTION_CHARS = 255
MAX_METADATA_BYTES = 32_000


def custom(key: str, value: Any, category: str = "Other", description: str = "") -> dict[str, Any]:
    return {"key": key, "value": value, "category": category, "description": description}


def new_metadata(
    *,
    taxonomy: dict[str, Any],
    custom_items: list[dict[str, Any]],
    provenance: dict[str, Any],
    extra: dict[str, Any],
) -> dict[str, Any]:
    return {
        "version": 1,
        "taxonomy": [{"key": k, "value": taxonomy.get(k)} for k in TAXONOMY_KEYS],
        "custom": custom_items,
        "provenance": provenance,
        "mdreg": extra,  # what mdreg itself needs later: framework plugin, model file, trust
    }


def taxonomy_value(meta: dict[str, Any], key: str) -> Any:
    return next((i.get("value") for i in meta.get("taxonomy", []) if i.get("key") == key), None)


def set_taxonomy(meta: dict[str, Any], key: str, value: Any) -> None:
    for item in meta.setdefault("taxonomy", []):
        if item.get("key") == key:
            item["value"] = value
            return
    meta["taxonomy"].append({"key": key, "value": value})


def limit_problems(meta: dict[str, Any], description: str | None = None) -> list[str]:
    """What the OCI catalog would reject, each with the fix; [] when all fits."""
    problems = []
    for item in meta.get("custom", []):
        value = item.get("value")
        text = value if isinstance(value, str) else json.dumps(value)
        if value is not None and len(text) > MAX_CUSTOM_VALUE_CHARS:
            problems.append(
                f"custom metadata {item.get('key')!r} is {len(text)} characters; "
                f"the catalog allows {MAX_CUSTOM_VALUE_CHARS}: shorten it or put it "
                "in a file inside the artifact"
            )
    if description is not None and len(description) > MAX_DESCRIPTION_CHARS:
        problems.append(
            f"description is {len(description)} characters; the catalog allows "
            f"{MAX_DESCRIPTION_CHARS}"
        )
    size = len(json.dumps({"taxonomy": meta.get("taxonomy"), "custom": meta.get("custom")}))
    if size > MAX_METADATA_BYTES:
        problems.append(
            f"metadata is {size} bytes; the catalog allows {MAX_METADATA_BYTES} "
            "in all: move large values into files inside the artifact"
        )
    return problems


def check_use_case(value: str) -> str:
    if value not in USE_CASE_TYPES:
        raise InputError(
            f"unknown use case type {value!r}; choose one of {', '.join(USE_CASE_TYPES)}"
        )
    return value


def read_metadata(root: Path) -> dict[str, Any] | None:
    path = root / layout.METADATA
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise ArtifactError(f"{path}: expected a JSON object")
    return doc


def write_metadata(root: Path, meta: dict[str, Any]) -> None:
    path = root / layout.METADATA
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)
