"""``mdreg predict``: the payload encoders, the service's retry advice (429 and 503 with
backoff), and OCI request signing checked by the test OCI server's own verifier."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import mdreg_proc
from tests.oci_server.identity import AuthError, verify_signature
from tests.serve.conftest import IRIS_ROWS, request


def _expected(iris_rf: Path, rows: Any) -> list:
    import joblib
    import pandas as pd

    return joblib.load(iris_rf).predict(pd.DataFrame(rows)).tolist()


@pytest.fixture(scope="module")
def iris_server(iris_artifact) -> Iterator[Any]:
    from tests.serve.conftest import start

    server = start(iris_artifact)
    server.wait_ready()
    yield server
    server.stop()


@pytest.mark.parametrize("fmt", ["json", "npy", "safetensors", "arrow", "parquet"])
def test_predict_sends_each_payload_format(iris_server, iris_x_csv, iris_rf, fmt):
    import pandas as pd

    run = mdreg_proc("predict", iris_server.url, "--data", iris_x_csv, "--payload", fmt)
    assert run.code == 0, run.err
    rows = pd.read_csv(iris_x_csv)
    assert json.loads(run.out) == {"prediction": _expected(iris_rf, rows)}


def test_predict_reads_json_from_stdin_and_prints_one_document(iris_server, iris_rf):
    import subprocess
    import sys

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mdreg",
            "predict",
            iris_server.url + "/predict",
            "-d",
            "-",
            "--json",
        ],
        input=json.dumps(IRIS_ROWS),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["answer"] == {"prediction": _expected(iris_rf, IRIS_ROWS)}
    assert doc["status"] == 200 and doc["attempts"] == 1
    assert doc["url"] == iris_server.url + "/predict" and len(doc["request_id"]) == 32


def test_a_server_error_is_exit_5_with_its_own_reason(iris_server, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": [1]}')
    run = mdreg_proc("predict", iris_server.url, "-d", bad)
    assert run.code == 5
    assert run.err.strip() == (
        f"error: {iris_server.url}/predict: 500 InternalServerError: predict raised "
        "ValueError: request lacks input columns ['sepal length (cm)', 'sepal width (cm)', "
        "'petal length (cm)', 'petal width (cm)']"
    )


def test_nothing_listening_is_exit_5(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        data = tmp_path / "d.json"
        data.write_text("{}")
        run = mdreg_proc("predict", f"http://127.0.0.1:{port}", "-d", data)
    assert run.code == 5 and "no answer: Connection refused" in run.err


class _Scripted(BaseHTTPRequestHandler):
    """Answers the statuses in ``server.script`` in turn, then relays to ``server.target``."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        server: Any = self.server
        body = self.rfile.read(int(self.headers["Content-Length"]))
        server.seen.append(dict(self.headers))
        if server.verify is not None:
            try:
                server.verify(self.path, self.headers, body)
            except AuthError as exc:
                return self._send(401, {"code": "NotAuthenticated", "message": str(exc)})
        if server.script:
            status, extra = server.script.pop(0)
            return self._send(status, {"code": "TooManyRequests", "message": "slow down"}, extra)
        resp = request(
            server.target, body=body, headers={"Content-Type": self.headers["Content-Type"]}
        )
        self._send(resp.status, resp.json())

    def _send(self, status: int, doc: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(doc).encode()
        self.send_response(status)
        for k, v in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def front(iris_server) -> Iterator[Any]:
    """A loopback front for the served model that can refuse or verify signatures."""
    httpd: Any = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    httpd.script, httpd.seen, httpd.verify, httpd.target = [], [], None, iris_server.url
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()


def test_429_and_503_are_retried_with_backoff(front, iris_x_csv, iris_rf):
    front.script = [(429, {"Retry-After": "0"}), (503, {}), (429, {})]
    run = mdreg_proc("predict", front.url, "-d", iris_x_csv, "--json")
    assert run.code == 0, run.err
    doc = json.loads(run.out)
    assert doc["attempts"] == 4 and len(front.seen) == 4
    assert run.err.count("retrying in") == 3


def test_retries_run_out_with_the_last_answer(front, iris_x_csv):
    front.script = [(503, {"Retry-After": "0"})] * 3
    run = mdreg_proc("predict", front.url, "-d", iris_x_csv, "--retries", "2")
    assert run.code == 5
    assert run.err.strip().endswith("503 TooManyRequests: slow down (after 3 attempts)")


def test_a_deployment_request_is_signed_as_oci_verifies(
    front, oci_identity, tmp_path, iris_x_csv, iris_rf
):
    """The test OCI server's verifier (the service's rule: date, (request-target), host,
    content-length, content-type and x-content-sha256 signed for a POST with a body)."""
    import pandas as pd

    from tests.oci_server.identity import new_key, write_user_files

    files = write_user_files(oci_identity, tmp_path / ".oci", new_key())
    front.verify = lambda path, headers, body: verify_signature(
        oci_identity, "POST", path, headers, body, require_body_headers=True
    )
    url = f"{front.url}/ocid1.datasciencemodeldeployment.oc1.iad.test/predict"
    env = {"OCI_CONFIG_LOCATION": str(files.config)}
    for profile in ("DEFAULT", "SESSION"):  # api_key, security_token
        auth = "api_key" if profile == "DEFAULT" else "security_token"
        run = mdreg_proc(
            "predict",
            url,
            "-d",
            iris_x_csv,
            "--sign",
            "--auth",
            auth,
            "--profile",
            profile,
            env=env,
        )
        assert run.code == 0, run.err
        assert json.loads(run.out)["prediction"] == _expected(iris_rf, pd.read_csv(iris_x_csv))
    unsigned = mdreg_proc("predict", url, "-d", iris_x_csv, env=env)  # a loopback URL: unsigned
    assert unsigned.code == 5
    assert "401 NotAuthenticated: the request is not signed" in unsigned.err
