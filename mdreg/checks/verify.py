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
from typing import Any, TypedDict

from mdreg.artifact import layout
from mdreg.errors import InputError

RUNNER = Path(__file__).with_name("_runner.py")
DEFAULT_TIMEOUT = 300.0


class _Sent(TypedDict):
    """What was sent, as VerifyResult records it."""

    payload_format: str
    payload_bytes: int
    response: str | None


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
    payload_format: str = "json"  # how the request body was sent (mdreg.payload.FORMATS)
    payload_bytes: int | None = None  # the request body's size
    response: str | None = None  # the answer asked for: None (score.py's default), json, npy
    #: on the kept sample: "matches" or "differs" from the model's answer at prepare time;
    #: None when not compared (another payload, or no recorded answer)
    parity: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "stage": self.stage,
            "prediction": self.prediction,
            "load_s": self.load_s,
            "predict_s": self.predict_s,
            "error": self.error,
            "traceback": self.traceback,
            "payload_format": self.payload_format,
            "payload_bytes": self.payload_bytes,
            "response": self.response,
            "parity": self.parity,
        }


def default_payload(artifact: Path) -> str:
    sample = artifact / layout.SAMPLE
    if not sample.is_file():
        raise InputError(
            f"{artifact}: no sample rows kept at prepare time; pass --data or --data-json"
        )
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
    from mdreg import payload as codec
    from mdreg.artifact.sample import read_sample

    # A dict of columns, as mdreg.payload.encode sends a frame: the form every score.py
    # reads (ADS's generated ones build a DataFrame from a dict; records fail there).
    return codec.encode(read_sample(path), "json").decode("utf-8")


def request_body(
    artifact: Path | None,
    payload: Any = None,
    payload_format: str = "json",
    response: str | None = None,
) -> bytes:
    """The request body ``verify`` sends: ``payload`` (see ``verify``) encoded as
    ``payload_format`` with ``mdreg.payload.encode``, asking for ``response`` in-band
    where the format can carry it (json, safetensors)."""
    from mdreg import payload as codec

    codec.content_type(payload_format)  # an unknown format: InputError
    if payload is None and artifact is None:
        raise InputError("no data to send: give a file or JSON text")
    if response is not None and response not in codec.RESPONSE_FORMATS:
        raise InputError(
            f"unknown response format {response!r}: use one of {', '.join(codec.RESPONSE_FORMATS)}"
        )
    in_band = response if payload_format in ("json", "safetensors") else None
    if isinstance(payload, (bytes, bytearray, memoryview)):  # a body encoded already
        if payload_format != "json":
            return bytes(payload)
        payload = bytes(payload).decode("utf-8", errors="replace")
    if payload_format == "json" and (payload is None or isinstance(payload, (str, Path))):
        if isinstance(payload, Path):
            text = payload_from_file(payload)
        elif payload is None:
            assert artifact is not None  # checked above
            text = default_payload(artifact)
        else:
            text = payload
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"the payload is not valid JSON: {exc}") from exc
        if in_band is None:
            return text.encode("utf-8")
        if isinstance(doc, dict) and "data" in doc and set(doc) <= _ENVELOPE_KEYS:
            doc = {**doc, "response": in_band}  # an ADS envelope says it beside its data
        else:
            doc = {"data": doc, "response": in_band}
        return json.dumps(doc, allow_nan=False, separators=(",", ":")).encode("utf-8")
    data = _payload_data(artifact, payload) if payload_format != "json" else payload
    try:
        return codec.encode(data, payload_format, response=in_band)
    except (ValueError, TypeError) as exc:  # pyarrow's ArrowInvalid/ArrowTypeError among them
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"the sample cannot be sent as {payload_format}: {first}") from exc


_ENVELOPE_KEYS = {"data", "data_type", "is_bytes", "response"}


def _payload_data(artifact: Path | None, payload: Any) -> Any:
    """The data behind ``payload`` (None: the kept sample; JSON text; a sample file), as
    ``read_sample`` gives it: a DataFrame, or an array for rows of plain numbers."""
    from mdreg.artifact.sample import from_json, read_sample

    if payload is None and artifact is not None:
        default_payload(artifact)  # no sample kept: the usual message
        return read_sample(artifact / layout.SAMPLE)
    if isinstance(payload, Path):
        return read_sample(payload)
    if isinstance(payload, str):
        try:
            doc = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise InputError(f"the payload is not valid JSON: {exc}") from exc
        return from_json(doc, "the payload")
    return payload  # a DataFrame, an array, a dict of arrays: encode decides


def verify(
    artifact: str | Path,
    payload: Any = None,
    *,
    payload_format: str = "json",
    response: str | None = None,
    python: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    load_only: bool = False,
) -> VerifyResult:
    """Import score.py from ``artifact`` in a fresh interpreter, load the model, and
    predict on ``payload`` sent as ``payload_format`` (one of ``mdreg.payload.FORMATS``).

    ``payload``: None (the sample kept at prepare time), JSON text, a sample file
    (a ``Path``: JSON, CSV, Parquet, .npy...), data (a DataFrame, an array, a dict of
    arrays), or ``bytes``, a body encoded already and sent as it is. score.py gets a
    JSON body JSON-decoded and any other as raw bytes, as the deployment server hands
    them. ``response="npy"`` asks for arrays back as base64 .npy (in the body for json
    and safetensors, through ``MDREG_RESPONSE`` otherwise); ``mdreg.payload.decode_response``
    reads the answer. On the kept sample, the answer must match the model's own (parity).
    ``load_only``: import score.py and call load_model(), no request (an artifact without
    a sample).
    """
    artifact = layout.existing_artifact(artifact).resolve()
    if python is not None:
        python = _interpreter(python)
    if artifact.is_file():
        from mdreg.artifact.unzipping import extracted

        with extracted(artifact, "verify") as root:
            return verify(
                root,
                payload,
                payload_format=payload_format,
                response=response,
                python=python,
                timeout=timeout,
                load_only=load_only,
            )
    if not (artifact / layout.SCORE_PY).is_file():
        raise InputError(f"{artifact}: no score.py (verify needs an artifact folder or zip)")
    body = b"" if load_only else request_body(artifact, payload, payload_format, response)
    env = _clean_env()
    if response is not None and payload_format not in ("json", "safetensors"):
        env["MDREG_RESPONSE"] = response  # no place in the body: the deployment's setting
    sent: _Sent = {
        "payload_format": payload_format,
        "payload_bytes": len(body),
        "response": response,
    }
    with tempfile.TemporaryDirectory(prefix="mdreg-verify-") as tmp:
        # The runner JSON-decodes a .json payload file and hands any other over as bytes.
        suffix = ".json" if payload_format == "json" else f".{payload_format}"
        payload_file, result_file = Path(tmp, "payload" + suffix), Path(tmp, "result.json")
        payload_file.write_bytes(body)
        cmd = [
            python or sys.executable,
            str(RUNNER),
            str(artifact),
            "-" if load_only else str(payload_file),
            str(result_file),
        ]
        try:
            proc = subprocess.Popen(
                cmd,
                cwd=artifact,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                env=env,
            )  # own group: killable
        except OSError as exc:  # not an executable after all (a script for another machine...)
            raise InputError(f"--python {cmd[0]}: cannot run it: {exc.strerror or exc}") from exc
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return VerifyResult(
                False,
                "timeout",
                error=f"score.py did not finish within "
                f"{timeout:g} s; it and its child processes were killed",
                **sent,
            )
        finally:
            _kill_group(proc)  # children the user's code left behind
        if not result_file.is_file():
            return VerifyResult(
                False,
                "crash",
                error=f"the interpreter exited with code {proc.returncode} before reporting",
                stderr=err.decode(errors="replace"),
                **sent,
            )
        doc = json.loads(result_file.read_text(encoding="utf-8"))
    result = VerifyResult(
        doc["ok"],
        doc["stage"],
        doc["prediction"],
        doc["load_s"],
        doc["predict_s"],
        doc["error"],
        doc["traceback"],
        err.decode(errors="replace"),
        **sent,
    )
    if payload is None and result.ok and not load_only:
        _check_parity(artifact, result)
    return result


def _interpreter(python: str) -> str:
    """The executable ``--python`` names (a path, or a name looked up on PATH as the
    shell would), or an InputError naming it."""
    import shutil

    found = shutil.which(python)
    if found is None:
        if os.sep not in python:
            what = "not found on PATH"
        elif os.path.isdir(python):
            what = "a folder, not an interpreter"
        elif os.path.exists(python):
            what = "not executable"
        else:
            what = "no such file"
        raise InputError(
            f"--python {python}: {what}: give the path of the inference environment's python"
        )
    return found


def _check_parity(artifact: Path, result: VerifyResult) -> None:
    """On the kept sample, score.py must answer as the model did at prepare time."""
    from mdreg.checks import parity

    expected = parity.read_expected(artifact)
    if expected is None:
        return
    answer = result.prediction
    if result.response == "npy":
        from mdreg.payload import decode_response, jsonable

        answer = jsonable(decode_response(answer))
    differs = parity.compare(expected, answer)
    result.parity = "differs" if differs else "matches"
    if differs:
        result.ok, result.stage = False, "parity"
        result.error = (
            f"score.py's answer differs from the model's own prediction on the "
            f"kept sample: {differs}"
        )


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
