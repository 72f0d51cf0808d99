"""``mdreg deploy`` and ``mdreg deployments`` against the OCI test server, as a user runs
them: real subprocesses, the real SDK, signed requests, and a deployment whose predict
endpoint runs the saved artifact's score.py in a real ``mdreg serve`` (tests/oci_server/
md_api.py, md_hosts.py). Each model server start costs a few seconds: the tests share
them where they can."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.catalog.test_cli import one_error_line
from tests.conftest import Run, mdreg_proc
from tests.oci_server.fixtures import cli_env

pytest.importorskip("uvicorn")
pytestmark = pytest.mark.usefixtures("clean_oci_env")

ROWS = {
    "sepal length (cm)": [5.1, 6.9],
    "sepal width (cm)": [3.5, 3.1],
    "petal length (cm)": [1.4, 5.4],
    "petal width (cm)": [0.2, 2.1],
}


@pytest.fixture
def env(oci_server: Any, oci_files: Any, mdreg_home: Path) -> dict[str, str]:
    # polls every 0.1 s: a model server takes seconds to start, and the cores are shared
    return cli_env(oci_server, oci_files, mdreg_home, MDREG_OCI_POLL_SECONDS="0.1")


@pytest.fixture
def here(env: dict[str, str], cli: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``mdreg ARGS`` in this process (the commands that only read or refuse: a
    subprocess would spend a second importing the SDK)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return cli


@pytest.fixture
def rows(tmp_path: Path) -> Path:
    path = tmp_path / "rows.json"
    path.write_text(json.dumps(ROWS))
    return path


def _run(env: dict[str, str], *args: str | Path) -> Run:
    return mdreg_proc(*args, env=env, timeout=180)


def _expected(iris_rf: Path) -> list[int]:
    import joblib
    import pandas as pd

    return joblib.load(iris_rf).predict(pd.DataFrame(ROWS)).tolist()  # type: ignore[no-any-return]


def _save(env: dict[str, str], art: Path, *extra: str) -> str:
    r = _run(env, "save", art, "--catalog", "oci", "--no-verify", *extra)
    assert r.code == 0, r.err
    return r.out.strip().splitlines()[0]


def test_deploy_predict_update_stop_start_delete(
    art: Path,
    env: dict[str, str],
    here: Any,
    oci_server: Any,
    rows: Path,
    iris_rf: Path,
    tmp_path: Path,
) -> None:
    model = _save(env, art)
    r = _run(env, "deploy", model, "--display-name", "iris-live", "--env", "MDREG_X=1")
    assert r.code == 0, r.err
    url = r.out.strip()
    assert url.startswith(oci_server.url + "/ocid1.datasciencemodeldeployment.")
    assert url.endswith("/predict")
    dep = url.removeprefix(oci_server.url + "/").removesuffix("/predict")
    assert f"deploying {model}: IN_PROGRESS" in r.err and "SUCCEEDED 100%" in r.err
    assert "is ACTIVE (conda pack oci://service-conda-packs@" in r.err
    assert oci_server.calls["get_model_artifact_content"] <= 4  # ranged reads, not a download

    # predict by OCID: looked up, signed, and answered by the artifact's own score.py
    r = _run(env, "predict", dep, "-d", rows, "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["answer"] == {"prediction": _expected(iris_rf)} and doc["url"] == url
    r = _run(env, "predict", url, "-d", rows, "--no-sign")
    assert r.code == 5 and "401 NotAuthenticated: " in r.err

    r = here("deployments", "list")  # piped: plain columns
    assert r.code == 0, r.err
    header, line = r.out.splitlines()
    assert header.split() == [
        "ID",
        "DISPLAY",
        "NAME",
        "STATE",
        "SHAPE",
        "INSTANCES",
        "MODEL",
        "CREATED",
    ]
    assert line.split()[:5] == [dep, "iris-live", "ACTIVE", "VM.Standard.E4.Flex", "1"]
    r = here("deployments", "show", dep, "--json")
    shown = json.loads(r.out)
    assert (shown["model_id"], shown["ocpus"], shown["memory_gb"]) == (model, 1.0, 16.0)
    assert shown["environment"] == {"MDREG_X": "1"} and shown["bandwidth_mbps"] == 10

    # zero-downtime changes while ACTIVE; the bandwidth is refused before any update
    r = here("deployments", "update", dep, "--bandwidth-mbps", "20")
    assert r.code == 2 and "changes only while INACTIVE" in one_error_line(r)
    assert oci_server.calls["update_model_deployment"] == 0
    other = _save(env, Path(shutil.copytree(art, tmp_path / "rf-v2")))
    r = _run(
        env, "deployments", "update", dep, "--instance-count", "2", "--model-id", other, "--json"
    )
    assert r.code == 0, r.err
    updated = json.loads(r.out)
    assert (updated["instance_count"], updated["model_id"], updated["lifecycle_state"]) == (
        2,
        other,
        "ACTIVE",
    )
    r = _run(env, "predict", dep, "-d", rows)
    assert r.code == 0 and json.loads(r.out) == {"prediction": _expected(iris_rf)}, r.err

    # stop: no model server, predict refused; the bandwidth may change now; start again
    r = here("deployments", "stop", dep, "--json")
    assert r.code == 0 and json.loads(r.out)["lifecycle_state"] == "INACTIVE", r.err
    assert oci_server.md_hosts.live_pids() == []
    r = here("predict", dep, "-d", rows)
    assert r.code == 2 and "is INACTIVE: it answers predict only while ACTIVE" in r.err
    r = here("predict", url, "-d", rows, "--sign")
    assert r.code == 5 and "404 NotAuthorizedOrNotFound" in r.err
    r = here("deployments", "update", dep, "--bandwidth-mbps", "20", "--json")
    assert r.code == 0 and json.loads(r.out)["bandwidth_mbps"] == 20, r.err
    r = _run(env, "deployments", "start", dep)
    assert r.code == 0 and r.out.splitlines()[2].split() == ["state", "ACTIVE"], r.err
    r = _run(env, "predict", dep, "-d", rows)
    assert r.code == 0, r.err

    r = here("deployments", "delete", dep)
    assert r.code == 2 and "needs --yes" in one_error_line(r)
    r = _run(env, "deployments", "delete", dep, "--yes", "--quiet")
    assert r.code == 0 and f"deleted model deployment {dep} (iris-live)" in r.err
    assert oci_server.md_hosts.live_pids() == []
    r = here("deployments", "show", dep)
    assert r.code == 3 and f"no model deployment {dep}" in one_error_line(r)
    r = here("deployments", "list", "--json")
    assert json.loads(r.out) == []
    r = here("show", model)  # the model stays in the catalog
    assert r.code == 0, r.err


def test_save_deploy_through_faults(
    art: Path, env: dict[str, str], here: Any, oci_server: Any, rows: Path, iris_rf: Path
) -> None:
    """save --deploy chains both for CI; a 503 while creating is retried (one deployment,
    thanks to the retry token) and a 429 on predict is retried with backoff."""
    oci_server.faults.fail("create_model_deployment", status=503)
    r = _run(env, "save", art, "--catalog", "oci", "--deploy", "--instance-count", "1", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    deployment = doc["deployment"]
    assert deployment["model_id"] == doc["id"] and deployment["lifecycle_state"] == "ACTIVE"
    assert deployment["display_name"] == "rf-artifact"  # the model's name
    assert oci_server.statuses("create_model_deployment") == [503, 200]
    assert len(oci_server.md_store) == 1

    oci_server.faults.fail("predict", status=429, times=2, retry_after=0)
    r = _run(env, "predict", deployment["predict_url"], "-d", rows, "--sign", "--json")
    assert r.code == 0, r.err
    answer = json.loads(r.out)
    assert answer["attempts"] == 3 and answer["answer"] == {"prediction": _expected(iris_rf)}
    assert oci_server.statuses("predict") == [429, 429, 200]

    r = here("save", art, "--catalog", "local", "--deploy")  # refused before saving
    assert r.code == 2 and "--deploy deploys from the OCI catalog" in one_error_line(r)


def test_a_failed_deployment_exits_5_with_the_service_message(
    art: Path, env: dict[str, str], here: Any, oci_server: Any
) -> None:
    r = here("save", art, "--catalog", "oci", "--no-verify")
    assert r.code == 0, r.err
    model = r.out.strip()
    oci_server.faults.fail_work_requests(
        "MODEL_DEPLOYMENT_CREATE",
        code="InternalServerError",
        message="Out of host capacity for shape VM.Standard.E4.Flex",
    )
    r = _run(env, "deploy", model, "--quiet")
    assert r.code == 5, r.err
    line = one_error_line(r)
    assert "FAILED; InternalServerError: Out of host capacity for shape VM.Standard.E4.Flex" in line
    (dep,) = oci_server.md_store
    r = here("deployments", "show", dep, "--json")
    doc = json.loads(r.out)
    assert doc["lifecycle_state"] == "FAILED" and "Out of host capacity" in doc["lifecycle_details"]
    assert oci_server.md_hosts.live_pids() == []
    r = here("deployments", "start", dep)
    assert r.code == 2 and "is FAILED: it can be started only when INACTIVE" in one_error_line(r)
    r = here("deployments", "delete", dep, "--yes", "--no-wait", "--json")
    assert r.code == 0 and json.loads(r.out)["deleted"] == dep, r.err
