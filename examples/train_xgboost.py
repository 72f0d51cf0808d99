"""Train a small XGBoost classifier and write it, with sample data, to a folder.

    python examples/train_xgboost.py examples/out

writes model.json (an XGBClassifier on iris, saved in XGBoost's native JSON format, which
remembers it is a classifier: the artifact's predict() returns class labels), x_sample.csv
and y_sample.csv: the inputs of `mdreg prepare`. A pickled or joblib-dumped XGBClassifier,
a Booster's .json/.ubj file, work the same way.
"""

import sys
from pathlib import Path

import xgboost as xgb
from sklearn.datasets import load_iris


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    X, y = load_iris(return_X_y=True, as_frame=True)
    model = xgb.XGBClassifier(n_estimators=20, max_depth=3, random_state=0).fit(X, y)
    model.save_model(out / "model.json")
    X.sample(30, random_state=0).to_csv(out / "x_sample.csv", index=False)
    y.sample(30, random_state=0).to_csv(out / "y_sample.csv", index=False)
    print(out / "model.json")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "examples/out"))
