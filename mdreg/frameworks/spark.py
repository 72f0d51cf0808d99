"""Apache Spark MLlib: a saved ``PipelineModel`` folder (``model.write().save(path)``).

Spark writes a model as a folder: ``metadata/part-*`` is one line of JSON naming the
class (``org.apache.spark.ml.PipelineModel``), the Spark version and the parameters;
``stages/<index>_<uid>/`` holds each stage the same way, plus its fitted data as
Parquet. Detection reads those JSON files and nothing else: no pyspark import, no JVM.

Also accepted: a single fitted Spark ML model folder (e.g. a ``LogisticRegressionModel``
saved on its own) and a tuning model (``CrossValidatorModel``, ``TrainValidationSplitModel``);
both are stored in the artifact as a one-stage ``PipelineModel`` of the (best) model, so
every Spark artifact has one shape. An unfitted ``Pipeline`` is recognised and refused.

Loading starts one local SparkSession (``local[1]``, no UI, quiet log) in this process,
or reuses the one already running. Only Spark's own stage classes are loaded: a stage
naming another class (a custom Python or JVM stage) would import or run code the scan
cannot judge, so it is refused.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mdreg.artifact import conda
from mdreg.errors import InputError
from mdreg.frameworks._params import json_safe
from mdreg.frameworks.base import Detection, Framework, LoadOptions, ModelFacts
from mdreg.frameworks.probe import Probe

PIPELINE_MODEL = "org.apache.spark.ml.PipelineModel"
PIPELINE = "org.apache.spark.ml.Pipeline"
SPARK_ML_PREFIX = "org.apache.spark.ml."
PYSPARK_ML_PREFIX = "pyspark.ml."
_METADATA_MAX_BYTES = 1 << 20  # one JSON line; a stage's params are small
_PANDAS_WARNING = "PySpark does not yet fully support pandas"

# The newest PySpark service pack once mdreg's conda table knows it; the older one until then.
_PYSPARK_PACKS = ("pyspark35_p311_cpu_x86_64_v1", "pyspark30_p37_cpu_v2")
_DEFAULT_PACK = next((s for s in _PYSPARK_PACKS if s in conda.SERVICE_PACKS), _PYSPARK_PACKS[-1])

#: SparkSession settings for prepare and for the generated score.py: one local thread, no
#: web UI, no console progress bars, loopback only, and a JVM tuned to start fast (C1 JIT
#: only, serial GC: about half the CPU of a default start, measured 24 s against 56 s on a
#: busy 2-core machine) that does not probe for a native BLAS (Java's is used either way
#: when none is installed; the probe only prints a dlopen error).
SESSION_CONF: dict[str, str] = {
    "spark.master": "local[1]",
    "spark.app.name": "mdreg",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "1",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC "
                                     "-Ddev.ludovic.netlib.blas.allowNative=false",
}
#: log4j2 configuration given to the JVM at start: errors only (Spark's default profile logs
#: INFO and WARN lines to stderr until setLogLevel runs; the repl logger's level at error
#: stops the "Setting default log level" banner).
LOG4J2_PROPERTIES = """\
rootLogger.level = error
logger.repl.name = org.apache.spark.repl.Main
logger.repl.level = error
logger.gateway.name = org.apache.spark.api.python.PythonGatewayServer
logger.gateway.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n
"""

# Params through which a stage reads columns of the incoming DataFrame at transform time.
_INPUT_PARAMS = ("inputCol", "inputCols", "featuresCol", "userCol", "itemCol")
# Params naming columns read only while fitting: not outputs, not needed to predict.
_FIT_ONLY_PARAMS = frozenset({"labelCol", "weightCol", "censorCol"})
# Stages whose inputs cannot be read from their params (an SQL statement, a formula).
_OPAQUE_STAGES = frozenset({"SQLTransformer", "RFormulaModel", "RFormula"})
# What a stage expects in an input column it reads, where the stage type says it.
_STRING_INPUT_STAGES = frozenset({"StringIndexerModel", "Tokenizer", "RegexTokenizer"})
_NUMERIC_INPUT_STAGES = frozenset({
    "VectorAssembler", "ImputerModel", "Bucketizer", "OneHotEncoderModel", "Binarizer",
    "QuantileDiscretizer", "Interaction",
})


# -- reading a saved folder (bytes only) -------------------------------------------------


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


# -- the SparkSession --------------------------------------------------------------------


@contextmanager
def _quiet() -> Iterator[None]:
    """pyspark 4 warns that pandas 3 is not fully supported; mdreg never hands Spark a
    pandas frame (rows go in as an Arrow table or as Python values), so the warning is
    noise here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_PANDAS_WARNING, category=FutureWarning)
        yield


def local_session() -> Any:
    """The SparkSession already running in this process, or a new local one."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # Python workers: this interpreter
    with _quiet():
        from pyspark.sql import SparkSession  # noqa: PLC0415 - frameworks load only when needed

        active = SparkSession.getActiveSession()
        if active is not None:
            return active
        import tempfile  # noqa: PLC0415 - not needed to sniff

        fd, log_config = tempfile.mkstemp(prefix="mdreg-log4j2-", suffix=".properties")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(LOG4J2_PROPERTIES)
            builder = SparkSession.builder
            for key, value in session_conf(Path(log_config).as_uri()).items():
                builder = builder.config(key, value)
            spark = builder.getOrCreate()
        finally:
            os.unlink(log_config)  # read once, when the JVM starts
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def session_conf(log_config_uri: str) -> dict[str, str]:
    conf = dict(SESSION_CONF)
    conf["spark.driver.extraJavaOptions"] += f" -Dlog4j2.configurationFile={log_config_uri}"
    return conf


# -- columns a pipeline reads and writes ---------------------------------------------------


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
            if param.name.endswith(("Col", "Cols")) and param.name not in _INPUT_PARAMS \
                    and param.name not in _FIT_ONLY_PARAMS:
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


def _model_stage(stages: list[Any]) -> Any:
    """The stage that is the model: the last one with a ``predictionCol``, else the last."""
    for stage in reversed(stages):
        if stage.hasParam("predictionCol"):
            return stage
    return stages[-1] if stages else None


# -- turning sample rows into a Spark DataFrame --------------------------------------------


def spark_type_name(dtype: str | None) -> str | None:
    """The Spark SQL type for a pandas dtype string (as written in input_schema.json)."""
    if not dtype:
        return None
    d = dtype.lower()
    if d.startswith("float") and d.endswith("32"):
        return "float"
    if d.startswith("float"):
        return "double"
    if d.startswith(("int", "uint")):
        return {"int8": "byte", "int16": "short", "int32": "integer"}.get(d, "long")
    if d in ("bool", "boolean"):
        return "boolean"
    if d in ("object", "str", "string", "category") or d.startswith("string"):
        return "string"
    if d.startswith("datetime64"):
        return "timestamp"
    return None


def _python_values(series: Any, kind: str) -> list[Any]:
    import pandas as pd  # noqa: PLC0415

    missing = series.isna().to_numpy()
    if kind in ("double", "float"):
        values = pd.to_numeric(series, errors="raise").astype("float64").tolist()
    elif kind in ("long", "integer", "short", "byte"):
        values = [int(v) if not m else None for v, m in zip(series.tolist(), missing, strict=True)]
    elif kind == "boolean":
        values = [bool(v) if not m else None for v, m in zip(series.tolist(), missing, strict=True)]
    elif kind == "timestamp":
        values = pd.to_datetime(series).dt.to_pydatetime().tolist()
    else:
        values = [str(v) if not m else None for v, m in zip(series.tolist(), missing, strict=True)]
    return [None if m else v for v, m in zip(values, missing, strict=True)]


_ARROW_TYPES = {"double": "float64", "float": "float32", "long": "int64", "integer": "int32",
                "short": "int16", "byte": "int8", "boolean": "bool_", "string": "string"}


def arrow_input() -> bool:
    """Whether rows can reach the JVM as an Arrow table (pyspark 4+ with pyarrow). The
    other way, a list of rows, makes Spark start a Python worker process to decode them."""
    import importlib.util  # noqa: PLC0415

    import pyspark  # noqa: PLC0415

    return importlib.util.find_spec("pyarrow") is not None and \
        int(pyspark.__version__.split(".")[0]) >= 4


def to_spark_frame(spark: Any, frame: Any, types: dict[str, str]) -> Any:
    """A pandas DataFrame as a Spark DataFrame, column types from ``types`` (Spark type
    names), else from the frame's dtypes. Missing values become SQL nulls."""
    from pyspark.sql import types as T  # noqa: PLC0415

    by_name = {"double": T.DoubleType(), "float": T.FloatType(), "long": T.LongType(),
               "integer": T.IntegerType(), "short": T.ShortType(), "byte": T.ByteType(),
               "boolean": T.BooleanType(), "string": T.StringType(),
               "timestamp": T.TimestampType()}
    names, kinds, fields, columns = [], [], [], []
    for name in frame.columns:
        kind = types.get(str(name)) or spark_type_name(str(frame[name].dtype)) or "string"
        names.append(str(name))
        kinds.append(kind)
        fields.append(T.StructField(str(name), by_name[kind], True))
        columns.append(_python_values(frame[name], kind))
    schema = T.StructType(fields)
    with _quiet():
        if columns and arrow_input():
            import pyarrow as pa  # noqa: PLC0415

            arrays = [pa.array(values, type=pa.timestamp("us") if kind == "timestamp"
                               else getattr(pa, _ARROW_TYPES[kind])())
                      for values, kind in zip(columns, kinds, strict=True)]
            return spark.createDataFrame(pa.Table.from_arrays(arrays, names=names), schema)
        rows = list(zip(*columns, strict=True)) if columns else [() for _ in range(len(frame))]
        return spark.createDataFrame(rows, schema)


def plain(value: Any) -> Any:
    """A Spark result value as JSON can hold it (ML vectors become lists)."""
    if hasattr(value, "toArray"):
        return value.toArray().tolist()
    return value


# -- the plugin ------------------------------------------------------------------------------


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
            stages = [short_class(m["class"]) if m else "?"
                      for _, m in stage_metadata(probe.path, doc)]
            shown = ", ".join(stages[:8]) + (", ..." if len(stages) > 8 else "")
            return Detection(self.name, 1.0, f"Spark {version} PipelineModel metadata, "
                             f"stages: {shown or 'none'}")
        if cls == PIPELINE:
            return Detection(self.name, 0.9, f"Spark {version} Pipeline metadata "
                             "(an unfitted pipeline)")
        if cls.startswith(SPARK_ML_PREFIX):
            return Detection(self.name, 0.9, f"Spark {version} {short_class(cls)} metadata "
                             "(a single model, not a PipelineModel)")
        return None

    def load(self, path: Path, options: LoadOptions) -> Any:
        self.require()
        doc = self._check_folder(path)
        with _quiet():
            local_session()
            from pyspark.ml import PipelineModel  # noqa: PLC0415

            if doc["class"] == PIPELINE_MODEL:
                return PipelineModel.load(str(path))
            model = _pyspark_class(doc["class"], path).load(str(path))
        model = getattr(model, "bestModel", model)  # CrossValidatorModel, TrainValidationSplitModel
        if isinstance(model, PipelineModel):
            return model
        from pyspark.ml import Transformer  # noqa: PLC0415

        if not isinstance(model, Transformer):
            raise InputError(f"{path}: an unfitted {type(model).__name__}: fit it "
                             "(model = estimator.fit(df)) and save the model it returns")
        return PipelineModel(stages=[model])

    def _check_folder(self, path: Path) -> dict[str, Any]:
        if not path.is_dir():
            raise InputError(f"{path}: a Spark model is a folder written by "
                             "model.write().save(path), not a file")
        doc = read_metadata(path)
        if doc is None:
            raise InputError(f"{path}: no readable metadata/part-* file: "
                             "not a saved Spark ML model")
        cls = doc["class"]
        if cls == PIPELINE:
            raise InputError(f"{path}: an unfitted Spark Pipeline: fit it "
                             "(model = pipeline.fit(df)) and save the PipelineModel "
                             "(model.write().save(path))")
        if not cls.startswith(SPARK_ML_PREFIX):
            raise InputError(f"{path}: {cls} is not a Spark ML model class")
        if cls == PIPELINE_MODEL:
            for stage_dir, meta in stage_metadata(path, doc):
                if meta is None:
                    raise InputError(f"{path}: a stage listed in the metadata has no readable "
                                     f"folder ({stage_dir or 'missing'}): the model folder is "
                                     "incomplete")
        # Every object saved in the folder (stages, nested pipelines, a tuning model's
        # estimator and best model) names its class; pyspark imports what it names.
        for meta_file, name in _saved_classes(path):
            if not _is_spark_class(name):
                where = meta_file.parent.parent.relative_to(path).as_posix()
                raise InputError(f"{path}: {where if where != '.' else 'the model'} is {name}, "
                                 "not a Spark ML class: mdreg loads only Spark's own stages "
                                 "(loading a custom stage would run its code)")
        return doc

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
        core = _model_stage(stages)
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
        )

    def predict(self, model: Any, data: Any) -> Any:
        import pandas as pd  # noqa: PLC0415

        stages = list(model.stages)
        inputs, hints = pipeline_inputs(stages)
        if not isinstance(data, pd.DataFrame):  # rows of numbers: the pipeline's inputs in order
            data = pd.DataFrame(data, columns=inputs or None)
        types = {str(c): spark_type_name(str(data[c].dtype)) or hints.get(str(c), "string")
                 for c in data.columns}
        column = prediction_column(stages)
        with _quiet():
            frame = to_spark_frame(local_session(), data, types)
            rows = model.transform(frame).select(column).collect()
        return pd.Series([plain(r[0]) for r in rows], name=column)

    def template_context(self, model: Any, source: Path) -> dict[str, Any]:
        stages = list(model.stages)
        inputs, hints = pipeline_inputs(stages)
        import pprint  # noqa: PLC0415

        # Python literals, not JSON: score.py reads them as code (None, not null).
        def literal(value: Any) -> str:
            return pprint.pformat(value, width=92, sort_dicts=False)

        return {"prediction_column": literal(prediction_column(stages)),
                "pipeline_inputs": literal(inputs), "type_hints": literal(hints),
                "session_conf": literal(SESSION_CONF), "log4j2_properties": LOG4J2_PROPERTIES}


def _pyspark_class(java_class: str, path: Path) -> Any:
    """pyspark's class for a Spark ML JVM class (``org.apache.spark.ml.x.Y`` ->
    ``pyspark.ml.x.Y``): the same mapping pyspark's own readers use."""
    import importlib  # noqa: PLC0415

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
