"""Train a small LightGBM classifier and write it, with sample data, to a folder.

    python examples/train_lightgbm.py examples/out

writes model.joblib (an LGBMClassifier on iris with string labels), x_sample.csv and
y_sample.csv: the inputs of `mdreg prepare`. The artifact holds LightGBM's native text
model (model.txt) and its predict() returns the labels, as LGBMClassifier.predict does.
A text model file (Booster.save_model) works the same way, predicting probabilities.
"""

import sys
from pathlib import Path

import joblib
import lightgbm as lgb
from sklearn.datasets import load_iris


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    iris = load_iris(as_frame=True)
    # LightGBM stores "sepal length (cm)" as "sepal_length_(cm)": use names it keeps as they are
    X = iris.data.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    y = iris.target.map(dict(enumerate(iris.target_names))).rename("species")
    model = lgb.LGBMClassifier(n_estimators=20, num_leaves=8, random_state=0, verbose=-1).fit(X, y)
    joblib.dump(model, out / "model.joblib")
    X.sample(30, random_state=0).to_csv(out / "x_sample.csv", index=False)
    y.sample(30, random_state=0).to_csv(out / "y_sample.csv", index=False)
    print(out / "model.joblib")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "examples/out"))
