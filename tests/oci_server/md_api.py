"""The Model Deployment API (``/20190101/modelDeployments``) and a deployment's predict
endpoint, the way mdreg uses them.

    POST   /20190101/modelDeployments                        create (200, CREATING, work request)
    GET    /20190101/modelDeployments?compartmentId=...      list (summaries, pages)
    GET    /20190101/modelDeployments/{id}                   get
    PUT    /20190101/modelDeployments/{id}                   update (202, work request)
    POST   /20190101/modelDeployments/{id}/actions/activate   (202, work request)
    POST   /20190101/modelDeployments/{id}/actions/deactivate (202, work request)
    DELETE /20190101/modelDeployments/{id}                   delete (202, work request)
    POST   /{id}/predict                                      the deployment's predict (signed)

Lifecycle: CREATING -> ACTIVE (or FAILED); ACTIVE -> UPDATING -> ACTIVE (update);
ACTIVE -> UPDATING -> INACTIVE (deactivate) and back (activate); -> DELETING -> DELETED.
Work requests (``MODEL_DEPLOYMENT_CREATE``, ``_UPDATE``, ``_ACTIVATE``, ``_DEACTIVATE``,
``_DELETE``) stay IN_PROGRESS until the model server (``md_hosts``: a real ``mdreg serve``
of the model's artifact) answers /health; ``faults.fail_work_requests(op_type)`` fails one,
and a failed create leaves the deployment FAILED. A change in a state that does not allow
it is 409 ``IncorrectState``; the bandwidth changes only while INACTIVE (400), as the
service documents. Field checks mirror the documented limits (name 255, bandwidth 10-8000
Mbps, instances >= 1, flex shape ranges, environment variables: ``md_checks``). Creates honour
``opc-retry-token``.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from tests.oci_server.ds_api import P, _page, _remember, _retried
from tests.oci_server.md_checks import bad, check_common, check_config
from tests.oci_server.md_hosts import Hosts
from tests.oci_server.server import Reply, Request, Router
from tests.oci_server.store import ApiError, WorkRequest, not_found, ocid, rfc3339

MAX_PREDICT_BODY = 10 * 1024 * 1024
SUMMARY = (
    "id",
    "timeCreated",
    "displayName",
    "description",
    "projectId",
    "createdBy",
    "compartmentId",
    "modelDeploymentConfigurationDetails",
    "categoryLogDetails",
    "modelDeploymentUrl",
    "lifecycleState",
    "modelDeploymentSystemData",
    "freeformTags",
    "definedTags",
)


def register(r: Router) -> None:
    md = f"{P}/modelDeployments"
    r.add("POST", md, "create_model_deployment", create, body="json")
    r.add("GET", md, "list_model_deployments", list_deployments)
    r.add("GET", f"{md}/{{id}}", "get_model_deployment", get)
    r.add("PUT", f"{md}/{{id}}", "update_model_deployment", update, body="json")
    r.add("DELETE", f"{md}/{{id}}", "delete_model_deployment", delete)
    r.add("POST", f"{md}/{{id}}/actions/activate", "activate_model_deployment", activate, "json")
    r.add(
        "POST", f"{md}/{{id}}/actions/deactivate", "deactivate_model_deployment", deactivate, "json"
    )
    r.add("POST", "/{id}/predict", "predict", predict, body="json")


class DeploymentWorkRequest(WorkRequest):
    def to_json(self) -> dict[str, Any]:
        doc = super().to_json()
        done = {"MODEL_DEPLOYMENT_CREATE": "CREATED", "MODEL_DEPLOYMENT_DELETE": "DELETED"}
        doc["resources"] = [
            {
                "entityType": "modelDeployment",
                "actionType": "IN_PROGRESS"
                if self.finished is None
                else done.get(self.operation_type, "UPDATED"),
                "identifier": self.model_id,
                "entityUri": f"/modelDeployments/{self.model_id}",
            }
        ]
        return doc


def hosts(app: Any) -> Hosts:
    return app.md_hosts  # type: ignore[no-any-return]


# -- the deployed model ------------------------------------------------------------------


def _model_with_artifact(app: Any, model_id: str | None) -> Any:
    model = app.store.models.get(model_id or "")
    if model is None or model["lifecycleState"] != "ACTIVE":
        raise ApiError(
            400,
            "RelatedResourceNotAuthorizedOrNotFound",
            f"The model {model_id} was not found or you are not authorized",
        )
    blob = app.store.artifacts.get(model_id)
    if blob is None:
        raise bad(f"The model {model_id} has no artifact")
    return blob


# -- create / read -----------------------------------------------------------------------


def create(app: Any, req: Request) -> Reply:
    again = _retried(app, req)
    if again is not None:
        return again
    b = req.json()
    for name in ("compartmentId", "projectId", "modelDeploymentConfigurationDetails"):
        if not b.get(name):
            raise ApiError(400, "MissingParameter", f"{name} is required")
    cfg = copy.deepcopy(b["modelDeploymentConfigurationDetails"])
    check_config(cfg)
    check_common(b)
    mc = cfg["modelConfigurationDetails"]
    mc.setdefault("scalingPolicy", {"policyType": "FIXED_SIZE", "instanceCount": 1})
    mc.setdefault("bandwidthMbps", 10)
    cfg.setdefault(
        "environmentConfigurationDetails",
        {"environmentConfigurationType": "DEFAULT", "environmentVariables": {}},
    )
    store = app.store
    with store.lock:
        blob = _model_with_artifact(app, mc["modelId"])
        dep_id = ocid("datasciencemodeldeployment")
        md = {
            "id": dep_id,
            "timeCreated": rfc3339(store.now()),
            "displayName": b.get("displayName") or f"modeldeployment{int(time.time())}",
            "description": b.get("description"),
            "projectId": b["projectId"],
            "createdBy": req.principal.id if req.principal else "",
            "compartmentId": b["compartmentId"],
            "modelDeploymentConfigurationDetails": cfg,
            "categoryLogDetails": b.get("categoryLogDetails"),
            "modelDeploymentUrl": f"{app.url}/{dep_id}",
            "modelDeploymentSystemData": None,
            "lifecycleState": "CREATING",
            "lifecycleDetails": "Creating the model deployment",
            "freeformTags": b.get("freeformTags") or {},
            "definedTags": b.get("definedTags") or {},
        }
        app.md_store[dep_id] = md
        reply = _start_change(app, md, "MODEL_DEPLOYMENT_CREATE", blob, "ACTIVE", "FAILED")
    reply.status, reply.body = 200, dict(md)
    return _remember(app, req, reply)


def _live(app: Any, dep_id: str) -> dict[str, Any]:
    md = app.md_store.get(dep_id)
    if md is None or md["lifecycleState"] == "DELETED":
        raise not_found(f"model deployment {dep_id}")
    return md  # type: ignore[no-any-return]


def get(app: Any, req: Request) -> Reply:
    with app.store.lock:
        md = app.md_store.get(req.params["id"])
        if md is None:
            raise not_found(f"model deployment {req.params['id']}")
        return Reply(200, copy.deepcopy(md))


def list_deployments(app: Any, req: Request) -> Reply:
    q = req.query
    if not q.get("compartmentId"):
        raise ApiError(400, "MissingParameter", "compartmentId is required")
    filters = {
        k: q.get(k) for k in ("compartmentId", "projectId", "id", "displayName", "lifecycleState")
    }
    filters["createdBy"] = q.get("createdBy")
    with app.store.lock:
        found = [
            copy.deepcopy(md)
            for md in app.md_store.values()
            if all(v is None or md.get(k) == v for k, v in filters.items())
        ]
    keys = {"timeCreated": "timeCreated", "displayName": "displayName"}
    return _page(req, found, keys, SUMMARY)


# -- changes -----------------------------------------------------------------------------


def _need_state(md: dict[str, Any], allowed: tuple[str, ...], verb: str) -> None:
    if md["lifecycleState"] not in allowed:
        raise ApiError(
            409,
            "IncorrectState",
            f"The model deployment is {md['lifecycleState']}: it can be {verb} only when "
            f"{' or '.join(allowed)}",
        )


def update(app: Any, req: Request) -> Reply:
    b = req.json()
    unknown = set(b) - {
        "displayName",
        "description",
        "freeformTags",
        "definedTags",
        "modelDeploymentConfigurationDetails",
        "categoryLogDetails",
    }
    if unknown:
        raise bad(f"Unknown fields: {sorted(unknown)}")
    check_common(b)
    with app.store.lock:
        md = _live(app, req.params["id"])
        state = md["lifecycleState"]
        _need_state(md, ("ACTIVE", "NEEDS_ATTENTION", "INACTIVE"), "updated")
        new = copy.deepcopy(md)
        blob = None
        cfg = b.get("modelDeploymentConfigurationDetails")
        if cfg is not None:
            check_config(cfg, update=True)
            old_mc = new["modelDeploymentConfigurationDetails"]["modelConfigurationDetails"]
            mc = cfg["modelConfigurationDetails"]
            changed = mc.get("bandwidthMbps") not in (None, old_mc.get("bandwidthMbps"))
            if changed and state != "INACTIVE":
                raise bad("bandwidthMbps can be updated only while the deployment is INACTIVE")
            if mc["modelId"] != old_mc["modelId"]:
                blob = _model_with_artifact(app, mc["modelId"])
            old_mc.update({k: v for k, v in mc.items() if v is not None})
            if "environmentConfigurationDetails" in cfg:
                new["modelDeploymentConfigurationDetails"]["environmentConfigurationDetails"] = cfg[
                    "environmentConfigurationDetails"
                ]
        for key in (
            "displayName",
            "description",
            "freeformTags",
            "definedTags",
            "categoryLogDetails",
        ):
            if b.get(key) is not None:
                new[key] = b[key]
        final = "ACTIVE" if state != "INACTIVE" else "INACTIVE"
        md["lifecycleState"] = "UPDATING"
        restart = blob if final == "ACTIVE" else None
        return _start_change(app, md, "MODEL_DEPLOYMENT_UPDATE", restart, final, state, new)


def activate(app: Any, req: Request) -> Reply:
    with app.store.lock:
        md = _live(app, req.params["id"])
        _need_state(md, ("INACTIVE",), "activated")
        mc = md["modelDeploymentConfigurationDetails"]["modelConfigurationDetails"]
        blob = _model_with_artifact(app, mc["modelId"])
        md["lifecycleState"] = "UPDATING"
        return _start_change(app, md, "MODEL_DEPLOYMENT_ACTIVATE", blob, "ACTIVE", "INACTIVE")


def deactivate(app: Any, req: Request) -> Reply:
    with app.store.lock:
        md = _live(app, req.params["id"])
        _need_state(md, ("ACTIVE", "NEEDS_ATTENTION"), "deactivated")
        md["lifecycleState"] = "UPDATING"
        return _start_change(app, md, "MODEL_DEPLOYMENT_DEACTIVATE", None, "INACTIVE", "ACTIVE")


def delete(app: Any, req: Request) -> Reply:
    with app.store.lock:
        md = _live(app, req.params["id"])
        _need_state(md, ("ACTIVE", "NEEDS_ATTENTION", "INACTIVE", "FAILED"), "deleted")
        previous = md["lifecycleState"]
        md["lifecycleState"] = "DELETING"
        return _start_change(app, md, "MODEL_DEPLOYMENT_DELETE", None, "DELETED", previous)


def _start_change(
    app: Any,
    md: dict[str, Any],
    operation: str,
    blob: Any,
    final: str,
    on_failure: str,
    new: dict[str, Any] | None = None,
) -> Reply:
    """A work request that, once its polls are done, starts a model server for ``blob``
    (None: stops the running one for INACTIVE/DELETED, keeps it otherwise), waits until it
    is ready, then applies ``new`` and sets ``final``; on failure the state is
    ``on_failure`` and the work request FAILED with the service's message."""
    failure = app.faults.work_request_failure(operation)
    pending: dict[str, Any] = {}
    dep_id = md["id"]

    def action() -> bool | None:
        if failure is not None:
            md["lifecycleState"], md["lifecycleDetails"] = on_failure, failure[1]
            raise ApiError(500, *failure)
        if blob is not None:
            host = pending.get("host")
            if host is None:
                pending["host"] = host = hosts(app).start(dep_id, list(blob.segments))
            if not host.done:
                return False
            if host.error:
                host.stop()
                md["lifecycleState"] = on_failure
                md["lifecycleDetails"] = f"The model server failed to start: {host.error}"
                raise ApiError(500, "InternalServerError", md["lifecycleDetails"])
            hosts(app).swap(dep_id, host)
        elif final in ("INACTIVE", "DELETED"):
            hosts(app).swap(dep_id, None)
        if new is not None:
            md.update({k: v for k, v in new.items() if k != "lifecycleState"})
        md["lifecycleState"], md["lifecycleDetails"] = final, None
        return None

    wr = DeploymentWorkRequest(
        ocid("datascienceworkrequest"),
        operation,
        md["compartmentId"],
        dep_id,
        action,
        polls_needed=max(1, app.work_request_polls),
    )
    app.store.work_requests[wr.id] = wr
    return Reply(202, None, {"opc-work-request-id": wr.id})


# -- predict -----------------------------------------------------------------------------


def predict(app: Any, req: Request) -> Reply:
    """The deployment's predict: the service's limits, then the body as it came, to the
    model server running the deployed artifact's score.py."""
    if "content-length" not in req.headers:
        raise ApiError(411, "LengthRequired", "Content-Length is required")
    body = req.body or b""
    if len(body) > MAX_PREDICT_BODY:
        raise ApiError(413, "PayloadTooLarge", "The request body is larger than 10 MB")
    with app.store.lock:
        md = app.md_store.get(req.params["id"])
        state = md["lifecycleState"] if md else None
        host = hosts(app).get(req.params["id"])
    if md is None or state in ("DELETED", "DELETING", "INACTIVE", "FAILED", "CREATING"):
        raise not_found(f"model deployment {req.params['id']} ({state or 'no such'})")
    if host is None or not host.ready.is_set():
        raise ApiError(503, "ServiceUnavailable", "The model server is not available")
    status, answer, content_type = host.forward(body, req.headers.get("content-type", ""))
    return Reply(status, answer, {"content-type": content_type})
