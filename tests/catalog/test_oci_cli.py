"""``mdreg`` against the OCI test server from the command line, as a user runs it: real
subprocesses that find the server through the endpoint variables, a real OCI config file,
exit codes and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.catalog.test_cli import one_error_line
from tests.conftest import Run, mdreg_proc
from tests.oci_server.fixtures import NAMESPACE, USER_ID, cli_env

pytestmark = pytest.mark.usefixtures("clean_oci_env")


def _run(env: dict[str, str], *args: str | Path) -> Run:
    return mdreg_proc(*args, env=env, timeout=120)


def test_save_list_show_update_load_delete(
    art: Path, mdreg_home: Path, oci_server: Any, oci_files: Any, tmp_path: Path
) -> None:
    env = cli_env(oci_server, oci_files, mdreg_home)
    r = _run(
        env,
        "save",
        art,
        "--catalog",
        "oci",
        "--tag",
        "team=ml",
        "--version-set",
        "iris",
        "--version-label",
        "v1",
    )
    assert r.code == 0, r.err
    model_id = r.out.strip()
    assert model_id.startswith("ocid1.datasciencemodel.") and "to the oci catalog" in r.err

    r = _run(env, "list", "--catalog", "oci")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0].split()[:3] == ["ID", "DISPLAY", "NAME"] and lines[1].split()[0] == model_id
    assert "iris:v1" in lines[1] and "team=ml" in lines[1]

    r = _run(env, "show", model_id, "--json")
    assert r.code == 0, r.err
    record = json.loads(r.out)
    assert (record["catalog"], record["created_by"], record["version_label"]) == (
        "oci",
        USER_ID,
        "v1",
    )
    assert record["artifact_size"] > 0 and len(record["artifact_sha256"]) == 64

    r = _run(env, "update", model_id, "--tag", "stage=prod", "--json")
    assert r.code == 0 and json.loads(r.out)["freeform_tags"] == {"team": "ml", "stage": "prod"}

    r = _run(env, "load", model_id, "-o", tmp_path / "out", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert (doc["kind"], doc["manifest"], doc["zip_sha256"]) == (
        "model",
        "verified",
        record["artifact_sha256"],
    )
    assert (tmp_path / "out" / "score.py").read_bytes() == (art / "score.py").read_bytes()

    r = _run(env, "delete", model_id, "--yes")
    assert r.code == 0 and f"deleted {model_id}" in r.err
    r = _run(env, "show", model_id)
    assert r.code == 3 and "no model" in one_error_line(r)


def test_upload_load_and_save_through_oci_buckets(
    art: Path, mdreg_home: Path, oci_server: Any, oci_files: Any, tmp_path: Path
) -> None:
    env = cli_env(oci_server, oci_files, mdreg_home)
    service = {**env, "MDREG_OCI_MIN_PART_SIZE": "10MiB"}  # the service's floor
    r = _run(service, "upload", art, f"oci://artifacts@{NAMESPACE}/team/", "--part-size", "8MiB")
    assert r.code == 2 and one_error_line(r) == (
        "error: part_size 8 MiB is below Object Storage's minimum part size "
        "(min_part_size = 10 MiB): choose 10 MiB to 50 GiB"
    )
    r = _run(env, "upload", art, f"oci://artifacts@{NAMESPACE}/team/", "--part-size", "1MiB")
    assert r.code == 0, r.err
    uri = r.out.strip()
    assert uri == f"oci://artifacts@{NAMESPACE}/team/rf-artifact.zip"
    r = _run(env, "load", uri, "-o", tmp_path / "out", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["kind"] == "bucket" and json.loads(r.out)["manifest"] == "verified"

    # security_token auth (the SESSION profile), through the bucket route
    r = _run(
        env,
        "save",
        art,
        "--catalog",
        "oci",
        "--auth",
        "security_token",
        "--profile",
        "SESSION",
        "--bucket",
        f"oci://staging@{NAMESPACE}/tmp/",
        "--json",
    )
    assert r.code == 0, r.err
    result = json.loads(r.out)
    assert result["route"] == "bucket" and result["bucket_object"] is None
    assert oci_server.store.buckets[(NAMESPACE, "staging")] == {}  # the temporary object is gone
    assert oci_server.calls["export_model_artifact"] == 1
    assert ("session", USER_ID) in oci_server.principals


def test_a_failed_export_exits_5_and_leaves_no_model(
    art: Path, mdreg_home: Path, oci_server: Any, oci_files: Any
) -> None:
    env = cli_env(oci_server, oci_files, mdreg_home)
    oci_server.faults.fail_work_requests(
        "EXPORT_MODEL_ARTIFACT",
        code="InternalServerError",
        message="Copying the artifact from Object Storage failed",
    )
    r = _run(env, "save", art, "--catalog", "oci", "--bucket", f"oci://staging@{NAMESPACE}/tmp/")
    assert r.code == 5, r.err
    line = one_error_line(r)
    assert "work request" in line and "FAILED; InternalServerError: Copying the artifact" in line
    assert [m["lifecycleState"] for m in oci_server.store.models.values()] == ["DELETED"]
    assert oci_server.calls["delete_model"] == 1
    assert oci_server.store.buckets[(NAMESPACE, "staging")] == {}
    r = _run(env, "list", "--catalog", "oci", "--json")
    assert r.code == 0 and json.loads(r.out) == []


def test_auth_problems_are_one_line_errors(
    mdreg_home: Path, oci_server: Any, oci_files: Any, tmp_path: Path
) -> None:
    env = cli_env(oci_server, oci_files, mdreg_home)
    r = _run(env, "list", "--catalog", "oci", "--config-file", tmp_path / "missing")
    assert r.code == 2 and "no OCI config file at" in one_error_line(r)
    r = _run(env, "list", "--catalog", "oci", "--auth", "resource_principal")
    assert r.code == 2 and "works inside OCI jobs" in one_error_line(r)
    r = _run(env, "show", "ocid1.datasciencemodel.oc1.iad.nothing", "--auth", "password")
    assert r.code == 2 and "unknown OCI auth 'password'" in one_error_line(r)
    oci_server.faults.fail("list_models", status=401, code="NotAuthenticated", message="nope")
    r = _run(env, "list", "--catalog", "oci")
    line = one_error_line(r)
    assert r.code == 5 and "HTTP 401 NotAuthenticated: nope (opc-request-id " in line
