"""The test server's Model Deployment API against the unmodified SDK: its own checks (the
service's, whatever the client checks first), lifecycle states and work requests, and
the predict endpoint's contract (signature, 10 MB body, 404 when not ACTIVE). These
need no model server: the deployments here never become ACTIVE."""

from __future__ import annotations

from typing import Any

import oci
import pytest

from tests.oci_server.fixtures import COMPARTMENT, PROJECT
from tests.oci_server.test_server import _clients, _model

pytestmark = pytest.mark.usefixtures("clean_oci_env")
M = oci.data_science.models


def _details(model_id: str, *, bandwidth: int = 10, shape: str = "VM.Standard.E4.Flex") -> Any:
    return M.CreateModelDeploymentDetails(
        compartment_id=COMPARTMENT,
        project_id=PROJECT,
        display_name="md",
        model_deployment_configuration_details=M.SingleModelDeploymentConfigurationDetails(
            deployment_type="SINGLE_MODEL",
            model_configuration_details=M.ModelConfigurationDetails(
                model_id=model_id,
                instance_configuration=M.InstanceConfiguration(
                    instance_shape_name=shape,
                    model_deployment_instance_shape_config_details=M.ModelDeploymentInstanceShapeConfigDetails(
                        ocpus=1, memory_in_gbs=16
                    ),
                ),
                scaling_policy=M.FixedSizeScalingPolicy(instance_count=1),
                bandwidth_mbps=bandwidth,
            ),
        ),
    )


def _error(fn: Any, *args: Any) -> tuple[int, str, str]:
    with pytest.raises(oci.exceptions.ServiceError) as info:
        fn(*args)
    return info.value.status, info.value.code, info.value.message


def test_creates_are_checked_and_failures_leave_a_failed_deployment(oci_server, oci_files) -> None:
    ds, _ = _clients(oci_server, oci_files)
    model_id = _model(ds)
    status, code, message = _error(ds.create_model_deployment, _details(model_id))
    assert (status, code) == (400, "InvalidParameter") and "has no artifact" in message
    ds.create_model_artifact(model_id, b"PK\x05\x06" + b"\0" * 18)
    status, _, message = _error(ds.create_model_deployment, _details(model_id, bandwidth=9))
    assert status == 400 and "between 10 and 8000" in message
    status, _, message = _error(
        ds.create_model_deployment, _details(model_id, shape="VM.Standard2.1")
    )
    assert status == 400 and "not a flex shape" in message

    oci_server.faults.fail_work_requests(
        "MODEL_DEPLOYMENT_CREATE", code="LimitExceeded", message="No capacity"
    )
    resp = ds.create_model_deployment(_details(model_id))
    md = resp.data
    assert (md.lifecycle_state, resp.status) == ("CREATING", 200)
    assert md.model_deployment_url == f"{oci_server.url}/{md.id}"
    wr_id = resp.headers["opc-work-request-id"]
    states = [ds.get_work_request(wr_id).data.status for _ in range(3)]
    assert states == ["IN_PROGRESS", "IN_PROGRESS", "FAILED"]
    wr = ds.get_work_request(wr_id).data
    assert wr.operation_type == "MODEL_DEPLOYMENT_CREATE"
    assert (wr.resources[0].entity_type, wr.resources[0].identifier) == ("modelDeployment", md.id)
    errors = ds.list_work_request_errors(wr_id).data
    assert [(e.code, e.message) for e in errors] == [("LimitExceeded", "No capacity")]
    got = ds.get_model_deployment(md.id).data
    assert (got.lifecycle_state, got.lifecycle_details) == ("FAILED", "No capacity")
    config = got.model_deployment_configuration_details
    assert isinstance(config, M.SingleModelDeploymentConfigurationDetails)
    assert config.model_configuration_details.scaling_policy.instance_count == 1

    assert _error(ds.activate_model_deployment, md.id)[:2] == (409, "IncorrectState")
    found = ds.list_model_deployments(COMPARTMENT, lifecycle_state="FAILED").data
    assert [d.id for d in found] == [md.id]

    # the deployment's predict: signed, at most 10 MB, and only while ACTIVE
    predict = oci.model_deployment.ModelDeploymentClient(
        oci.config.from_file(str(oci_files.config)), service_endpoint=oci_server.url
    )
    status, code, _ = _error(predict.predict, md.id, {"a": [1]})
    assert (status, code) == (404, "NotAuthorizedOrNotFound")
    status, code, _ = _error(predict.predict, md.id, "x" * (10 * 1024 * 1024 + 1))
    assert (status, code) == (413, "PayloadTooLarge")
    import urllib.error
    import urllib.request

    unsigned = urllib.request.Request(f"{md.model_deployment_url}/predict", b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(unsigned, timeout=10)  # noqa: S310 - loopback
    assert info.value.code == 401

    wr_id = ds.delete_model_deployment(md.id).headers["opc-work-request-id"]
    while ds.get_work_request(wr_id).data.status != "SUCCEEDED":
        pass
    assert ds.get_model_deployment(md.id).data.lifecycle_state == "DELETED"
    assert _error(ds.delete_model_deployment, md.id)[:2] == (404, "NotAuthorizedOrNotFound")
    assert oci_server.md_hosts.started == []
