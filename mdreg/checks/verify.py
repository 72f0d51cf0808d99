"""``verify``: run the artifact's score.py in a clean process with a sample payload."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mdreg.artifact import layout
from mdreg.errors import InputError

RUNNER = Path(__file__).with_name("_runner.py")
DEFAULT_TIMEOUT = 300.0


@dataclass
class VerifyResult:
    ok: bool
    stage: str  # where it stopped: import, load_model, decode, predict, serialize, timeout, done
    prediction: Any = None
    load_s: float | None = None
    predict_s: float | None = None
    error: str | None = None
    traceback: str | None = None
    stderr: str = field(default="", repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "stage": self.stage, "prediction": self.prediction,
                "load_s": self.load_s, "predict_s": self.predict_s, "error": self.error,
                "traceback": self.traceback}


def default_payload(artifact: Path) -> str:
    sample = artifact / layout.SAMPLE
    if not sample.is_file():
        raise InputError(f"{artifact}: no sample rows kept at prepare time; pass --data or --data-json")
    return sample.read_text(encoding="utf-8")


def payload_from_file(path: Path) -> str:
    """A JSON file is the request body as it is; other sample files are turned into one."""
    if path.suffix.lower() == ".json":
        try:
            text = path.read_text(encoding="utf-8")
            json.loads(text)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: not a readable JSON document ({exc})") from exc
        return text
    from mdreg.artifact.sample import read_sample, to_json_payload  # noqa: PLC0415

    return json.dumps(to_json_payload(read_sample(path)), allow_nan=False)


def verify(artifact: str | Path, payload: str | None = None, *, python: str | None = None,
           timeout: float = DEFAULT_TIMEOUT) -> VerifyResult:
    """Import score.py from ``artifact`` in a fresh interpreter, load the model, and
    predict on ``payload`` (JSON text; default: the sample kept at prepare time)."""
    artifact = Path(artifact).resolve()
    if not (artifact / layout.SCORE_PY).is_file():
        raise InputError(f"{artifact}: no score.py (verify needs an artifact folder)")
    body = default_payload(artifact) if payload is None else payload
    try:
        json.loads(body)
    except json.JSONDecodeError as exc:
        raise InputError(f"the payload is not valid JSON: {exc}") from exc
    with tempfile.TemporaryDirectory(prefix="mdreg-verify-") as tmp:
        payload_file, result_file = Path(tmp, "payload.json"), Path(tmp, "result.json")
        payload_file.write_text(body, encoding="utf-8")
        cmd = [python or sys.executable, str(RUNNER), str(artifact), str(payload_file),
               str(result_file)]
        proc = subprocess.Popen(cmd, cwd=artifact, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True, env=_clean_env())  # own group: killable
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return VerifyResult(False, "timeout", error=f"score.py did not finish within "
                                f"{timeout:g} s; it and its child processes were killed")
        finally:
            _kill_group(proc)  # children the user's code left behind
        if not result_file.is_file():
            return VerifyResult(False, "crash", error=f"the interpreter exited with code "
                                f"{proc.returncode} before reporting", stderr=err.decode(errors="replace"))
        doc = json.loads(result_file.read_text(encoding="utf-8"))
    return VerifyResult(doc["ok"], doc["stage"], doc["prediction"], doc["load_s"],
                        doc["predict_s"], doc["error"], doc["traceback"],
                        err.decode(errors="replace"))


def _clean_env() -> dict[str, str]:
    # A clean process: nothing of this interpreter's import state leaks in through PYTHONPATH.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
