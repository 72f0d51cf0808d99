"""The MLflow side of the prepare job, run as a whole process in the MLflow venv.

    python mlflow_job.py MODEL.joblib X.csv Y.csv OUT_DIR [--pip-requirements]

``mlflow.sklearn.save_model`` with a signature inferred from the sample, MLflow's own
packaging of a scikit-learn model into a servable folder (MLmodel, the model, conda.yaml,
python_env.yaml, requirements.txt). By default MLflow infers the pip requirements by
loading the model in a subprocess; ``--pip-requirements`` gives them instead (the
fastest way to call it). MLflow 3 saves scikit-learn models with skops, which refuses
sklearn's Tree type unless it is named as trusted.
"""

from __future__ import annotations

import sys


def main() -> None:
    model_path, x_csv, y_csv, out, *flags = sys.argv[1:]
    import joblib
    import mlflow.sklearn
    import pandas as pd
    import sklearn
    from mlflow.models import infer_signature

    model = joblib.load(model_path)
    X, y = pd.read_csv(x_csv), pd.read_csv(y_csv).iloc[:, 0]
    extra = {}
    if "--pip-requirements" in flags:
        extra["pip_requirements"] = [f"scikit-learn=={sklearn.__version__}"]
    mlflow.sklearn.save_model(
        model,
        out,
        signature=infer_signature(X, y),
        skops_trusted_types=["sklearn.tree._tree.Tree"],
        **extra,
    )


if __name__ == "__main__":
    main()
