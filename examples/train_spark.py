"""Train a small Spark ML pipeline and write it, with sample data, to a folder.

    python examples/train_spark.py examples/out

writes spark_model/ (a fitted PipelineModel: StringIndexer, VectorAssembler,
LogisticRegression, saved with model.write().save()) and x_sample.csv: the inputs of
`mdreg prepare`. Needs pyspark and Java 17+; starts a local SparkSession (a JVM: seconds).
"""

import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd


def data(n: int = 200, seed: int = 0) -> pd.DataFrame:
    """Customers: tenure in months, monthly charge, plan; label 1.0 when they left."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "tenure": rng.integers(1, 72, n).astype(float),
            "monthly_charge": rng.normal(70, 20, n).round(2),
            "plan": rng.choice(["basic", "standard", "premium"], n),
        }
    )
    risk = 0.04 * (frame.monthly_charge - 70) - 0.05 * (frame.tenure - 36) + (frame.plan == "basic")
    frame["churned"] = (risk + rng.normal(0, 0.5, n) > 0).astype(float)
    return frame


def main(out: Path) -> None:
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # pyspark 4 warns about pandas 3 on start; this script hands Spark plain rows only.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import StringIndexer, VectorAssembler
    from pyspark.sql import SparkSession

    out.mkdir(parents=True, exist_ok=True)
    spark = (
        SparkSession.builder.master("local[1]")
        .appName("train_spark")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        frame = data()
        rows = [tuple(r) for r in frame.itertuples(index=False)]
        train = spark.createDataFrame(
            rows, "tenure double, monthly_charge double, plan string, churned double"
        )
        pipeline = Pipeline(
            stages=[
                StringIndexer(inputCol="plan", outputCol="plan_idx", handleInvalid="keep"),
                VectorAssembler(
                    inputCols=["tenure", "monthly_charge", "plan_idx"], outputCol="features"
                ),
                LogisticRegression(labelCol="churned", maxIter=50, regParam=0.01),
            ]
        )
        model = pipeline.fit(train)
        model.write().overwrite().save(str(out / "spark_model"))
    finally:
        spark.stop()
    frame.drop(columns="churned").sample(30, random_state=0).to_csv(
        out / "x_sample.csv", index=False
    )
    print(out / "spark_model")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "examples/out"))
