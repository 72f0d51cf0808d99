"""Run an artifact's score.py as the deployment server would. Executed as a script in a
fresh interpreter (possibly an inference environment without mdreg): standard library only.

    python _runner.py ARTIFACT_DIR PAYLOAD_FILE RESULT_FILE

PAYLOAD_FILE "-" stops after load_model(): a check that the model loads, with no sample.
"""

import importlib
import json
import os
import sys
import time
import traceback


class _Done(Exception):
    pass


def main(artifact_dir, payload_file, result_file):
    result = {
        "ok": False,
        "stage": "import",
        "error": None,
        "traceback": None,
        "prediction": None,
        "load_s": None,
        "predict_s": None,
    }
    try:
        os.chdir(artifact_dir)
        sys.path.insert(0, artifact_dir)
        start = time.perf_counter()
        score = importlib.import_module("score")  # predict's default argument loads the model here
        result["stage"] = "load_model"
        model = score.load_model()
        result["load_s"] = time.perf_counter() - start
        if model is None:
            raise RuntimeError("load_model() returned None: it must return the model")
        if payload_file == "-":
            result["ok"] = True
            result["stage"] = "done"
            raise _Done
        result["stage"] = "decode"
        with open(payload_file, "rb") as f:
            body = f.read()
        # The server hands predict() the JSON-decoded body, or the raw bytes of a non-JSON one.
        data = json.loads(body) if payload_file.endswith(".json") else body
        result["stage"] = "predict"
        start = time.perf_counter()
        prediction = score.predict(data)
        result["predict_s"] = time.perf_counter() - start
        result["stage"] = "serialize"
        try:
            text = json.dumps(prediction)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"predict() returned something that is not JSON-serializable: {exc}"
            ) from None
        result["prediction"] = json.loads(text)
        result["ok"] = True
        result["stage"] = "done"
    except _Done:
        pass
    except BaseException as exc:  # noqa: BLE001 - report everything: it is the user's code
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc()
    with open(result_file, "w", encoding="utf-8") as f:
        json.dump(result, f, default=repr)


if __name__ == "__main__":
    main(*sys.argv[1:4])
