"""The ADS side of each benchmark job, run as a whole process in the ADS venv.

    python ads_job.py prepare MODEL.joblib X.csv Y.csv OUT_DIR
    python ads_job.py introspect ARTIFACT_DIR
    python ads_job.py validate ARTIFACT_DIR      # ADS's validator script, as __main__
    python ads_job.py zip ARTIFACT_DIR OUT.zip   # ads.model.common.utils.zip_artifact

Each does what an ADS user writes for that job (imports included: they are part of the
cost a user pays), after ads_offline's patches (see that module).
"""

from __future__ import annotations

import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ads_offline  # patches first

CONDA_SLUG = ads_offline.SERVICE_PACK["slug"]


def prepare(model_path: str, x_csv: str, y_csv: str, out: str) -> None:
    import joblib
    import pandas as pd
    from ads.model.framework.sklearn_model import SklearnModel

    model = joblib.load(model_path)
    X, y = pd.read_csv(x_csv), pd.read_csv(y_csv).iloc[:, 0]
    SklearnModel(estimator=model, artifact_dir=out).prepare(
        inference_conda_env=CONDA_SLUG,
        inference_python_version="3.11",
        X_sample=X,
        y_sample=y,
        force_overwrite=True,
    )
    assert os.path.isfile(os.path.join(out, "score.py")), "ADS wrote no score.py"


def introspect(artifact: str) -> None:
    from ads.model.framework.sklearn_model import SklearnModel

    model = SklearnModel.from_model_artifact(
        uri=artifact, artifact_dir=artifact, force_overwrite=True
    )
    result = model.introspect()
    failed = result[result["Result"] == "Failed"] if "Result" in result else result.iloc[0:0]
    if len(failed):
        raise SystemExit(f"ADS introspect failed:\n{failed}")


def validate(artifact: str) -> None:
    import runpy

    module = (
        "ads.model.model_artifact_boilerplate.artifact_introspection_test.model_artifact_validate"
    )
    sys.argv = [module, "--artifact", artifact]
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # it writes test_json_output.json and test_html_output.html here
        runpy.run_module(module, run_name="__main__")


def zip_(artifact: str, out: str) -> None:
    import time

    from ads.model.common.utils import zip_artifact

    start = time.perf_counter()
    path = zip_artifact(artifact)  # a temp file under $TMPDIR (peers.py sets it beside OUT)
    print(f"inner_seconds={time.perf_counter() - start:.3f}")
    shutil.move(path, out)


def main() -> None:
    job, *args = sys.argv[1:]
    args = [os.path.abspath(a) for a in args]  # ADS's zip mangles relative folder paths
    {"prepare": prepare, "introspect": introspect, "validate": validate, "zip": zip_}[job](*args)


if __name__ == "__main__":
    main()
