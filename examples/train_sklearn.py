"""Train a small scikit-learn model and write it, with sample data, to a folder.

    python examples/train_sklearn.py examples/out

writes model.joblib (a RandomForest on iris), x_sample.csv and y_sample.csv: the
inputs of `mdreg prepare`.
"""

import sys
from pathlib import Path

import joblib
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    X, y = load_iris(return_X_y=True, as_frame=True)
    model = RandomForestClassifier(n_estimators=50, random_state=0).fit(X, y)
    joblib.dump(model, out / "model.joblib")
    X.sample(30, random_state=0).to_csv(out / "x_sample.csv", index=False)
    y.sample(30, random_state=0).to_csv(out / "y_sample.csv", index=False)
    print(out / "model.joblib")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "examples/out"))
