"""The catalog commands as a user runs them: real subprocesses, exit codes, stdout for
data, one-line errors on stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mdreg.artifact.manifest import write_manifest
from mdreg.artifact.zipping import zip_artifact
from tests.conftest import Run, mdreg_proc


def run(*args: str | Path, home: Path, stdin: str | None = None) -> Run:
    if stdin is None:
        return mdreg_proc(*args, env={"MDREG_HOME": str(home)})
    proc = subprocess.run(
        [sys.executable, "-m", "mdreg", *map(str, args)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "MDREG_HOME": str(home)},
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def one_error_line(r: Run) -> str:
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.err
    assert "Traceback" not in r.err
    return lines[0]


def test_save_list_show_update_load_delete(art: Path, mdreg_home: Path, tmp_path: Path) -> None:
    r = run(
        "save",
        art,
        "--tag",
        "team=ml",
        "--version-set",
        "iris",
        "--version-label",
        "v1",
        "--description",
        "first",
        home=mdreg_home,
    )
    assert r.code == 0, r.err
    model_id = r.out.strip()
    assert model_id.startswith("mdl-") and len(model_id) == 30 and "\n" not in model_id

    r = run(
        "save",
        art,
        "--json",
        "--display-name",
        "second",
        "--version-set",
        "iris",
        "--version-label",
        "v2",
        home=mdreg_home,
    )
    assert r.code == 0, r.err
    second = json.loads(r.out)
    assert second["display_name"] == "second" and second["version_label"] == "v2"

    r = run("list", home=mdreg_home)
    assert r.code == 0
    lines = r.out.splitlines()
    assert lines[0].split()[:3] == ["ID", "DISPLAY", "NAME"]
    assert [ln.split()[0] for ln in lines[1:]] == [second["id"], model_id]
    assert "iris:v1" in lines[2] and "team=ml" in lines[2]

    r = run("list", "--tag", "team=ml", "--json", home=mdreg_home)
    assert [m["id"] for m in json.loads(r.out)] == [model_id]
    r = run("list", "--name-contains", "SEC", "--json", home=mdreg_home)
    assert [m["id"] for m in json.loads(r.out)] == [second["id"]]
    r = run("list", "--version-set", "iris", "--limit", "1", "--json", home=mdreg_home)
    assert [m["id"] for m in json.loads(r.out)] == [second["id"]]
    assert "use --all or --limit for more" in r.err
    r = run("list", "--all", "--json", home=mdreg_home)
    assert len(json.loads(r.out)) == 2

    r = run("show", model_id, home=mdreg_home)
    assert r.code == 0 and model_id in r.out and "iris : v1" in r.out and "Framework" in r.out
    r = run("show", model_id, "--json", home=mdreg_home)
    shown = json.loads(r.out)
    assert shown["id"] == model_id and shown["description"] == "first"

    r = run(
        "update",
        model_id,
        "--display-name",
        "renamed",
        "--tag",
        "stage=prod",
        "--remove-tag",
        "team",
        "--metadata",
        "Owner=me",
        "--json",
        home=mdreg_home,
    )
    assert r.code == 0, r.err
    updated = json.loads(r.out)
    assert updated["display_name"] == "renamed" and updated["freeform_tags"] == {"stage": "prod"}
    assert {"key": "Owner", "value": "me", "category": "Other", "description": ""} in updated[
        "custom_metadata_list"
    ]

    r = run("load", model_id, "-o", tmp_path / "loaded", home=mdreg_home)
    assert r.code == 0, r.err
    assert r.out.strip() == str(tmp_path / "loaded") and "manifest verified" in r.err
    assert zip_artifact(tmp_path / "loaded", tmp_path / "a.zip").sha256 == shown["artifact_sha256"]

    r = run("delete", model_id, home=mdreg_home, stdin="")  # no terminal, no --yes
    assert r.code == 2 and "--yes" in one_error_line(r)
    r = run("delete", model_id, "--yes", home=mdreg_home)
    assert r.code == 0 and "deleted" in r.err
    r = run("show", model_id, home=mdreg_home)
    assert (
        r.code == 3
        and one_error_line(r) == f"error: no model {model_id} in the local catalog ({mdreg_home})"
    )
    r = run("list", "--json", home=mdreg_home)
    assert [m["id"] for m in json.loads(r.out)] == [second["id"]]

    r = run("gc", "--json", home=mdreg_home)
    assert r.code == 0 and json.loads(r.out)["kept_blobs"] == 1


def test_save_errors_are_one_line_with_their_exit_code(art: Path, mdreg_home: Path) -> None:
    (art / ".mdreg" / "metadata.json").write_text(
        json.dumps(
            {
                **json.loads((art / ".mdreg" / "metadata.json").read_text()),
                "custom": [
                    {"key": "Notes", "value": "x" * 256, "category": "Other", "description": ""}
                ],
            }
        )
    )
    r = run("save", art, home=mdreg_home)
    assert r.code == 3
    assert "'Notes' is 256 characters" in one_error_line(r) and r.out == ""

    r = run("save", art, "--version-label", "v1", home=mdreg_home)
    assert r.code == 2 and "--version-set" in one_error_line(r)
    r = run("save", art, "--tag", "novalue", home=mdreg_home)
    assert r.code == 2 and "--tag 'novalue': write KEY=VALUE" in one_error_line(r)
    r = run("save", art, "--bucket", "oci://b@ns/p/", home=mdreg_home)
    assert r.code == 2 and "no OCI config file at" in one_error_line(r)  # checked before any work
    r = run("save", art.parent / "missing", home=mdreg_home)
    assert r.code == 3 and "no such artifact" in one_error_line(r)

    (art / "score.py").write_text("x = 1\n")
    r = run("save", art, home=mdreg_home)
    assert r.code == 1
    line = one_error_line(r)
    assert (
        "introspection failed:" in line and "score_load_model" in line and "score_predict" in line
    )
    assert not (mdreg_home / "blobs" / "sha256").exists()


def test_ignore_introspection_saves_and_warns(art: Path, mdreg_home: Path) -> None:
    (art / "score.py").write_text("def load_model():\n    return 1\n")
    r = run("save", art, "--ignore-introspection", home=mdreg_home)
    assert r.code == 1  # introspection waved through, but score.py cannot predict
    assert "verify failed at predict" in one_error_line(r) and "--no-verify" in r.err
    r = run("save", art, "--ignore-introspection", "--no-verify", "--json", home=mdreg_home)
    assert r.code == 0, r.err
    assert "saved despite failed introspection checks" not in r.err  # --json: no chatter
    custom = {i["key"]: i["value"] for i in json.loads(r.out)["custom_metadata_list"]}
    assert json.loads(custom["VerifyResult"])["skipped"] is True


def test_save_verifies_and_records_it(art: Path, mdreg_home: Path) -> None:
    r = run("save", art, "--json", home=mdreg_home)
    assert r.code == 0, r.err
    custom = {i["key"]: i["value"] for i in json.loads(r.out)["custom_metadata_list"]}
    verified = json.loads(custom["VerifyResult"])
    assert verified["ok"] is True and verified["parity"] == "matches" and verified["seconds"] > 0


def test_save_refuses_a_score_py_that_answers_differently(art: Path, mdreg_home: Path) -> None:
    text = (art / "score.py").read_text()
    edited = text.replace("prediction = post_inference(", "prediction = 1 + post_inference(")
    assert edited != text
    (art / "score.py").write_text(edited)
    write_manifest(art, "test")  # the edit is deliberate: hashes refreshed, only parity left
    r = run("save", art, home=mdreg_home)
    assert r.code == 1
    assert "verify failed at parity" in one_error_line(r) and "row 0" in r.err


def test_upload_and_load_from_a_file_bucket(art: Path, mdreg_home: Path, tmp_path: Path) -> None:
    bucket = tmp_path / "bucket"
    r = run("upload", art, bucket.as_uri() + "/team/", home=mdreg_home)
    assert r.code == 0, r.err
    uri = r.out.strip()
    assert uri == (bucket / "team" / "rf-artifact.zip").as_uri()
    r = run("load", uri, "-o", tmp_path / "out", "--json", home=mdreg_home)
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["kind"] == "bucket" and doc["manifest"] == "verified"
    r = run("load", uri, "-o", tmp_path / "out", home=mdreg_home)
    assert r.code == 3 and "not empty: use --force" in one_error_line(r)
    r = run("load", uri, "-o", tmp_path / "out", "--force", home=mdreg_home)
    assert r.code == 0
    r = run("upload", art, "oci://b@ns/p/", home=mdreg_home)
    assert r.code == 2 and "OCI backend" in one_error_line(r)
    r = run("save", art, "--large", "--bucket", bucket.as_uri() + "/tmp/", home=mdreg_home)
    assert r.code == 0 and "through the bucket" in r.err
    assert sorted(p.name for p in (bucket / "tmp").iterdir()) == []


def test_bad_ids_and_empty_updates(mdreg_home: Path) -> None:
    r = run("show", "not-an-id", home=mdreg_home)
    assert r.code == 3 and "is not a model id" in one_error_line(r)
    r = run("show", "ocid1.datasciencemodel.oc1.iad.xyz", home=mdreg_home)
    assert r.code == 2 and "OCI backend" in one_error_line(r)
    r = run("update", "mdl-01HZZZZZZZZZZZZZZZZZZZZZZZ", home=mdreg_home)
    assert r.code == 2 and "nothing to update" in one_error_line(r)
    r = run("delete", "mdl-01HZZZZZZZZZZZZZZZZZZZZZZZ", "--yes", home=mdreg_home)
    assert r.code == 3 and "no model" in one_error_line(r)
    r = run("list", home=mdreg_home)
    assert r.code == 0 and r.out.splitlines() == [r.out.splitlines()[0]]  # header only
    r = run("list", "--catalog", "oci", home=mdreg_home)
    assert r.code == 2 and "OCI backend" in one_error_line(r)


@pytest.mark.parametrize("module", ["mdreg", "mdreg.cli"])
def test_import_stays_light(module: str) -> None:
    code = (
        f"import sys, {module}; heavy = [m for m in ('sqlite3', 'mdreg.catalog.local', "
        "'mdreg.storage.file', 'sklearn', 'pandas', 'oci', 'rich.table') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_list_limit_below_one_is_a_usage_error(mdreg_home: Path, limit: str) -> None:
    for extra in ((), ("--all",)):
        r = run("list", "--limit", limit, *extra, home=mdreg_home)
        assert r.code == 2 and r.out == ""
        assert (
            one_error_line(r) == f"error: --limit {limit}: give 1 or more (--all shows every match)"
        )
