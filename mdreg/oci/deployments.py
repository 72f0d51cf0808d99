"""Model deployments through ``oci.data_science.DataScienceClient``, with the SDK's own
model classes (``oci`` is imported inside the functions that need it).

    create    create_model_deployment(CreateModelDeploymentDetails(
                  SingleModelDeploymentConfigurationDetails(
                      ModelConfigurationDetails(InstanceConfiguration(shape,
                          ModelDeploymentInstanceShapeConfigDetails for flex shapes),
                          FixedSizeScalingPolicy, bandwidth),
                      DefaultModelDeploymentEnvironmentConfigurationDetails(variables)),
                  CategoryLogDetails(LogDetails access, predict)))
    update    update_model_deployment(UpdateModelDeploymentDetails(
                  UpdateSingleModelDeploymentConfigurationDetails(
                      UpdateModelConfigurationDetails(model id, the parts that change))))
    stop      deactivate_model_deployment; start: activate_model_deployment
    delete    delete_model_deployment

Each change answers with a work request (``opc-work-request-id``), which ``follow``
polls to its end (``mdreg.oci.work_requests``). The limits are checked by the caller
(``deployment_spec``) before anything here runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from mdreg.errors import InputError, UsageError
from mdreg.oci.clients import OciClients
from mdreg.oci.deployment_spec import (
    DEPLOYMENT_PREFIX,
    Deployment,
    DeploymentChange,
    DeploySpec,
    flex_config,
    is_flex,
)
from mdreg.oci.errors import translated
from mdreg.oci.work_requests import follow

PAGE = 100
#: Where each lifecycle state allows a change (the API's UpdateModelDeployment,
#: ActivateModelDeployment, DeactivateModelDeployment and DeleteModelDeployment).
UPDATABLE = ("ACTIVE", "NEEDS_ATTENTION", "INACTIVE")


class DeploymentNotFoundError(InputError):
    """No model deployment with that id (or it is deleted)."""


class Deployments:
    """The model deployments of the tenancy ``clients`` signs for."""

    def __init__(self, clients: OciClients) -> None:
        self.clients = clients
        self.settings = clients.settings

    @property
    def ds(self) -> Any:
        return self.clients.data_science

    # -- read -------------------------------------------------------------------------------
    def get(self, deployment_id: str) -> Deployment:
        return record(self._raw(deployment_id))

    def _raw(self, deployment_id: str) -> Any:
        missing = _missing(deployment_id)
        if not deployment_id.startswith(DEPLOYMENT_PREFIX):
            raise DeploymentNotFoundError(
                f"{deployment_id!r} is not a model deployment id ({DEPLOYMENT_PREFIX}...)"
            )
        with translated(f"reading model deployment {deployment_id}", not_found=missing):
            md = self.ds.get_model_deployment(deployment_id).data
        if md.lifecycle_state == "DELETED":
            raise missing(None)
        return md

    def list(
        self,
        *,
        compartment_id: str | None = None,
        project_id: str | None = None,
        lifecycle_state: str | None = None,
        limit: int | None = None,
    ) -> list[Deployment]:
        """Newest first; DELETED ones only when asked for by state."""
        compartment = compartment_id or self.settings.require_compartment()
        query: dict[str, Any] = {"sort_by": "timeCreated", "sort_order": "DESC"}
        if project_id:
            query["project_id"] = project_id
        if lifecycle_state:
            query["lifecycle_state"] = lifecycle_state
        found = []
        for md in self._pages(compartment, **query):
            if md.lifecycle_state == "DELETED" and lifecycle_state != "DELETED":
                continue
            found.append(record(md))
            if limit is not None and len(found) >= limit:
                break
        return found

    def _pages(self, compartment: str, **query: Any) -> Iterator[Any]:
        page: str | None = None
        while True:
            with translated("listing model deployments"):
                resp = self.ds.list_model_deployments(
                    compartment, limit=PAGE, **({"page": page} if page else {}), **query
                )
            yield from resp.data
            page = resp.headers.get("opc-next-page")
            if not page:
                return

    # -- change ---------------------------------------------------------------------------
    def create(self, spec: DeploySpec) -> tuple[Deployment, str]:
        """(the new deployment, CREATING, and its work request's id)."""
        from oci.data_science import models as m

        compartment = spec.compartment_id or self.settings.require_compartment()
        project = spec.project_id or self.settings.require_project()
        config = m.SingleModelDeploymentConfigurationDetails(
            deployment_type="SINGLE_MODEL",
            model_configuration_details=m.ModelConfigurationDetails(
                model_id=spec.model_id,
                instance_configuration=_instance_configuration(
                    spec.shape, spec.ocpus, spec.memory_gb
                ),
                scaling_policy=m.FixedSizeScalingPolicy(instance_count=spec.instance_count),
                bandwidth_mbps=spec.bandwidth_mbps,
            ),
            environment_configuration_details=m.DefaultModelDeploymentEnvironmentConfigurationDetails(
                environment_variables=dict(spec.environment) or None
            ),
        )
        logs = None
        if spec.access_log.given or spec.predict_log.given:
            logs = m.CategoryLogDetails(
                access=_log(spec.access_log.log_id, spec.access_log.log_group_id),
                predict=_log(spec.predict_log.log_id, spec.predict_log.log_group_id),
            )
        details = m.CreateModelDeploymentDetails(
            display_name=spec.display_name,
            description=spec.description,
            project_id=project,
            compartment_id=compartment,
            model_deployment_configuration_details=config,
            category_log_details=logs,
            freeform_tags=spec.freeform_tags or None,
        )
        with translated(f"deploying model {spec.model_id}"):
            resp = self.ds.create_model_deployment(details)
        return record(resp.data), _work_request(resp, "create_model_deployment")

    def update(self, deployment_id: str, change: DeploymentChange) -> str:
        """The work request's id. What the state does not allow is refused here, before the
        update is sent: bandwidth changes only while INACTIVE."""
        from oci.data_science import models as m

        current = self._raw(deployment_id)
        state = current.lifecycle_state
        _check_state(deployment_id, state, "updated")
        if change.bandwidth_mbps is not None and state != "INACTIVE":
            raise UsageError(
                f"model deployment {deployment_id} is {state}: its bandwidth changes only "
                f"while INACTIVE (`mdreg deployments stop {deployment_id}` first); shape, "
                "instance count and model change while it runs"
            )
        model_config = current.model_deployment_configuration_details.model_configuration_details
        kw: dict[str, Any] = {"model_id": change.model_id or model_config.model_id}
        if change.changes_instances:
            old = model_config.instance_configuration
            shape = change.shape or old.instance_shape_name
            ocpus, memory = change.ocpus, change.memory_gb
            old_flex = old.model_deployment_instance_shape_config_details
            if is_flex(shape) and old_flex is not None and is_flex(old.instance_shape_name):
                ocpus = old_flex.ocpus if ocpus is None else ocpus
                memory = old_flex.memory_in_gbs if memory is None else memory
            ocpus, memory = flex_config(shape, ocpus, memory)
            kw["instance_configuration"] = _instance_configuration(shape, ocpus, memory)
        if change.instance_count is not None:
            kw["scaling_policy"] = m.FixedSizeScalingPolicy(instance_count=change.instance_count)
        if change.bandwidth_mbps is not None:
            kw["bandwidth_mbps"] = change.bandwidth_mbps
        details = m.UpdateModelDeploymentDetails(
            display_name=change.display_name,
            model_deployment_configuration_details=m.UpdateSingleModelDeploymentConfigurationDetails(
                deployment_type="SINGLE_MODEL",
                model_configuration_details=m.UpdateModelConfigurationDetails(**kw),
            ),
        )
        with translated(
            f"updating model deployment {deployment_id}", not_found=_missing(deployment_id)
        ):
            resp = self.ds.update_model_deployment(deployment_id, details)
        return _work_request(resp, "update_model_deployment")

    def deactivate(self, deployment_id: str) -> str | None:
        """The work request's id; None when it is INACTIVE already."""
        state = self._raw(deployment_id).lifecycle_state
        if state == "INACTIVE":
            return None
        _check_state(deployment_id, state, "stopped", ("ACTIVE", "NEEDS_ATTENTION"))
        with translated(
            f"stopping model deployment {deployment_id}", not_found=_missing(deployment_id)
        ):
            resp = self.ds.deactivate_model_deployment(deployment_id)
        return _work_request(resp, "deactivate_model_deployment")

    def activate(self, deployment_id: str) -> str | None:
        """The work request's id; None when it is ACTIVE already."""
        state = self._raw(deployment_id).lifecycle_state
        if state == "ACTIVE":
            return None
        _check_state(deployment_id, state, "started", ("INACTIVE",))
        with translated(
            f"starting model deployment {deployment_id}", not_found=_missing(deployment_id)
        ):
            resp = self.ds.activate_model_deployment(deployment_id)
        return _work_request(resp, "activate_model_deployment")

    def delete(self, deployment_id: str) -> str:
        state = self._raw(deployment_id).lifecycle_state
        _check_state(deployment_id, state, "deleted", (*UPDATABLE, "FAILED"))
        with translated(
            f"deleting model deployment {deployment_id}", not_found=_missing(deployment_id)
        ):
            resp = self.ds.delete_model_deployment(deployment_id)
        return _work_request(resp, "delete_model_deployment")

    def predict_url(self, deployment_id: str) -> str:
        """``<model_deployment_url>/predict``, for a deployment that answers predict."""
        md = self.get(deployment_id)
        if md.lifecycle_state not in ("ACTIVE", "UPDATING", "NEEDS_ATTENTION"):
            hint = (
                f" (`mdreg deployments start {deployment_id}`)"
                if md.lifecycle_state == "INACTIVE"
                else ""
            )
            raise UsageError(
                f"model deployment {deployment_id} is {md.lifecycle_state}: it answers "
                f"predict only while ACTIVE{hint}"
            )
        if not md.url:
            raise UsageError(f"model deployment {deployment_id} has no URL yet")
        return md.predict_url

    def follow(
        self, work_request_id: str, what: str, on_poll: Callable[[Any], None] | None = None
    ) -> None:
        follow(self.ds, work_request_id, what, self.settings, on_poll=on_poll)


def _missing(deployment_id: str) -> Callable[[Any], DeploymentNotFoundError]:
    return lambda exc: DeploymentNotFoundError(f"no model deployment {deployment_id}")


def _check_state(
    deployment_id: str, state: str, verb: str, allowed: tuple[str, ...] = UPDATABLE
) -> None:
    if state not in allowed:
        raise UsageError(
            f"model deployment {deployment_id} is {state}: it can be {verb} only when "
            f"{' or '.join(allowed)}"
        )


def _instance_configuration(shape: str, ocpus: float | None, memory_gb: float | None) -> Any:
    from oci.data_science import models as m

    flex = None
    if ocpus is not None:
        flex = m.ModelDeploymentInstanceShapeConfigDetails(ocpus=ocpus, memory_in_gbs=memory_gb)
    return m.InstanceConfiguration(
        instance_shape_name=shape, model_deployment_instance_shape_config_details=flex
    )


def _log(log_id: str | None, group_id: str | None) -> Any:
    from oci.data_science.models import LogDetails

    return LogDetails(log_id=log_id, log_group_id=group_id) if log_id else None


def _work_request(resp: Any, operation: str) -> str:
    wr = resp.headers.get("opc-work-request-id")
    if not wr:
        from mdreg.errors import RemoteError

        raise RemoteError(f"{operation}: the service answered without an opc-work-request-id")
    return str(wr)


def _iso(value: Any) -> str:
    if value is None or isinstance(value, str):
        return value or ""
    from datetime import UTC

    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return str(value.astimezone(UTC).isoformat(timespec="milliseconds"))


def record(md: Any) -> Deployment:
    """A ``ModelDeployment`` or ``ModelDeploymentSummary`` as mdreg's record."""
    config = md.model_deployment_configuration_details
    model = getattr(config, "model_configuration_details", None)
    instance = getattr(model, "instance_configuration", None)
    flex = getattr(instance, "model_deployment_instance_shape_config_details", None)
    scaling = getattr(model, "scaling_policy", None)
    env = getattr(config, "environment_configuration_details", None)
    logs = md.category_log_details
    return Deployment(
        id=md.id,
        display_name=md.display_name or "",
        lifecycle_state=md.lifecycle_state,
        lifecycle_details=getattr(md, "lifecycle_details", None),
        url=md.model_deployment_url or "",
        model_id=getattr(model, "model_id", None),
        shape=getattr(instance, "instance_shape_name", None),
        ocpus=getattr(flex, "ocpus", None),
        memory_gb=getattr(flex, "memory_in_gbs", None),
        instance_count=getattr(scaling, "instance_count", None),
        bandwidth_mbps=getattr(model, "bandwidth_mbps", None),
        environment=dict(getattr(env, "environment_variables", None) or {}),
        access_log_id=getattr(getattr(logs, "access", None), "log_id", None),
        predict_log_id=getattr(getattr(logs, "predict", None), "log_id", None),
        time_created=_iso(md.time_created),
        created_by=md.created_by or "",
        compartment_id=md.compartment_id,
        project_id=md.project_id,
        description=md.description,
        freeform_tags=dict(md.freeform_tags or {}),
    )
