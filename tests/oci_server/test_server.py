"""The test server itself: what it answers to the unmodified SDK, and how it can fail on
request (the mdreg tests rely on both)."""

from __future__ import annotations

import email.utils
import json
import time
import urllib.request
from typing import Any

import oci
import pytest

from tests.oci_server.fixtures import COMPARTMENT, NAMESPACE, PROJECT

pytestmark = pytest.mark.usefixtures("clean_oci_env")


def _clients(server: Any, files: Any) -> tuple[Any, Any]:
    config = oci.config.from_file(str(files.config))
    kw = {"service_endpoint": server.url, "retry_strategy": oci.retry.NoneRetryStrategy()}
    return oci.data_science.DataScienceClient(config, **kw), oci.object_storage.ObjectStorageClient(
        config, **kw
    )


def _model(ds: Any) -> str:
    details = oci.data_science.models.CreateModelDetails(
        compartment_id=COMPARTMENT, project_id=PROJECT, display_name="m"
    )
    return ds.create_model(details).data.id


def test_work_requests_progress_over_several_polls(oci_server, oci_files) -> None:
    ds, os_client = _clients(oci_server, oci_files)
    os_client.put_object(NAMESPACE, "staging", "m.zip", b"zip bytes")
    model_id = _model(ds)
    source = oci.data_science.models.ArtifactExportDetailsObjectStorage(
        namespace=NAMESPACE,
        source_bucket="staging",
        source_object_name="m.zip",
        source_region="us-ashburn-1",
    )
    resp = ds.export_model_artifact(
        model_id, oci.data_science.models.ExportModelArtifactDetails(artifact_export_details=source)
    )
    assert resp.status == 202
    wr_id = resp.headers["opc-work-request-id"]
    seen = []
    for _ in range(4):
        wr = ds.get_work_request(wr_id).data
        seen.append((wr.status, round(wr.percent_complete)))
    assert seen == [
        ("IN_PROGRESS", 33),
        ("IN_PROGRESS", 67),
        ("SUCCEEDED", 100),
        ("SUCCEEDED", 100),
    ]
    assert wr.operation_type == "EXPORT_MODEL_ARTIFACT" and wr.resources[0].identifier == model_id
    content = ds.get_model_artifact_content(model_id)
    assert content.data.content == b"zip bytes"


def test_error_replies_look_like_the_services(oci_server, oci_files) -> None:
    ds, os_client = _clients(oci_server, oci_files)
    with pytest.raises(oci.exceptions.ServiceError) as err:
        ds.get_model("ocid1.datasciencemodel.oc1.iad.nothing", opc_request_id="CLIENTID")
    e = err.value
    assert (e.status, e.code) == (404, "NotAuthorizedOrNotFound")
    assert e.headers["opc-request-id"].startswith("CLIENTID/")
    with pytest.raises(oci.exceptions.ServiceError) as err:
        os_client.get_object(NAMESPACE, "staging", "none.zip")
    assert (err.value.status, err.value.code) == (404, "ObjectNotFound")
    assert err.value.message == "The object 'none.zip' was not found in the bucket 'staging'"
    with pytest.raises(oci.exceptions.ServiceError) as err:
        os_client.list_objects(NAMESPACE, "nope")
    assert (err.value.status, err.value.code) == (404, "BucketNotFound")


def test_faults_can_be_armed_over_http(oci_server, oci_files) -> None:
    ds, _ = _clients(oci_server, oci_files)
    body = json.dumps(
        {"method": "fail", "args": {"op": "list_models", "status": 503, "times": 1}}
    ).encode()
    urllib.request.urlopen(
        urllib.request.Request(
            f"{oci_server.url}/_admin/faults",
            data=body,  # noqa: S310
            method="POST",
        )
    ).read()
    with pytest.raises(oci.exceptions.ServiceError) as err:
        ds.list_models(COMPARTMENT)
    assert (err.value.status, err.value.code) == (503, "ServiceUnavailable")
    assert ds.list_models(COMPARTMENT).data == []  # once only


def test_slow_replies(oci_server, oci_files) -> None:
    ds, _ = _clients(oci_server, oci_files)
    oci_server.faults.slow("list_models", 0.3, times=1)
    start = time.monotonic()
    ds.list_models(COMPARTMENT)
    assert time.monotonic() - start >= 0.3


def test_stale_dates_and_missing_signatures_are_refused(oci_server, oci_files) -> None:
    from oci._vendor import requests

    config = oci.config.from_file(str(oci_files.config))
    signer = oci.signer.Signer(
        config["tenancy"], config["user"], config["fingerprint"], config["key_file"]
    )
    url = f"{oci_server.url}/20190101/models?compartmentId={COMPARTMENT}"
    old = email.utils.formatdate(time.time() - 600, usegmt=True)
    req = requests.Request("GET", url, headers={"date": old}).prepare()
    signer(req)
    r = requests.Session().send(req)
    assert r.status_code == 401 and "more than 5 minutes off" in r.json()["message"]
    fresh = requests.Request("GET", url).prepare()
    signer(fresh)
    assert requests.Session().send(fresh).status_code == 200


def test_multipart_commit_checks_etags_and_lists_every_part(oci_server, oci_files) -> None:
    oci_server.min_part_size = 0  # parts of a few bytes
    _, os_client = _clients(oci_server, oci_files)
    models = oci.object_storage.models
    up = os_client.create_multipart_upload(
        NAMESPACE, "staging", models.CreateMultipartUploadDetails(object="m.zip")
    ).data
    etags = {
        n: os_client.upload_part(NAMESPACE, "staging", "m.zip", up.upload_id, n, b"x" * n).headers[
            "etag"
        ]
        for n in (1, 2, 3)
    }
    parts = os_client.list_multipart_upload_parts(NAMESPACE, "staging", "m.zip", up.upload_id).data
    assert [(p.part_number, p.size) for p in parts] == [(1, 1), (2, 2), (3, 3)]
    detail = models.CommitMultipartUploadPartDetails
    with pytest.raises(oci.exceptions.ServiceError, match="neither committed nor excluded"):
        os_client.commit_multipart_upload(
            NAMESPACE,
            "staging",
            "m.zip",
            up.upload_id,
            models.CommitMultipartUploadDetails(
                parts_to_commit=[detail(part_num=1, etag=etags[1])]
            ),
        )
    with pytest.raises(oci.exceptions.ServiceError, match="ETag of part 2"):
        os_client.commit_multipart_upload(
            NAMESPACE,
            "staging",
            "m.zip",
            up.upload_id,
            models.CommitMultipartUploadDetails(
                parts_to_commit=[detail(part_num=1, etag=etags[1]), detail(part_num=2, etag="x")],
                parts_to_exclude=[3],
            ),
        )
    os_client.commit_multipart_upload(
        NAMESPACE,
        "staging",
        "m.zip",
        up.upload_id,
        models.CommitMultipartUploadDetails(
            parts_to_commit=[detail(part_num=1, etag=etags[1]), detail(part_num=3, etag=etags[3])],
            parts_to_exclude=[2],
        ),
    )
    assert os_client.get_object(NAMESPACE, "staging", "m.zip").data.content == b"x" + b"xxx"
    with pytest.raises(oci.exceptions.ServiceError) as err:
        os_client.abort_multipart_upload(NAMESPACE, "staging", "m.zip", up.upload_id)
    assert (err.value.status, err.value.code) == (404, "NoSuchUpload")


def test_a_commit_with_a_short_part_but_the_last_is_refused(oci_server, oci_files) -> None:
    """As the service: every part but the last at least the minimum part size."""
    oci_server.min_part_size = 100
    _, os_client = _clients(oci_server, oci_files)
    models = oci.object_storage.models
    detail = models.CommitMultipartUploadPartDetails

    def upload(sizes: list[int]) -> Any:
        up = os_client.create_multipart_upload(
            NAMESPACE, "staging", models.CreateMultipartUploadDetails(object="m.zip")
        ).data
        parts = [
            detail(
                part_num=n,
                etag=os_client.upload_part(
                    NAMESPACE, "staging", "m.zip", up.upload_id, n, b"x" * size
                ).headers["etag"],
            )
            for n, size in enumerate(sizes, 1)
        ]
        return os_client.commit_multipart_upload(
            NAMESPACE,
            "staging",
            "m.zip",
            up.upload_id,
            models.CommitMultipartUploadDetails(parts_to_commit=parts),
        )

    with pytest.raises(oci.exceptions.ServiceError) as err:
        upload([100, 99, 100])
    assert (err.value.status, err.value.code) == (400, "InvalidParameter")
    assert err.value.message == (
        "Part 2 is 99 bytes: every part but the last must be at least 100 bytes"
    )
    upload([100, 100, 1])  # the last part may be shorter
    assert os_client.head_object(NAMESPACE, "staging", "m.zip").headers["opc-multipart-md5"]
