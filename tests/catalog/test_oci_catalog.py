"""The OCI catalog against the OCI test server: the shared suite (api_key and
security_token auth), a round trip as each principal, and what only OCI shows: rollback
of half-made models, work requests, retries, the service's error codes."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mdreg.catalog import ModelNotFoundError, open_catalog
from mdreg.catalog.oci import OciCatalog
from mdreg.errors import EXIT_REMOTE, RemoteError, UsageError
from mdreg.oci.errors import OciServiceError
from mdreg.oci.settings import MIB, OciOptions, using
from mdreg.storage.oci import OciBucket
from tests.catalog.suite import CatalogSuite, details, sha256
from tests.oci_server.fixtures import COMPARTMENT, NAMESPACE, PROJECT, settings_for

pytestmark = pytest.mark.usefixtures("clean_oci_env")


class TestOciCatalog(CatalogSuite):
    """The suite's default compartment is the one it names (``ocid1.compartment.oc1..c``),
    as a notebook's would be: OCI lists one compartment at a time."""

    @pytest.fixture
    def catalog(self, oci_server, oci_settings):  # type: ignore[no-untyped-def]
        with OciCatalog(oci_settings) as cat:
            yield cat

    @pytest.fixture
    def bucket(self, oci_server, oci_settings):  # type: ignore[no-untyped-def]
        return OciBucket("staging", NAMESPACE, settings=oci_settings)

    def test_list_by_compartment_and_project(self, catalog, make_zip) -> None:  # type: ignore[no-untyped-def]
        """OCI's ListModels needs a compartment, so a project filter applies within the
        compartment listed (the default one unless given)."""
        a = catalog.save(
            details(
                "a",
                compartment_id="ocid1.compartment.oc1..a",
                project_id="ocid1.datascienceproject.oc1..p",
            ),
            make_zip(),
        ).id
        catalog.save(details("b", compartment_id="ocid1.compartment.oc1..b"), make_zip())
        d = catalog.save(details("d", project_id="ocid1.datascienceproject.oc1..p"), make_zip()).id
        assert [r.id for r in catalog.list(compartment_id="ocid1.compartment.oc1..a")] == [a]
        assert [
            r.id
            for r in catalog.list(
                compartment_id="ocid1.compartment.oc1..a",
                project_id="ocid1.datascienceproject.oc1..p",
            )
        ] == [a]
        assert [r.id for r in catalog.list(project_id="ocid1.datascienceproject.oc1..p")] == [d]


def test_each_principal_saves_lists_loads_and_deletes(
    oci_server, oci_files, principal_auth, make_zip, tmp_path: Path
) -> None:
    settings = settings_for(oci_server, oci_files, principal_auth)
    z = make_zip(b"weights" * 1000)
    with OciCatalog(settings) as cat:
        record = cat.save(details("m", version_set="iris", version_label="v1"), z)
        assert [r.id for r in cat.list(version_set="iris")] == [record.id]
        cat.download_artifact(record.id, tmp_path / "down.zip")
        assert (tmp_path / "down.zip").read_bytes() == z.read_bytes()
        cat.delete(record.id)
        assert cat.list() == []
    who = {
        "resource_principal": "ocid1.datasciencejobrun.oc1.iad.testrun",
        "instance_principal": "ocid1.instance.oc1.iad.testinstance",
    }[principal_auth]
    assert record.created_by == who


@pytest.fixture
def cat(oci_server, oci_files):  # type: ignore[no-untyped-def]
    with OciCatalog(settings_for(oci_server, oci_files)) as c:
        yield c


def _models(server: Any) -> dict[str, str]:
    return {m["id"]: m["lifecycleState"] for m in server.store.models.values()}


# -- what a save sends ---------------------------------------------------------------------


def test_a_save_sends_what_the_service_expects(oci_server, cat, make_zip) -> None:
    z = make_zip()
    record = cat.save(
        details(
            "m",
            description="d",
            freeform_tags={"t": "1"},
            defined_metadata_list=[{"key": "ArtifactTestResults", "value": {"ok": True}}],
            input_schema={"schema": [], "version": "1.1"},
            provenance={"git_commit": "abc", "uncommitted_changes": False},
        ),
        z,
    )
    stored = oci_server.store.models[record.id]
    assert stored["compartmentId"] == COMPARTMENT and stored["projectId"] == PROJECT
    assert (
        stored["inputSchema"] == '{"schema":[],"version":"1.1"}'
    )  # OCI takes schemas as JSON text
    assert stored["definedMetadataList"] == [{"key": "ArtifactTestResults", "value": '{"ok":true}'}]
    assert stored["customMetadataList"] == [
        {
            "key": "ArtifactSha256",
            "value": sha256(z),
            "category": "Other",
            "description": "sha256 of the artifact zip, recorded by mdreg",
        }
    ]
    assert oci_server.store.provenance[record.id]["gitCommit"] == "abc"
    assert record.custom_metadata_list == [] and record.artifact_sha256 == sha256(z)
    assert record.provenance == {"git_commit": "abc"}  # OCI has no field for the rest
    assert [op for op, _ in oci_server.log if op.startswith("create")] == [
        "create_model",
        "create_model_provenance",
        "create_model_artifact",
    ]


def test_the_artifact_upload_is_retried_on_503_and_resets(
    oci_server, cat, make_zip, tmp_path
) -> None:
    z = make_zip(b"x" * 300_000)
    oci_server.faults.fail("create_model_artifact", status=503, times=1)
    oci_server.faults.reset("create_model_artifact", times=1, after_bytes=50_000)
    seen: list[int] = []
    record = cat.save(details(), z, progress=seen.append)
    assert oci_server.statuses("create_model_artifact") == [503, 0, 200]
    assert sum(seen) == z.stat().st_size
    cat.download_artifact(record.id, tmp_path / "d.zip")
    assert (tmp_path / "d.zip").read_bytes() == z.read_bytes()


@pytest.mark.parametrize("status, code", [(400, "InvalidParameter"), (503, "ServiceUnavailable")])
def test_a_failed_artifact_upload_deletes_the_model(
    oci_server, cat, make_zip, status, code
) -> None:
    oci_server.faults.fail("create_model_artifact", status=status, code=code, times=None)
    with pytest.raises(OciServiceError) as err:
        cat.save(details("m"), make_zip())
    assert (
        err.value.exit_code == EXIT_REMOTE and err.value.status == status and err.value.code == code
    )
    assert err.value.opc_request_id in str(err.value)
    assert list(_models(oci_server).values()) == ["DELETED"]
    assert oci_server.statuses("delete_model") == [204]
    assert cat.list() == []


def test_a_failed_provenance_deletes_the_model(oci_server, cat, make_zip) -> None:
    oci_server.faults.fail("create_model_provenance", status=400, code="InvalidParameter")
    with pytest.raises(OciServiceError, match="recording the provenance"):
        cat.save(details("m"), make_zip())
    assert list(_models(oci_server).values()) == ["DELETED"]


def test_a_failed_rollback_is_named_in_the_error(oci_server, cat, make_zip) -> None:
    oci_server.faults.fail("create_model_artifact", status=400, code="InvalidParameter")
    oci_server.faults.fail("delete_model", status=400, code="InvalidParameter")
    with pytest.raises(OciServiceError) as err:
        cat.save(details("m"), make_zip())
    [model_id] = _models(oci_server)
    assert f"the half-made model {model_id} could not be deleted" in str(err.value)
    assert f"mdreg delete {model_id} --yes" in str(err.value)


def test_an_interrupted_save_deletes_the_model(oci_server, cat, make_zip) -> None:
    def interrupt(n: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cat.save(details("m"), make_zip(b"y" * 100_000), progress=interrupt)
    assert list(_models(oci_server).values()) == ["DELETED"]


# -- through a bucket ----------------------------------------------------------------------


def test_export_follows_the_work_request(oci_server, cat, make_zip) -> None:
    z = make_zip(b"z" * 200_000)
    bucket = OciBucket("staging", NAMESPACE, clients=cat.clients)
    bucket.put("tmp/m.zip", z)
    seen: list[int] = []
    record = cat.save_from_bucket(details("big"), bucket, "tmp/m.zip", progress=seen.append)
    assert record.artifact_size == z.stat().st_size and record.artifact_sha256 == sha256(z)
    assert oci_server.calls["get_work_request"] == 3  # progress over three polls
    assert sum(seen) == z.stat().st_size and len(seen) >= 2


def test_a_failed_export_deletes_the_model(oci_server, cat, make_zip) -> None:
    bucket = OciBucket("staging", NAMESPACE, clients=cat.clients)
    bucket.put("tmp/m.zip", make_zip())
    oci_server.faults.fail_work_requests(
        "EXPORT_MODEL_ARTIFACT",
        code="InternalServerError",
        message="Copying the artifact from Object Storage failed",
    )
    with pytest.raises(
        RemoteError,
        match=r"work request .* FAILED; InternalServerError: Copying the "
        r"artifact from Object Storage failed",
    ) as err:
        cat.save_from_bucket(details("big"), bucket, "tmp/m.zip")
    assert err.value.exit_code == EXIT_REMOTE
    assert list(_models(oci_server).values()) == ["DELETED"]
    assert bucket.head("tmp/m.zip") is not None  # the caller's object is the caller's


def test_an_export_of_a_vanished_object_fails_and_rolls_back(oci_server, cat, make_zip) -> None:
    bucket = OciBucket("staging", NAMESPACE, clients=cat.clients)
    bucket.put("tmp/m.zip", make_zip())
    original = bucket.head

    def head_then_delete(key: str):  # type: ignore[no-untyped-def]
        info = original(key)
        bucket.delete(key)  # someone removes it while the export is queued
        return info

    bucket.head = head_then_delete  # type: ignore[method-assign]
    with pytest.raises(RemoteError, match="ObjectNotFound"):
        cat.save_from_bucket(details("big"), bucket, "tmp/m.zip")
    assert list(_models(oci_server).values()) == ["DELETED"]


def test_the_oci_catalog_takes_only_oci_buckets(cat, tmp_path: Path) -> None:
    from mdreg.storage.file import FileBucket

    with pytest.raises(UsageError, match="only from oci:// buckets"):
        cat.save_from_bucket(details(), FileBucket(tmp_path / "b"), "x.zip")


def test_large_artifacts_come_back_through_the_bucket(
    oci_server, oci_files, make_zip, tmp_path
) -> None:
    settings = settings_for(oci_server, oci_files, bucket=f"oci://staging@{NAMESPACE}/mdreg-tmp/")
    settings = replace(settings, max_direct_bytes=MIB)
    z = make_zip(b"q" * (2 * MIB))
    with OciCatalog(replace(settings, max_direct_bytes=4 * MIB)) as small:
        record = small.save(details("m"), z)
    with OciCatalog(settings) as cat:
        seen: list[int] = []
        cat.download_artifact(record.id, tmp_path / "d.zip", progress=seen.append)
    assert (tmp_path / "d.zip").read_bytes() == z.read_bytes() and sum(seen) == z.stat().st_size
    assert (
        oci_server.calls["import_model_artifact"] == 1
        and oci_server.calls["get_model_artifact_content"] == 0
    )
    assert oci_server.store.buckets[(NAMESPACE, "staging")] == {}  # the temporary object is gone
    with (
        OciCatalog(replace(settings, bucket=None)) as cat,
        pytest.raises(UsageError, match="only through a bucket; give --bucket"),
    ):
        cat.download_artifact(record.id, tmp_path / "e.zip")


def test_a_corrupted_download_is_refused(oci_server, cat, make_zip, tmp_path) -> None:
    record = cat.save(details(), make_zip(b"w" * 10_000))
    blob = oci_server.store.artifacts[record.id]
    path = blob.segments[0][0]
    data = bytearray(path.read_bytes())
    data[-30] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(RemoteError, match="MD5"):
        cat.download_artifact(record.id, tmp_path / "d.zip")
    assert not (tmp_path / "d.zip").exists()


# -- errors and settings ---------------------------------------------------------------------


def test_service_errors_carry_status_code_message_and_request_id(oci_server, cat) -> None:
    oci_server.faults.fail("list_models", status=400, code="InvalidParameter", message="bad sort")
    with pytest.raises(OciServiceError) as err:
        cat.list()
    e = err.value
    assert (e.status, e.code, e.service_message) == (400, "InvalidParameter", "bad sort")
    assert e.opc_request_id and str(e) == (
        f"listing models failed: HTTP 400 InvalidParameter: bad sort "
        f"(opc-request-id {e.opc_request_id})"
    )


def test_throttling_is_retried(oci_server, cat, make_zip) -> None:
    oci_server.faults.fail("create_model", status=429, times=2, retry_after=0)
    cat.save(details("m"), make_zip())
    assert oci_server.statuses("create_model") == [429, 429, 200]


def test_a_retried_create_does_not_make_two_models(oci_server, cat, make_zip) -> None:
    oci_server.faults.truncate("create_model", after_bytes=0)  # the model is made, the reply lost
    record = cat.save(details("m"), make_zip())
    assert oci_server.statuses("create_model") == [200, 200]  # the reply was lost, the call retried
    assert list(_models(oci_server)) == [record.id]  # the SDK's retry token found the first one


def test_missing_models_are_not_found(cat) -> None:
    with pytest.raises(ModelNotFoundError, match=r"no model ocid1.datasciencemodel.oc1..gone"):
        cat.get("ocid1.datasciencemodel.oc1..gone")
    with pytest.raises(ModelNotFoundError, match="OCI model ids are OCIDs"):
        cat.get("mdl-01HZZZZZZZZZZZZZZZZZZZZZZZ")


def test_a_compartment_and_a_project_are_needed(oci_server, oci_files, make_zip) -> None:
    settings = replace(settings_for(oci_server, oci_files), compartment_id=None, project_id=None)
    with OciCatalog(settings) as cat:
        with pytest.raises(
            UsageError,
            match="no OCI compartment: give --compartment-id, set NB_SESSION_COMPARTMENT_OCID",
        ):
            cat.list()
        with pytest.raises(UsageError, match="no Data Science project"):
            cat.save(details("m", compartment_id=COMPARTMENT), make_zip())
    assert oci_server.store.models == {}


def test_open_catalog_uses_the_settings_in_force(
    oci_server, oci_files, monkeypatch, tmp_path
) -> None:
    s = settings_for(oci_server, oci_files)
    monkeypatch.setenv("MDREG_OCI_COMPARTMENT_ID", COMPARTMENT)
    monkeypatch.setenv("MDREG_OCI_PROJECT_ID", PROJECT)
    (tmp_path / "config.toml").write_text('catalog = "oci"\n')
    monkeypatch.setenv("MDREG_CONFIG", str(tmp_path / "config.toml"))
    with (
        using(
            OciOptions(
                config_file=s.config_file,
                data_science_endpoint=oci_server.url,
                object_storage_endpoint=oci_server.url,
            )
        ),
        open_catalog() as cat,
    ):
        assert isinstance(cat, OciCatalog) and cat.list() == []
        assert cat.settings.endpoints["data_science"] == oci_server.url


def test_version_sets_live_in_the_default_compartment(oci_server, cat) -> None:
    vs = cat.create_version_set("fraud", "fraud models")
    stored = oci_server.store.version_sets[vs.id]
    assert (stored["compartmentId"], stored["projectId"], stored["description"]) == (
        COMPARTMENT,
        PROJECT,
        "fraud models",
    )
    assert cat.get_version_set(vs.id) == vs == cat.list_version_sets()[0]
    with pytest.raises(ModelNotFoundError):
        cat.get_version_set("ocid1.datasciencemodelversionset.oc1..gone")


def test_sha_of_a_saved_zip_matches_the_file(oci_server, cat, make_zip) -> None:
    z = make_zip(b"abc")
    record = cat.save(details(), z, move=True, sha256=hashlib.sha256(z.read_bytes()).hexdigest())
    assert record.artifact_sha256 == sha256(z)
