"""2,000 requests at concurrency 32 to a real ``mdreg serve``, good ones mixed with
malformed JSON, empty bodies, 11 MB bodies, wrong content types, a pickled .npy and slow
clients: every good request gets the model's answer, every bad one a 4xx/5xx with a
one-line reason, and the server is alive and answering at the end."""

from __future__ import annotations

import io
import json
import random
import socket
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from tests.serve.conftest import Response, request

pytestmark = pytest.mark.slow

REQUESTS = 2000
CONCURRENCY = 32


def _slow_post(url: str, body: bytes, pieces: int = 4, pause: float = 0.15) -> Response:
    """A client that sends its body in pieces, pausing between them."""
    host, port = url.removeprefix("http://").split(":")
    head = (
        f"POST /predict HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=60) as s:
        s.sendall(head)
        step = -(-len(body) // pieces)
        for i in range(0, len(body), step):
            time.sleep(pause)
            s.sendall(body[i : i + step])
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head_text, _, payload = data.partition(b"\r\n\r\n")
    return Response(int(head_text.split()[1]), {}, payload)


def _npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def test_two_thousand_mixed_requests_at_concurrency_32(serve, iris_artifact, iris_rf, iris):
    import joblib

    X, _ = iris
    model = joblib.load(iris_rf)
    server = serve(iris_artifact, "--workers", "2")
    url = server.url
    rng = random.Random(0)
    json_type = {"Content-Type": "application/json"}

    def good(i: int) -> tuple[str, Any]:
        rows = X.sample(n=1 + i % 20, random_state=i)
        expected = {"prediction": model.predict(rows).tolist()}
        if i % 3 == 0:  # the same rows as a .npy body
            body = _npy(rows.to_numpy())
            resp = request(url, body=body, headers={"Content-Type": "application/x-npy"})
        else:
            resp = request(url, body=json.dumps(rows.to_dict("list")).encode(), headers=json_type)
        return "good", (resp, expected)

    def slow(i: int) -> tuple[str, Any]:
        rows = X.sample(n=5, random_state=i)
        body = json.dumps(rows.to_dict("list")).encode()
        return "good", (_slow_post(url, body), {"prediction": model.predict(rows).tolist()})

    bad_cases: dict[str, tuple[bytes, dict[str, str], int]] = {
        "malformed json": (b'{"sepal length (cm)": [5.1,', json_type, 400),
        "empty body": (b"", json_type, 400),
        "11 MB body": (b"0" * (11 * 1000 * 1000), json_type, 413),
        "npy sent as json": (_npy(np.ones((2, 4))), json_type, 400),
        "text as npy": (b"hello", {"Content-Type": "application/x-npy"}, 500),
        "pickled npy": (
            _npy(np.array([{"a": 1}], dtype=object), allow_pickle=True),
            {"Content-Type": "application/x-npy"},
            500,
        ),
        "wrong columns": (b'{"a": [1, 2]}', json_type, 500),
    }
    bad_names = sorted(bad_cases)

    def bad(i: int) -> tuple[str, Any]:
        name = bad_names[i % len(bad_names)]
        body, headers, status = bad_cases[name]
        return name, (request(url, body=body, headers=headers), status)

    plan = []
    for i in range(REQUESTS):
        roll = rng.random()
        plan.append((slow if roll < 0.02 else bad if roll < 0.25 else good, i))

    start = time.monotonic()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        results = list(pool.map(lambda job: job[0](job[1]), plan))
    elapsed = time.monotonic() - start

    kinds: Counter[str] = Counter()
    for kind, outcome in results:
        kinds[kind] += 1
        if kind == "good":
            resp, expected = outcome
            assert resp.status == 200, resp.body
            assert resp.json() == expected
        else:
            resp, status = outcome
            assert resp.status == status, (kind, resp.body)
            doc = resp.json()
            assert set(doc) == {"code", "message"}, doc
            assert doc["message"] and "\n" not in doc["message"], doc
    assert sum(kinds.values()) == REQUESTS and len(kinds) == 1 + len(bad_cases), kinds
    # Alive and answering, with the same workers: no bad request cost a worker.
    assert server.health().status == 200
    assert len(server.worker_pids()) == 2
    assert not [line for line in server.lines if "died" in line or "Traceback" in line]
    print(f"{REQUESTS} requests in {elapsed:.1f} s: {dict(kinds)}")
