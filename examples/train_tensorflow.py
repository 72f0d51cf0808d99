"""Train a small Keras model and write it, with sample data, to a folder.

    python examples/train_tensorflow.py examples/out

writes model.keras (a small Dense classifier: 3 classes from 4 numeric features) and
x_sample.csv: the inputs of `mdreg prepare`. Prints the model's path (the only line on
stdout). Needs only `pip install 'mdreg[tensorflow]'`. The same model also works saved
the other ways mdreg reads: model.save("model.h5") (legacy HDF5) or
model.export("saved_model_dir") (an inference-only SavedModel folder).

The model outputs class probabilities (one column per class), so no y_sample is written:
the output schema comes from the model's own predictions on x_sample.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's start-up lines

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

FEATURES = ["length", "width", "depth", "weight"]


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(600, 4)), columns=FEATURES)
    score = X["length"] + 0.5 * X["width"] - X["weight"]
    y = np.digitize(score, [-0.7, 0.7])  # classes 0, 1, 2

    inputs = keras.Input(shape=(len(FEATURES),), name="measurements")
    hidden = keras.layers.Dense(16, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(hidden))
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(X.to_numpy("float32"), y, epochs=20, batch_size=32, verbose=0)
    model.save(out / "model.keras")
    X.sample(30, random_state=0).to_csv(out / "x_sample.csv", index=False)
    print(out / "model.keras")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "examples/out"))
