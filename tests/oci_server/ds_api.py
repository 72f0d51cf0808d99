"""The Data Science API (``/20190101``) the way mdreg uses it: models, their provenance and
artifacts, export/import of artifacts through Object Storage (asynchronous: a work
request that ends after a few polls), model version sets, work requests.

Field names, status codes and error codes follow the service (and the SDK's models):
camelCase JSON, 200 for reads and creates, 202 + ``opc-work-request-id`` for export and
import, 204 for delete, 404 ``NotAuthorizedOrNotFound`` for anything missing, 400
``InvalidParameter``/``MissingParameter`` for bad input (metadata values over 255
characters, over 32,000 bytes of metadata, unknown taxonomy keys or categories),
409 ``Conflict`` for a duplicate version set name or version label or a second artifact.
Creates honour ``opc-retry-token`` (a retried create returns the first result).
Listing models returns DELETED ones too unless ``lifecycleState`` filters them out.
"""

from __future__ import annotations

import json
from typing import Any

from tests.oci_server.server import Reply, Request, Router
from tests.oci_server.store import (
    CUSTOM_CATEGORIES,
    MAX_METADATA_BYTES,
    MAX_METADATA_VALUE,
    MAX_SCHEMA_BYTES,
    TAXONOMY_KEYS,
    ApiError,
    Blob,
    WorkRequest,
    not_found,
    ocid,
    rfc3339,
)

P = "/20190101"
MAX_ARTIFACT = 6 * 2**30
SUMMARY_FIELDS = (
    "id",
    "compartmentId",
    "projectId",
    "displayName",
    "createdBy",
    "timeCreated",
    "lifecycleState",
    "lifecycleDetails",
    "modelVersionSetId",
    "modelVersionSetName",
    "versionId",
    "versionLabel",
    "category",
    "isModelByReference",
    "freeformTags",
    "definedTags",
)


def register(r: Router) -> None:
    r.add("POST", f"{P}/models", "create_model", create_model, body="json")
    r.add("GET", f"{P}/models", "list_models", list_models)
    r.add("GET", f"{P}/models/{{id}}", "get_model", get_model)
    r.add("PUT", f"{P}/models/{{id}}", "update_model", update_model, body="json")
    r.add("DELETE", f"{P}/models/{{id}}", "delete_model", delete_model)
    r.add(
        "POST",
        f"{P}/models/{{id}}/provenance",
        "create_model_provenance",
        create_provenance,
        body="json",
    )
    r.add("GET", f"{P}/models/{{id}}/provenance", "get_model_provenance", get_provenance)
    r.add(
        "POST",
        f"{P}/models/{{id}}/artifact",
        "create_model_artifact",
        create_artifact,
        body="stream",
    )
    r.add(
        "GET", f"{P}/models/{{id}}/artifact/content", "get_model_artifact_content", artifact_content
    )
    r.add("HEAD", f"{P}/models/{{id}}/artifact/content", "head_model_artifact", artifact_content)
    r.add(
        "POST",
        f"{P}/models/{{id}}/actions/exportArtifact",
        "export_model_artifact",
        export_artifact,
        body="json",
    )
    r.add(
        "POST",
        f"{P}/models/{{id}}/actions/importArtifact",
        "import_model_artifact",
        import_artifact,
        body="json",
    )
    r.add(
        "POST", f"{P}/modelVersionSets", "create_model_version_set", create_version_set, body="json"
    )
    r.add("GET", f"{P}/modelVersionSets", "list_model_version_sets", list_version_sets)
    r.add("GET", f"{P}/modelVersionSets/{{id}}", "get_model_version_set", get_version_set)
    r.add("GET", f"{P}/workRequests/{{id}}", "get_work_request", get_work_request)
    r.add("GET", f"{P}/workRequests/{{id}}/errors", "list_work_request_errors", work_request_errors)
    r.add("GET", f"{P}/workRequests/{{id}}/logs", "list_work_request_logs", work_request_logs)


# -- models ---------------------------------------------------------------------------------


def _retried(app: Any, req: Request) -> Reply | None:
    token = req.headers.get("opc-retry-token")
    if not token:
        return None
    with app.store.lock:
        found = app.store.retry_tokens.get((req.op, token))
    return None if found is None else Reply(found[0], found[2], dict(found[1]))


def _remember(app: Any, req: Request, reply: Reply) -> Reply:
    token = req.headers.get("opc-retry-token")
    if token:
        with app.store.lock:
            app.store.retry_tokens[(req.op, token)] = (reply.status, reply.headers, reply.body)
    return reply


def create_model(app: Any, req: Request) -> Reply:
    again = _retried(app, req)
    if again is not None:
        return again
    b = req.json()
    for name in ("compartmentId", "projectId"):
        if not b.get(name):
            raise ApiError(400, "MissingParameter", f"{name} is required")
    _check_fields(b)
    store = app.store
    with store.lock:
        vs_id, label = b.get("modelVersionSetId"), b.get("versionLabel")
        vs_name, version_id = None, None
        if label and not vs_id:
            raise ApiError(400, "InvalidParameter", "versionLabel needs a modelVersionSetId")
        if vs_id:
            vs = store.version_sets.get(vs_id)
            if vs is None or vs["lifecycleState"] != "ACTIVE":
                raise ApiError(
                    400,
                    "RelatedResourceNotAuthorizedOrNotFound",
                    f"The model version set {vs_id} was not found or you are not authorized",
                )
            members = [
                m
                for m in store.models.values()
                if m["modelVersionSetId"] == vs_id and m["lifecycleState"] != "DELETED"
            ]
            if label and any(m["versionLabel"] == label for m in members):
                raise ApiError(
                    409,
                    "Conflict",
                    f"The version label '{label}' is already used in model "
                    f"version set {vs['name']}",
                )
            vs_name = vs["name"]
            version_id = 1 + max(
                (
                    m["versionId"] or 0
                    for m in store.models.values()
                    if m["modelVersionSetId"] == vs_id
                ),
                default=0,
            )
        model = {
            "id": ocid("datasciencemodel"),
            "compartmentId": b["compartmentId"],
            "projectId": b["projectId"],
            "displayName": b.get("displayName") or f"model{len(store.models) + 1}",
            "description": b.get("description"),
            "lifecycleState": "ACTIVE",
            "lifecycleDetails": None,
            "timeCreated": rfc3339(store.now()),
            "createdBy": req.principal.id if req.principal else "",
            "freeformTags": b.get("freeformTags") or {},
            "definedTags": b.get("definedTags") or {},
            "customMetadataList": b.get("customMetadataList") or [],
            "definedMetadataList": b.get("definedMetadataList") or [],
            "inputSchema": b.get("inputSchema"),
            "outputSchema": b.get("outputSchema"),
            "modelVersionSetId": vs_id,
            "modelVersionSetName": vs_name,
            "versionId": version_id,
            "versionLabel": label,
            "category": "USER",
            "isModelByReference": False,
        }
        store.models[model["id"]] = model
    return _remember(app, req, Reply(200, model, {"etag": _etag(model)}))


def _live(app: Any, model_id: str) -> dict[str, Any]:
    model = app.store.models.get(model_id)
    if model is None or model["lifecycleState"] == "DELETED":
        raise not_found(f"model {model_id}")
    return model


def get_model(app: Any, req: Request) -> Reply:
    with app.store.lock:
        model = app.store.models.get(req.params["id"])
        if model is None:
            raise not_found(f"model {req.params['id']}")
        return Reply(200, dict(model), {"etag": _etag(model)})


def update_model(app: Any, req: Request) -> Reply:
    b = req.json()
    allowed = {
        "displayName",
        "description",
        "freeformTags",
        "definedTags",
        "customMetadataList",
        "definedMetadataList",
        "modelVersionSetId",
        "versionLabel",
        "retentionSetting",
        "backupSetting",
    }
    unknown = set(b) - allowed
    if unknown:
        raise ApiError(400, "InvalidParameter", f"Unknown fields: {sorted(unknown)}")
    with app.store.lock:
        model = _live(app, req.params["id"])
        _check_fields({**model, **b})
        for k, v in b.items():
            model[k] = v
        return Reply(200, dict(model), {"etag": _etag(model)})


def delete_model(app: Any, req: Request) -> Reply:
    with app.store.lock:
        model = _live(app, req.params["id"])
        model["lifecycleState"] = "DELETED"
        blob = app.store.artifacts.pop(model["id"], None)
    app.store.drop(blob)
    return Reply(204)


def list_models(app: Any, req: Request) -> Reply:
    q = req.query
    if not q.get("compartmentId"):
        raise ApiError(400, "MissingParameter", "compartmentId is required")
    filters = {
        "compartmentId": q["compartmentId"],
        "projectId": q.get("projectId"),
        "id": q.get("id"),
        "displayName": q.get("displayName"),
        "lifecycleState": q.get("lifecycleState"),
        "modelVersionSetName": q.get("modelVersionSetName"),
        "versionLabel": q.get("versionLabel"),
        "createdBy": q.get("createdBy"),
    }
    with app.store.lock:
        found = [
            m
            for m in app.store.models.values()
            if all(v is None or m.get(k) == v for k, v in filters.items())
        ]
    return _page(
        req,
        found,
        {
            "timeCreated": "timeCreated",
            "displayName": "displayName",
            "lifecycleState": "lifecycleState",
        },
        SUMMARY_FIELDS,
    )


def _page(
    req: Request, items: list[dict[str, Any]], sort_keys: dict[str, str], fields: tuple[str, ...]
) -> Reply:
    q = req.query
    key = sort_keys.get(q.get("sortBy") or "timeCreated")
    if key is None:
        raise ApiError(400, "InvalidParameter", f"Cannot sort by {q.get('sortBy')}")
    items = sorted(
        items,
        key=lambda m: (m.get(key) or "", m["timeCreated"]),
        reverse=(q.get("sortOrder") or "DESC") == "DESC",
    )
    try:
        start = int(q.get("page") or 0)
        limit = min(int(q.get("limit") or 100), 1000)
    except ValueError:
        raise ApiError(400, "InvalidParameter", "page and limit must be numbers") from None
    chunk = items[start : start + limit]
    headers = {"opc-next-page": str(start + limit)} if start + limit < len(items) else {}
    return Reply(200, [{k: m.get(k) for k in fields} for m in chunk], headers)


def _check_fields(b: dict[str, Any]) -> None:
    def bad(message: str) -> ApiError:
        return ApiError(400, "InvalidParameter", message)

    if b.get("displayName") is not None and len(b["displayName"]) > 255:
        raise bad("displayName must be at most 255 characters")
    if b.get("description") is not None and len(b["description"]) > 255:
        raise bad("description must be at most 255 characters")
    custom, defined = b.get("customMetadataList") or [], b.get("definedMetadataList") or []
    for item in [*custom, *defined]:
        if not isinstance(item, dict) or not item.get("key"):
            raise bad("every metadata item needs a key")
        value = item.get("value")
        if value is not None and not isinstance(value, str):
            raise bad(f"metadata {item['key']}: value must be a string")
    for item in custom:
        if item.get("value") is not None and len(item["value"]) > MAX_METADATA_VALUE:
            raise bad(f"custom metadata {item['key']}: value over {MAX_METADATA_VALUE} characters")
        if item.get("category") is not None and item["category"] not in CUSTOM_CATEGORIES:
            raise bad(f"custom metadata {item['key']}: unknown category {item['category']!r}")
    for item in defined:
        if item["key"] not in TAXONOMY_KEYS:
            raise bad(f"defined metadata key {item['key']!r} is not in the taxonomy")
    if len(json.dumps(custom)) + len(json.dumps(defined)) > MAX_METADATA_BYTES:
        raise bad(f"the model's metadata is over {MAX_METADATA_BYTES} bytes")
    for name in ("inputSchema", "outputSchema"):
        if b.get(name) is not None and len(b[name].encode()) > MAX_SCHEMA_BYTES:
            raise bad(f"{name} is over {MAX_SCHEMA_BYTES} bytes")


def _etag(model: dict[str, Any]) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(model, sort_keys=True).encode()).hexdigest()[:32]


# -- provenance ---------------------------------------------------------------------------

PROVENANCE = (
    "repositoryUrl",
    "gitBranch",
    "gitCommit",
    "scriptDir",
    "trainingScript",
    "trainingId",
)


def create_provenance(app: Any, req: Request) -> Reply:
    b = req.json()
    unknown = set(b) - set(PROVENANCE)
    if unknown:
        raise ApiError(400, "InvalidParameter", f"Unknown provenance fields: {sorted(unknown)}")
    with app.store.lock:
        _live(app, req.params["id"])
        doc = {k: b.get(k) for k in PROVENANCE}
        app.store.provenance[req.params["id"]] = doc
    return Reply(200, doc)


def get_provenance(app: Any, req: Request) -> Reply:
    with app.store.lock:
        _live(app, req.params["id"])
        doc = app.store.provenance.get(req.params["id"])
    if doc is None:
        raise not_found(f"provenance of model {req.params['id']}")
    return Reply(200, doc)


# -- artifacts ------------------------------------------------------------------------------


def create_artifact(app: Any, req: Request) -> Reply:
    again = _retried(app, req)
    if again is not None:
        return again
    model_id = req.params["id"]
    with app.store.lock:
        _live(app, model_id)
        if model_id in app.store.artifacts:
            raise ApiError(409, "Conflict", f"The model {model_id} already has an artifact")
    path = app.store.new_file()
    size, md5 = req.read_to_file(path)
    if req.headers.get("content-md5") and req.headers["content-md5"] != md5:
        path.unlink()
        raise ApiError(400, "InvalidParameter", "The Content-MD5 does not match the body")
    if size > MAX_ARTIFACT:
        path.unlink()
        raise ApiError(400, "InvalidParameter", "A model artifact can be at most 6 GB")
    blob = Blob([(path, size)], md5=md5, disposition=req.headers.get("content-disposition"))
    with app.store.lock:
        _live(app, model_id)
        app.store.artifacts[model_id] = blob
    return _remember(app, req, Reply(200, None, {"etag": blob.etag}))


def artifact_content(app: Any, req: Request) -> Reply:
    model_id = req.params["id"]
    with app.store.lock:
        _live(app, model_id)
        blob = app.store.artifacts.get(model_id)
    if blob is None:
        raise not_found(f"artifact of model {model_id}")
    from email.utils import formatdate

    headers = {
        "etag": blob.etag,
        "content-md5": blob.md5 or "",
        "last-modified": formatdate(blob.modified, usegmt=True),
        "content-disposition": blob.disposition or f'attachment; filename="{model_id}.zip"',
    }
    if not blob.md5:
        del headers["content-md5"]
    spec = req.headers.get("range")
    if spec and req.method == "GET":  # one byte range (RFC 7233), as the API takes
        from tests.oci_server.os_api import _range

        start, end = _range(spec, blob.size)
        headers["content-range"] = f"bytes {start}-{end}/{blob.size}"
        headers.pop("content-md5", None)
        return Reply(206, None, headers, blob=blob, range=(start, end))
    return Reply(200, None, headers, blob=blob)


def export_artifact(app: Any, req: Request) -> Reply:
    model_id = req.params["id"]
    d = req.json().get("artifactExportDetails") or {}
    if d.get("artifactSourceType") != "ORACLE_OBJECT_STORAGE":
        raise ApiError(
            400,
            "InvalidParameter",
            "artifactExportDetails.artifactSourceType must be ORACLE_OBJECT_STORAGE",
        )
    for name in ("namespace", "sourceBucket", "sourceObjectName", "sourceRegion"):
        if not d.get(name):
            raise ApiError(400, "MissingParameter", f"artifactExportDetails.{name} is required")
    store = app.store
    with store.lock:
        model = _live(app, model_id)
        if model_id in store.artifacts:
            raise ApiError(409, "Conflict", f"The model {model_id} already has an artifact")

    def action() -> None:
        with store.lock:
            source = store.object(d["namespace"], d["sourceBucket"], d["sourceObjectName"])
            if source.size > MAX_ARTIFACT:
                raise ApiError(400, "InvalidParameter", "A model artifact can be at most 6 GB")
            _live(app, model_id)
            blob = store.link(source)
            blob.md5 = blob.md5 or _md5_of(blob)
            store.artifacts[model_id] = blob

    return _work_request(app, "EXPORT_MODEL_ARTIFACT", model, action)


def import_artifact(app: Any, req: Request) -> Reply:
    model_id = req.params["id"]
    d = req.json().get("artifactImportDetails") or {}
    if d.get("artifactSourceType") != "ORACLE_OBJECT_STORAGE":
        raise ApiError(
            400,
            "InvalidParameter",
            "artifactImportDetails.artifactSourceType must be ORACLE_OBJECT_STORAGE",
        )
    for name in ("namespace", "destinationBucket", "destinationObjectName", "destinationRegion"):
        if not d.get(name):
            raise ApiError(400, "MissingParameter", f"artifactImportDetails.{name} is required")
    store = app.store
    with store.lock:
        model = _live(app, model_id)
        if model_id not in store.artifacts:
            raise not_found(f"artifact of model {model_id}")

    def action() -> None:
        with store.lock:
            objects = store.bucket(d["namespace"], d["destinationBucket"])
            blob = store.link(store.artifacts[model_id])
            old = objects.get(d["destinationObjectName"])
            objects[d["destinationObjectName"]] = blob
        store.drop(old)

    return _work_request(app, "IMPORT_MODEL_ARTIFACT", model, action)


def _md5_of(blob: Blob) -> str:
    import base64
    import hashlib

    md5 = hashlib.md5()  # noqa: S324
    for path, _ in blob.segments:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                md5.update(chunk)
    return base64.b64encode(md5.digest()).decode()


# -- work requests --------------------------------------------------------------------------


def _work_request(app: Any, operation: str, model: dict[str, Any], action: Any) -> Reply:
    wr = WorkRequest(
        ocid("datascienceworkrequest"),
        operation,
        model["compartmentId"],
        model["id"],
        action,
        polls_needed=max(1, app.work_request_polls),
    )
    wr.fail_with = app.faults.work_request_failure(operation)
    with app.store.lock:
        app.store.work_requests[wr.id] = wr
    return Reply(202, None, {"opc-work-request-id": wr.id})


def _advance(app: Any, wr: WorkRequest) -> None:
    """One poll's worth of progress; the action runs on the last one, and on every later
    poll for as long as it answers False (not done yet)."""
    import time

    if wr.status in ("SUCCEEDED", "FAILED", "CANCELED"):
        return
    wr.polls += 1
    if wr.started is None:
        wr.status, wr.started = "IN_PROGRESS", time.time()
        wr.logs.append(
            {"message": f"{wr.operation_type} started", "timestamp": rfc3339(time.time())}
        )
    if wr.polls < wr.polls_needed:
        return
    try:
        if wr.fail_with is not None:
            raise ApiError(500, *wr.fail_with)
        if wr.action() is False:  # still under way (a deployment's model server starting)
            return
        wr.status = "SUCCEEDED"
    except ApiError as exc:
        wr.status = "FAILED"
        wr.errors.append(
            {"code": exc.code, "message": exc.message, "timestamp": rfc3339(time.time())}
        )
    wr.finished = time.time()
    wr.logs.append(
        {"message": f"{wr.operation_type} {wr.status.lower()}", "timestamp": rfc3339(wr.finished)}
    )


def _wr(app: Any, req: Request) -> WorkRequest:
    wr = app.store.work_requests.get(req.params["id"])
    if wr is None:
        raise not_found(f"work request {req.params['id']}")
    return wr


def get_work_request(app: Any, req: Request) -> Reply:
    with app.store.lock:
        wr = _wr(app, req)
        _advance(app, wr)
        return Reply(200, wr.to_json())


def work_request_errors(app: Any, req: Request) -> Reply:
    with app.store.lock:
        return Reply(200, list(_wr(app, req).errors))


def work_request_logs(app: Any, req: Request) -> Reply:
    with app.store.lock:
        return Reply(200, list(_wr(app, req).logs))


# -- version sets ---------------------------------------------------------------------------

VS_SUMMARY = (
    "id",
    "compartmentId",
    "projectId",
    "name",
    "lifecycleState",
    "timeCreated",
    "timeUpdated",
    "createdBy",
    "category",
    "freeformTags",
    "definedTags",
    "systemTags",
)


def create_version_set(app: Any, req: Request) -> Reply:
    again = _retried(app, req)
    if again is not None:
        return again
    b = req.json()
    for name in ("compartmentId", "projectId", "name"):
        if not b.get(name):
            raise ApiError(400, "MissingParameter", f"{name} is required")
    with app.store.lock:
        if any(
            v["name"] == b["name"]
            and v["compartmentId"] == b["compartmentId"]
            and v["lifecycleState"] == "ACTIVE"
            for v in app.store.version_sets.values()
        ):
            raise ApiError(409, "Conflict", f"A model version set named {b['name']} already exists")
        now = rfc3339(app.store.now())
        vs = {
            "id": ocid("datasciencemodelversionset"),
            "compartmentId": b["compartmentId"],
            "projectId": b["projectId"],
            "name": b["name"],
            "description": b.get("description"),
            "lifecycleState": "ACTIVE",
            "timeCreated": now,
            "timeUpdated": now,
            "createdBy": req.principal.id if req.principal else "",
            "category": "USER",
            "freeformTags": b.get("freeformTags") or {},
            "definedTags": b.get("definedTags") or {},
            "systemTags": {},
        }
        app.store.version_sets[vs["id"]] = vs
    return _remember(app, req, Reply(200, vs, {"etag": _etag(vs)}))


def list_version_sets(app: Any, req: Request) -> Reply:
    q = req.query
    if not q.get("compartmentId"):
        raise ApiError(400, "MissingParameter", "compartmentId is required")
    filters = {
        "compartmentId": q["compartmentId"],
        "projectId": q.get("projectId"),
        "id": q.get("id"),
        "name": q.get("name"),
        "lifecycleState": q.get("lifecycleState"),
        "createdBy": q.get("createdBy"),
    }
    with app.store.lock:
        found = [
            v
            for v in app.store.version_sets.values()
            if all(f is None or v.get(k) == f for k, f in filters.items())
        ]
    return _page(
        req,
        found,
        {"timeCreated": "timeCreated", "name": "name", "lifecycleState": "lifecycleState"},
        VS_SUMMARY,
    )


def get_version_set(app: Any, req: Request) -> Reply:
    with app.store.lock:
        vs = app.store.version_sets.get(req.params["id"])
        if vs is None:
            raise not_found(f"model version set {req.params['id']}")
        return Reply(200, dict(vs), {"etag": _etag(vs)})
