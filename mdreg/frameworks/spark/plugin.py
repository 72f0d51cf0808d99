"""The Spark MLlib plugin (see the package's docstring for the folders it takes)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from mdreg.artifact import conda
from mdreg.errors import InputError
from mdreg.frameworks._params import json_safe
from mdreg.frameworks.base import Detection, Framework, LoadOptions, ModelFacts
from mdreg.frameworks.probe import Probe
from mdreg.frameworks.spark.columns import model_stage, pipeline_inputs, prediction_column
from mdreg.frameworks.spark.metadata import (
    PIPELINE,
    PIPELINE_MODEL,
    SPARK_ML_PREFIX,
    check_folder,
    read_metadata,
    short_class,
    stage_metadata,
)
from mdreg.frameworks.spark.session import LOG4J2_PROPERTIES, SESSION_CONF, local_session, quiet

# The newest PySpark service pack once mdreg's conda table knows it; the older one until then.
_PYSPARK_PACKS = ("pyspark35_p311_cpu_x86_64_v1", "pyspark30_p37_cpu_v2")
_DEFAULT_PACK = next((s for s in _PYSPARK_PACKS if s in conda.SERVICE_PACKS), _PYSPARK_PACKS[-1])


class SparkFramework(Framework):
    name = "spark"
    display_name = "PySpark"
    taxonomy_framework = "pyspark"
    module = "pyspark"
    distribution = "pyspark"
    extra = "spark"
    model_file_name = "model"  # a folder
    serialization_format = "spark"
    template = "score_spark.py.jinja2"
    default_conda_env = _DEFAULT_PACK
    inference_modules = ("pyspark", "pyarrow")  # pyarrow: optional, pyspark's sql extra
    allow = ()  # never a pickle

    def sniff(self, probe: Probe) -> Detection | None:
        if not probe.is_dir or "metadata" not in probe.names:
            return None
        doc = read_metadata(probe.path)
        if doc is None:
            return None
        cls, version = doc["class"], doc.get("sparkVersion", "?")
        if cls == PIPELINE_MODEL:
            stages = [
                short_class(m["class"]) if m else "?" for _, m in stage_metadata(probe.path, doc)
            ]
            shown = ", ".join(stages[:8]) + (", ..." if len(stages) > 8 else "")
            return Detection(
                self.name, 1.0, f"Spark {version} PipelineModel metadata, stages: {shown or 'none'}"
            )
        if cls == PIPELINE:
            return Detection(
                self.name, 0.9, f"Spark {version} Pipeline metadata (an unfitted pipeline)"
            )
        if cls.startswith(SPARK_ML_PREFIX):
            return Detection(
                self.name,
                0.9,
                f"Spark {version} {short_class(cls)} metadata "
                "(a single model, not a PipelineModel)",
            )
        return None

    def load(self, path: Path, options: LoadOptions) -> Any:
        self.require()
        doc = check_folder(path)
        with quiet():
            local_session()
            from pyspark.ml import PipelineModel

            if doc["class"] == PIPELINE_MODEL:
                return PipelineModel.load(str(path))
            model = _pyspark_class(doc["class"], path).load(str(path))
        model = getattr(model, "bestModel", model)  # CrossValidatorModel, TrainValidationSplitModel
        if isinstance(model, PipelineModel):
            return model
        from pyspark.ml import Transformer

        if not isinstance(model, Transformer):
            raise InputError(
                f"{path}: an unfitted {type(model).__name__}: fit it "
                "(model = estimator.fit(df)) and save the model it returns"
            )
        return PipelineModel(stages=[model])

    def save(self, model: Any, source: Path, dest_dir: Path, options: LoadOptions) -> str:
        target = dest_dir / self.model_file_name
        doc = read_metadata(source) if source.is_dir() else None
        if doc is not None and doc["class"] == PIPELINE_MODEL:
            shutil.copytree(source, target)  # the user's bytes, as Spark wrote them
        else:
            model.write().save(str(target))  # a single model, wrapped in a PipelineModel
        return self.model_file_name

    def describe(self, model: Any) -> ModelFacts:
        stages = list(model.stages)
        core = model_stage(stages)
        inputs, _ = pipeline_inputs(stages)
        params: dict[str, Any] = {}
        if core is not None:
            params = {p.name: v for p, v in core.extractParamMap().items()}
        n_classes = getattr(core, "numClasses", None) if core is not None else None
        return ModelFacts(
            algorithm=type(core).__name__ if core is not None else "PipelineModel",
            framework_version=self.version(),
            hyperparameters=json_safe(params),
            use_case_type=_use_case(core, n_classes),
            feature_names=inputs or None,
            n_features=None,  # a Spark model reads named columns, never positions
            classes=list(range(n_classes)) if isinstance(n_classes, int) else None,
            output_names=[prediction_column(stages)],  # score.py answers with its values
        )

    def template_context(self, model: Any, source: Path) -> dict[str, Any]:
        stages = list(model.stages)
        inputs, hints = pipeline_inputs(stages)
        import pprint

        # Python literals, not JSON: score.py reads them as code (None, not null).
        def literal(value: Any) -> str:
            return pprint.pformat(value, width=92, sort_dicts=False)

        return {
            "prediction_column": literal(prediction_column(stages)),
            "pipeline_inputs": literal(inputs),
            "type_hints": literal(hints),
            "session_conf": literal(SESSION_CONF),
            "log4j2_properties": LOG4J2_PROPERTIES,
        }


def _pyspark_class(java_class: str, path: Path) -> Any:
    """pyspark's class for a Spark ML JVM class (``org.apache.spark.ml.x.Y`` ->
    ``pyspark.ml.x.Y``): the same mapping pyspark's own readers use."""
    import importlib

    module, _, name = java_class.replace("org.apache.spark", "pyspark", 1).rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise InputError(f"{path}: pyspark has no Python class for {java_class}") from None


def _use_case(stage: Any, n_classes: Any) -> str | None:
    if stage is None:
        return None
    module = type(stage).__module__
    if module.endswith(".classification"):
        if isinstance(n_classes, int):
            return "binary_classification" if n_classes == 2 else "multinomial_classification"
        return None
    if module.endswith(".clustering") and "LDA" in type(stage).__name__:
        return "topic_modeling"
    return {
        "pyspark.ml.regression": "regression",
        "pyspark.ml.clustering": "clustering",
        "pyspark.ml.recommendation": "recommender",
    }.get(module)
