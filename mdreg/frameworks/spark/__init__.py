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

The modules, by concern: ``plugin`` (the Framework), ``metadata`` (what a saved folder's
JSON says, read without pyspark), ``session`` (the local SparkSession), ``columns`` (what a
pipeline reads and writes). Each imports only the standard library at module level. The
sample is run through the pipeline by score.py itself (``mdreg.artifact.scoring``), in
the session prepare started.
"""
