"""``deploy_model``: a catalog model behind an OCI model deployment; and the deployment's
life after that (update, stop, start, delete, list, show).

In order, and nothing is created before step 3:

1. the request is checked against the service's documented limits
   (``mdreg.oci.deployment_spec``: name, instances, bandwidth, flex shape, logs,
   environment variables);
2. the model's runtime.yaml is read out of its artifact (``catalog.oci.peek``: ranged
   reads, not a download): the service installs the conda pack it names, so a model
   without one (or with another than ``--conda-env`` asks for) is refused here;
3. ``create_model_deployment``; with ``wait`` its work request is followed to the end
   (``on_poll`` hears each state), and a deployment that goes FAILED is a RemoteError
   carrying the service's own messages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mdreg.errors import ArtifactError, UsageError
from mdreg.oci.deployment_spec import Deployment, DeploymentChange, DeploySpec

OnPoll = Callable[[Any], None]
_ENV_KEYS = ("MODEL_DEPLOYMENT", "INFERENCE_CONDA_ENV")


@dataclass
class DeployResult:
    deployment: Deployment
    work_request_id: str | None
    conda_env: str  # the pack runtime.yaml names
    waited: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.deployment.to_dict(),
            "work_request_id": self.work_request_id,
            "conda_env": self.conda_env,
        }


@contextmanager
def deployments() -> Iterator[Any]:
    """``mdreg.oci.deployments.Deployments`` for the OCI settings in force."""
    from mdreg.oci.clients import OciClients
    from mdreg.oci.deployments import Deployments
    from mdreg.oci.settings import resolve

    clients = OciClients(resolve())
    try:
        yield Deployments(clients)
    finally:
        clients.close()


def deploy_model(
    model_id: str, spec: DeploySpec, *, wait: bool = True, on_poll: OnPoll | None = None
) -> DeployResult:
    """Deploy ``model_id`` as ``spec`` says; see the module docstring."""
    from mdreg.catalog.oci.peek import read_member

    spec.model_id = model_id
    spec.check()
    with deployments() as dep:
        model = _model(dep.ds, model_id)
        spec.display_name = spec.display_name or model.display_name
        runtime = read_member(dep.ds, model_id, "runtime.yaml")
        if runtime is None:
            raise ArtifactError(
                f"the artifact of {model_id} has no runtime.yaml: the service needs it to "
                "know the conda pack to serve with"
            )
        conda = inference_env(runtime.decode("utf-8", errors="replace"), model_id)
        check_conda(conda, spec.conda_env, model_id)
        created, wr = dep.create(spec)
        if not wait:
            return DeployResult(created, wr, conda, False)
        dep.follow(wr, f"deploying model {model_id} as {created.id}", on_poll)
        return DeployResult(dep.get(created.id), wr, conda, True)


def _model(ds: Any, model_id: str) -> Any:
    """The catalog's model (ModelNotFoundError when there is none, or it is deleted)."""
    from mdreg.catalog.base import ModelNotFoundError
    from mdreg.oci.errors import translated

    def missing(_: Any = None) -> ModelNotFoundError:
        return ModelNotFoundError(f"no model {model_id} in the OCI catalog")

    with translated(f"reading model {model_id}", not_found=missing):
        model = ds.get_model(model_id).data
    if model.lifecycle_state != "ACTIVE":
        raise (
            missing()
            if model.lifecycle_state == "DELETED"
            else UsageError(
                f"model {model_id} is {model.lifecycle_state}: only an ACTIVE model deploys"
            )
        )
    return model


def inference_env(runtime_text: str, where: str | Path) -> str:
    """``INFERENCE_ENV_PATH`` of a runtime.yaml's text; ArtifactError when it has none."""
    from mdreg.artifact.runtime import lookup, parse_runtime

    doc = parse_runtime(runtime_text, where)
    try:
        path = lookup(doc, (*_ENV_KEYS, "INFERENCE_ENV_PATH"))
    except KeyError:
        path = None
    if not path or not isinstance(path, str):
        raise ArtifactError(
            f"{where}: runtime.yaml names no inference conda pack "
            "(MODEL_DEPLOYMENT.INFERENCE_CONDA_ENV.INFERENCE_ENV_PATH): the deployment "
            "would fail; prepare the artifact with --inference-conda-env"
        )
    return path


def check_conda(actual: str, expected: str | None, where: str | Path) -> None:
    """UsageError when ``expected`` (a slug or an oci:// path) is not the pack runtime.yaml
    names: the service installs runtime.yaml's pack, and its API has no field to change it."""
    if not expected:
        return
    from mdreg.artifact.conda import resolve

    want = resolve(expected).path
    if want.rstrip("/") != actual.rstrip("/"):
        raise UsageError(
            f"--conda-env {expected}: {where} deploys with {actual}, the pack its runtime.yaml "
            "names (the service installs that one; its API has no field for another): "
            "prepare the artifact again with --inference-conda-env and save it"
        )


def folder_conda(artifact: Path, expected: str | None) -> str:
    """For ``save --deploy``: the pack an artifact folder's (or zip's) runtime.yaml names,
    checked before anything is saved."""
    if artifact.is_dir():
        path = artifact / "runtime.yaml"
        text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    else:
        import zipfile

        from mdreg.artifact.unzipping import artifact_root_in_zip

        try:
            with zipfile.ZipFile(artifact) as zf:
                name = artifact_root_in_zip(zf.namelist()) + "runtime.yaml"
                text = zf.read(name).decode("utf-8", errors="replace")
        except (KeyError, zipfile.BadZipFile, OSError):
            text = ""
    actual = inference_env(text, artifact)
    check_conda(actual, expected, artifact)
    return actual


# -- after the deployment exists -------------------------------------------------------------


def get_deployment(deployment_id: str) -> Deployment:
    with deployments() as dep:
        result: Deployment = dep.get(deployment_id)
        return result


def list_deployments(
    *,
    compartment_id: str | None = None,
    project_id: str | None = None,
    lifecycle_state: str | None = None,
    limit: int | None = None,
) -> list[Deployment]:
    with deployments() as dep:
        found: list[Deployment] = dep.list(
            compartment_id=compartment_id,
            project_id=project_id,
            lifecycle_state=lifecycle_state,
            limit=limit,
        )
        return found


def update_deployment(
    deployment_id: str,
    change: DeploymentChange,
    *,
    wait: bool = True,
    on_poll: OnPoll | None = None,
) -> Deployment:
    """Change the instance count, shape or model (while it runs), or the bandwidth (while
    INACTIVE); a new model's runtime.yaml is checked as at deploy."""
    from mdreg.catalog.oci.peek import read_member

    change.check()
    with deployments() as dep:
        if change.model_id is not None:
            runtime = read_member(dep.ds, change.model_id, "runtime.yaml")
            if runtime is None:
                raise ArtifactError(f"the artifact of {change.model_id} has no runtime.yaml")
            inference_env(runtime.decode("utf-8", errors="replace"), change.model_id)
        wr = dep.update(deployment_id, change)
        return _after(dep, deployment_id, wr, "updating", wait, on_poll)


def stop_deployment(
    deployment_id: str, *, wait: bool = True, on_poll: OnPoll | None = None
) -> Deployment:
    with deployments() as dep:
        return _after(dep, deployment_id, dep.deactivate(deployment_id), "stopping", wait, on_poll)


def start_deployment(
    deployment_id: str, *, wait: bool = True, on_poll: OnPoll | None = None
) -> Deployment:
    with deployments() as dep:
        return _after(dep, deployment_id, dep.activate(deployment_id), "starting", wait, on_poll)


def delete_deployment(
    deployment_id: str, *, wait: bool = True, on_poll: OnPoll | None = None
) -> Deployment:
    """The deployment as it was before the delete (its name, for the message)."""
    with deployments() as dep:
        before: Deployment = dep.get(deployment_id)
        wr = dep.delete(deployment_id)
        if wait:
            dep.follow(wr, f"deleting model deployment {deployment_id}", on_poll)
        return before


def _after(
    dep: Any, deployment_id: str, wr: str | None, verb: str, wait: bool, on_poll: OnPoll | None
) -> Deployment:
    if wr is not None and wait:
        dep.follow(wr, f"{verb} model deployment {deployment_id}", on_poll)
    result: Deployment = dep.get(deployment_id)
    return result
