"""``mdreg serve``: the model deployment's HTTP contract, on a real server and real
worker processes ("Invoking a Model Deployment": 411, 413, 405, 500, 503, the 60 s
predict limit, ``opc-request-id``; the predict contract: JSON bodies decoded, others
as bytes)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from tests.serve.conftest import (
    IRIS_ROWS,
    SLOW_PRE_INFERENCE,
    edited,
    post_json,
    process_gone,
    request,
)


def _expected(iris_rf: Path, rows: dict) -> list:
    import joblib
    import pandas as pd

    return joblib.load(iris_rf).predict(pd.DataFrame(rows)).tolist()


def test_predict_answers_what_the_model_predicts(serve, iris_artifact, iris_rf):
    server = serve(iris_artifact)
    resp = post_json(server.url, IRIS_ROWS)
    assert resp.status == 200, resp.body
    assert resp.json() == {"prediction": _expected(iris_rf, IRIS_ROWS)}
    assert resp.headers["content-type"] == "application/json"
    assert len(resp.headers["opc-request-id"]) == 32
    # The same rows as an .npy body reach predict as bytes, which score.py decodes.
    npy = np.asarray([list(r) for r in zip(*IRIS_ROWS.values())])
    from mdreg import payload

    resp = request(
        server.url,
        body=payload.encode(npy, "npy"),
        headers={"Content-Type": payload.content_type("npy")},
    )
    assert resp.status == 200 and resp.json() == {"prediction": _expected(iris_rf, IRIS_ROWS)}
    # A client's own request id comes back, as the service echoes it.
    resp = request(
        server.url,
        body=json.dumps(IRIS_ROWS).encode(),
        headers={"Content-Type": "application/json", "opc-request-id": "client-id-1"},
    )
    assert resp.headers["opc-request-id"] == "client-id-1"


def _raw(url: str, data: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(data)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_the_service_errors_with_one_line_reasons(serve, iris_artifact):
    server = serve(iris_artifact)
    cases = {
        # (method, path, body, headers) -> status
        ("GET", "/predict", None, ()): 405,
        ("PUT", "/predict", b"{}", (("Content-Type", "application/json"),)): 405,
        ("POST", "/health", b"", ()): 405,
        ("GET", "/nowhere", None, ()): 404,
        ("POST", "/predict", b"{not json", (("Content-Type", "application/json"),)): 400,
        ("POST", "/predict", b"", (("Content-Type", "application/json"),)): 400,
        ("POST", "/predict", b"x" * (10 * 1024 * 1024 + 1), ()): 413,
        # wrong columns: score.py raises, which the service reports as a 500
        ("POST", "/predict", b'{"a": [1]}', (("Content-Type", "application/json"),)): 500,
        # a pickled .npy: score.py refuses it (allow_pickle=False)
        ("POST", "/predict", _pickled_npy(), (("Content-Type", "application/x-npy"),)): 500,
    }
    for (method, path, body, headers), status in cases.items():
        resp = request(server.url, method, path, body, dict(headers))
        assert resp.status == status, (method, path, resp.body)
        doc = resp.json()
        assert set(doc) == {"code", "message"} and "\n" not in doc["message"], doc
    assert request(server.url, "GET", "/predict").headers["allow"] == "POST"
    # 411: no Content-Length, a chunked body among them (the service's load balancer
    # wants a length; so does this server, so that a client sees the same answer).
    chunked = _raw(
        server.url,
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    )
    assert chunked.startswith(b"HTTP/1.1 411 "), chunked[:200]
    assert b"chunked" in chunked
    # The server is still answering.
    assert post_json(server.url, IRIS_ROWS).status == 200


def _pickled_npy() -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return buffer.getvalue()


def test_access_log_has_one_line_per_request(serve, iris_artifact):
    server = serve(iris_artifact, "--json-logs")
    post_json(server.url, IRIS_ROWS)
    request(server.url, "GET", "/predict")
    time.sleep(0.3)
    lines = [json.loads(line) for line in server.lines]  # all JSON, the start-up lines too
    assert lines[0]["event"] == "serving" and lines[0]["url"] == server.url
    requests = [d for d in lines if "status" in d and d["path"] != "/health"]
    assert [(d["method"], d["path"], d["status"]) for d in requests] == [
        ("POST", "/predict", 200),
        ("GET", "/predict", 405),
    ]
    assert requests[0]["bytes"] > 0 and requests[0]["ms"] > 0
    assert requests[1]["error"].startswith("GET is not allowed")


def test_health_is_503_while_the_model_loads(serve, iris_artifact, tmp_path):
    slow_load = edited(
        iris_artifact,
        tmp_path / "art",
        "    return load_joblib(path)\n",
        "    import time\n    time.sleep(4)\n    return load_joblib(path)\n",
    )
    server = serve(slow_load, ready=False)
    assert server.url, server.err()
    deadline = time.monotonic() + 30
    while True:  # the socket is bound before the workers start
        try:
            resp = server.health()
            break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert resp.status == 503 and resp.json()["code"] == "ServiceUnavailable"
    assert post_json(server.url, IRIS_ROWS).status == 503
    server.wait_ready()
    assert post_json(server.url, IRIS_ROWS).status == 200


def test_a_model_that_cannot_load_stops_the_server(tmp_path, iris_artifact):
    broken = edited(
        iris_artifact,
        tmp_path / "art",
        "    return load_joblib(path)\n",
        "    raise RuntimeError('the model store is down')\n",
    )
    run = subprocess.run(
        [sys.executable, "-m", "mdreg", "serve", str(broken), "--port", "0", "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 3, run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last == "error: score.py could not load the model: RuntimeError: the model store is down"
    assert "Traceback" not in run.stderr


def test_predict_past_the_timeout_is_a_500_and_its_worker_is_replaced(
    serve, iris_artifact, tmp_path
):
    slow = edited(iris_artifact, tmp_path / "art", *SLOW_PRE_INFERENCE)
    server = serve(slow, "--timeout", "1", env={"SLOW_S": "30"})
    old = server.worker_pids()
    start = time.monotonic()
    resp = post_json(server.url, IRIS_ROWS)  # three rows: sleeps 30 s
    assert resp.status == 500, resp.body
    assert resp.json()["message"] == "predict did not finish within 1 s"
    assert time.monotonic() - start < 10
    server.wait_ready(exclude_pids=old)
    two_rows = {k: v[:2] for k, v in IRIS_ROWS.items()}
    assert post_json(server.url, two_rows).status == 200
    assert all(process_gone(pid) for pid in old)


def test_a_worker_killed_mid_request_costs_that_request_a_500(serve, iris_artifact, tmp_path):
    slow = edited(iris_artifact, tmp_path / "art", *SLOW_PRE_INFERENCE)
    server = serve(slow, env={"SLOW_S": "5"})
    (pid,) = server.worker_pids()
    answers = []
    thread = threading.Thread(target=lambda: answers.append(post_json(server.url, IRIS_ROWS)))
    thread.start()
    time.sleep(1.5)  # inside predict's sleep
    os.kill(pid, signal.SIGKILL)
    thread.join(30)
    assert answers[0].status == 500
    assert answers[0].json()["message"] == "the worker died during predict (killed by SIGKILL)"
    server.wait_ready(exclude_pids={pid})
    two_rows = {k: v[:2] for k, v in IRIS_ROWS.items()}
    assert post_json(server.url, two_rows).status == 200


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_shutdown_finishes_in_flight_requests_and_leaves_no_worker(
    serve, iris_artifact, tmp_path, sig
):
    slow = edited(iris_artifact, tmp_path / "art", *SLOW_PRE_INFERENCE)
    server = serve(slow, "--workers", "2", env={"SLOW_S": "2"})
    pids = server.worker_pids()
    answers = []
    thread = threading.Thread(target=lambda: answers.append(post_json(server.url, IRIS_ROWS)))
    thread.start()
    time.sleep(0.7)
    assert server.stop(sig) == 0, server.err()
    thread.join(30)
    assert answers and answers[0].status == 200, answers
    assert all(process_gone(pid) for pid in pids)
    assert server.lines[-1] == "stopped"


def test_a_port_in_use_is_a_one_line_error(tmp_path, iris_artifact):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run(
            [sys.executable, "-m", "mdreg", "serve", str(iris_artifact), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert run.returncode == 3
    assert run.stderr.strip().startswith(f"error: cannot listen on 127.0.0.1:{port}: ")


def test_a_zip_is_loaded_through_the_gate_and_served(serve, iris_artifact, iris_rf, tmp_path):
    from mdreg.artifact.zipping import zip_artifact

    zipped = tmp_path / "model.zip"
    zip_artifact(iris_artifact, zipped)
    server = serve(zipped)
    assert post_json(server.url, IRIS_ROWS).json() == {"prediction": _expected(iris_rf, IRIS_ROWS)}


def test_import_mdreg_and_help_load_no_server():
    code = (
        "import sys, mdreg, mdreg.cli\n"
        "from mdreg.cli import main\n"
        "sys.argv = ['mdreg', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(' '.join(m for m in ('uvicorn', 'httptools', 'uvloop', 'asyncio', 'http.client',"
        " 'mdreg.server', 'mdreg.invoke') if m in sys.modules), file=sys.stderr)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "serve" in out.stdout and "predict" in out.stdout
    assert out.stderr.strip() == ""


def test_worker_i_gets_slot_i_and_its_replacement_the_same(serve, iris_artifact, tmp_path):
    """The slot score.py's GPU replica code spreads workers by (MDREG_WORKER_INDEX)."""
    tagged = edited(
        iris_artifact,
        tmp_path / "art",
        "    return prediction\n",
        "    return {'slot': os.environ['MDREG_WORKER_INDEX'], 'pid': os.getpid()}\n",
    )
    server = serve(tagged, "--workers", "2")
    seen: dict[str, int] = {}
    deadline = time.monotonic() + 30
    while len(seen) < 2 and time.monotonic() < deadline:
        # two requests at once: both workers are busy, one each
        with ThreadPoolExecutor(2) as pool:
            for resp in pool.map(lambda _: post_json(server.url, IRIS_ROWS), range(2)):
                answer = resp.json()["prediction"]
                seen[answer["slot"]] = answer["pid"]
    assert set(seen) == {"0", "1"}
    os.kill(seen["1"], signal.SIGKILL)
    server.wait_ready(exclude_pids={seen["1"]}, count=2)
    replacement = {w["index"]: w["pid"] for w in server.health().json()["workers"]}
    assert replacement[0] == seen["0"] and replacement[1] != seen["1"]


def test_a_model_id_is_served_from_the_catalog(serve, iris_artifact, iris_rf, tmp_path):
    from tests.conftest import mdreg_proc

    env = {"MDREG_HOME": str(tmp_path / "home")}
    saved = mdreg_proc("save", iris_artifact, "--no-verify", "--json", env=env)
    assert saved.code == 0, saved.err
    model_id = json.loads(saved.out)["id"]
    server = serve(model_id, env=env)
    assert post_json(server.url, IRIS_ROWS).json() == {"prediction": _expected(iris_rf, IRIS_ROWS)}
    assert any(f"loaded {model_id} (model)" in line for line in server.lines)
